#include "devices/torch_device_manager.h"

#include <torch/torch.h>
#include <torch/version.h>

#ifdef SDXL_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

#include "devices/cpu_probe.h"
#include "devices/device_policy.h"
#include "utilities/logging.h"

namespace workers {
namespace {

std::vector<CudaDeviceInfo> probe_cuda() {
  std::vector<CudaDeviceInfo> devices;
#ifdef SDXL_WITH_CUDA
  if (!torch::cuda::is_available()) return devices;
  const int count = static_cast<int>(torch::cuda::device_count());
  for (int i = 0; i < count; ++i) {
    const cudaDeviceProp* props = at::cuda::getDeviceProperties(i);
    CudaDeviceInfo info;
    info.index = i;
    info.name = props->name;
    info.total_memory = props->totalGlobalMem;
    info.capability_major = props->major;
    info.capability_minor = props->minor;
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(i));
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) info.free_memory = free_bytes;
    devices.push_back(std::move(info));
  }
#endif
  return devices;
}

#ifdef SDXL_WITH_CUDA
int cuda_index(const std::string& device) { return std::stoi(device.substr(5)); }

class CudaMemoryProbe : public MemoryProbe {
 public:
  explicit CudaMemoryProbe(int index) : index_(index) {}
  MemorySample sample() override {
    using c10::cuda::CUDACachingAllocator::StatType;
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(static_cast<c10::DeviceIndex>(index_));
    const auto& reserved = stats.reserved_bytes[static_cast<std::size_t>(StatType::AGGREGATE)];
    MemorySample sample;
    sample.used = static_cast<std::uint64_t>(reserved.current);
    sample.peak = static_cast<std::uint64_t>(reserved.peak);
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(index_));
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) sample.system_available = free_bytes;
    return sample;
  }
  void release_caches() override { c10::cuda::CUDACachingAllocator::emptyCache(); }

 private:
  int index_;
};
#endif

}  // namespace

DeviceInventory TorchDeviceManager::inventory() {
  DeviceInventory inv;
  inv.torch_version = TORCH_VERSION;
#ifdef SDXL_WITH_CUDA
  inv.torch_built_with_cuda = true;
#endif
  inv.cpu = probe_cpu();
  inv.cuda = probe_cuda();

  inv.backends.push_back({"cpu", true, "libtorch " + inv.torch_version + ", " +
                                           std::to_string(at::get_num_threads()) + " intra-op threads"});
  std::string cuda_detail;
  if (!inv.torch_built_with_cuda) {
    cuda_detail = "this libtorch build has no CUDA support (build against a CUDA libtorch to use a GPU)";
  } else if (inv.cuda.empty()) {
    cuda_detail = "libtorch has CUDA support but no CUDA device is visible";
  } else {
    cuda_detail = std::to_string(inv.cuda.size()) + " device(s)";
  }
  inv.backends.push_back({"cuda", !inv.cuda.empty(), cuda_detail});
  inv.backends.push_back({"directml", false,
                          "DirectML is a Windows (DirectX 12) backend; this build runs on Linux with CPU/CUDA"});
  inv.backends.push_back({"mps", false, "MPS is Apple's Metal backend for macOS; not available on this platform"});
  return inv;
}

DeviceSelection TorchDeviceManager::select(const DeviceConfig& config) {
  return choose_device(config, inventory());
}

void TorchDeviceManager::apply(const DeviceSelection& selection) {
  at::set_num_threads(selection.threads);
#ifdef SDXL_WITH_CUDA
  if (selection.device.rfind("cuda:", 0) == 0 && selection.memory_total > 0) {
    // The caching allocator refuses (CUDA OOM) beyond the budget, as if the GPU were that size.
    const double fraction = std::min(1.0, static_cast<double>(selection.memory_budget) /
                                              static_cast<double>(selection.memory_total));
    c10::cuda::CUDACachingAllocator::setMemoryFraction(fraction, cuda_index(selection.device));
  }
#endif
  get_logger()->info("device {} dtype {} with {} intra-op threads", selection.device, selection.dtype,
                     at::get_num_threads());
}

std::shared_ptr<MemoryProbe> TorchDeviceManager::memory_probe(const DeviceSelection& selection) {
#ifdef SDXL_WITH_CUDA
  if (selection.device.rfind("cuda:", 0) == 0) return std::make_shared<CudaMemoryProbe>(cuda_index(selection.device));
#else
  (void)selection;
#endif
  return std::make_shared<ProcessMemoryProbe>();
}

}  // namespace workers
