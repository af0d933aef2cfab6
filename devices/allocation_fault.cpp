#include "devices/allocation_fault.h"

#include <atomic>
#include <mutex>

#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

namespace workers {
namespace {

// libtorch 2.3 made allocate() non-const and added copy_data().
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define SDXL_ALLOCATE_CONST
#else
#define SDXL_ALLOCATE_CONST const
#endif

class FaultingAllocator : public c10::Allocator {
 public:
  explicit FaultingAllocator(c10::Allocator* inner) : inner_(inner) {}

  c10::DataPtr allocate(size_t bytes) SDXL_ALLOCATE_CONST override {
    if (armed_.load() && bytes >= min_bytes_.load() && should_fail()) {
      // The text libtorch's DefaultCPUAllocator throws, so every layer sees a real OOM.
      TORCH_CHECK(false, "DefaultCPUAllocator: not enough memory: you tried to allocate ", bytes,
                  " bytes. (injected by the allocation-fault hook)");
    }
    return inner_->allocate(bytes);
  }
  c10::DeleterFnPtr raw_deleter() const override { return inner_->raw_deleter(); }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  void copy_data(void* dest, const void* src, std::size_t count) const override {
    inner_->copy_data(dest, src, count);
  }
#endif

  void arm(const AllocationFault& fault) {
    std::lock_guard<std::mutex> lock(mutex_);
    min_bytes_ = fault.min_bytes;
    nth_ = fault.nth < 1 ? 1 : fault.nth;
    remaining_ = fault.times;
    seen_ = 0;
    injected_ = 0;
    armed_ = fault.times > 0;
  }
  void disarm() { armed_ = false; }
  int injected() const { return injected_.load(); }

 private:
  bool should_fail() SDXL_ALLOCATE_CONST {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!armed_ || ++seen_ < nth_) return false;
    seen_ = 0;
    ++injected_;
    if (--remaining_ <= 0) armed_ = false;
    return true;
  }

  c10::Allocator* inner_;
  mutable std::mutex mutex_;
  mutable std::atomic<bool> armed_{false};
  mutable std::atomic<std::uint64_t> min_bytes_{1};
  mutable int nth_ = 1;
  mutable int remaining_ = 0;
  mutable int seen_ = 0;
  mutable std::atomic<int> injected_{0};
};

FaultingAllocator& installed() {
  static FaultingAllocator* allocator = [] {
    auto* a = new FaultingAllocator(c10::GetCPUAllocator());  // lives as long as the process
    c10::SetCPUAllocator(a, /*priority=*/255);
    return a;
  }();
  return *allocator;
}

}  // namespace

void arm_allocation_fault(const AllocationFault& fault) { installed().arm(fault); }
void disarm_allocation_fault() { installed().disarm(); }
int injected_allocation_faults() { return installed().injected(); }

}  // namespace workers
