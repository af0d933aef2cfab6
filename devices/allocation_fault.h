// A test hook at the bottom of the CPU allocator: after arming, every `nth` allocation of at
// least `min_bytes` fails as a real out-of-memory does (c10's "DefaultCPUAllocator: not enough
// memory" error), `times` times, so the OOM ladder and every error path above it can be driven
// on any machine. Process-wide; disarmed by default and by disarm(). Torch-free header.
#pragma once

#include <cstddef>
#include <cstdint>

namespace workers {

struct AllocationFault {
  std::uint64_t min_bytes = 1;
  int nth = 1;    // the nth qualifying allocation fails (then counting starts again)
  int times = 1;  // failures in all, then the hook disarms itself
};

// Installs the wrapping allocator on first use (it forwards to libtorch's own).
void arm_allocation_fault(const AllocationFault& fault);
void disarm_allocation_fault();
// Failures injected since the last arm.
int injected_allocation_faults();

}  // namespace workers
