// DeviceManager: the role that knows the machine (CPU, CUDA devices, other backends) and picks
// the device, dtype and thread count jobs run with. Torch-free header; TorchDeviceManager implements it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "utilities/config.h"
#include "utilities/memory_probe.h"

namespace workers {

struct CpuInfo {
  std::string model;
  int logical_cores = 0;
  int physical_cores = 0;
  std::uint64_t total_memory = 0;      // bytes
  std::uint64_t available_memory = 0;  // bytes
  std::vector<std::string> simd;       // e.g. sse4_2, avx2, fma, avx512f, avx512_bf16
};

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  std::uint64_t total_memory = 0;
  std::uint64_t free_memory = 0;
  int capability_major = 0;
  int capability_minor = 0;
};

struct BackendStatus {
  std::string name;  // cpu, cuda, directml, mps
  bool available = false;
  std::string detail;
};

struct DeviceInventory {
  std::string torch_version;
  bool torch_built_with_cuda = false;
  CpuInfo cpu;
  std::vector<CudaDeviceInfo> cuda;
  std::vector<BackendStatus> backends;
};

struct DeviceSelection {
  std::string device = "cpu";  // cpu or cuda:N
  std::string dtype = "float32";
  int threads = 1;
  // The memory budget on the chosen device (bytes): workers.instructors.device.max_memory, else
  // the device's total minus a margin; `memory_total` is that total.
  std::uint64_t memory_budget = 0;
  std::uint64_t memory_total = 0;
  std::vector<std::string> notes;  // why, and anything the user should know
};



class DeviceManager {
 public:
  virtual ~DeviceManager() = default;
  // Probes now (free memory changes between calls).
  virtual DeviceInventory inventory() = 0;
  // Applies the policy to the config; throws Error(CONFIG_ERROR) for an unusable request.
  virtual DeviceSelection select(const DeviceConfig& config) = 0;
  // Makes the selection effective for the process (libtorch intra-op threads; on CUDA, caps the
  // caching allocator at the memory budget).
  virtual void apply(const DeviceSelection& selection) = 0;
  // Measures memory on the selected device.
  virtual std::shared_ptr<MemoryProbe> memory_probe(const DeviceSelection& selection) = 0;
};

nlohmann::json to_json(const DeviceInventory& inventory);
nlohmann::json to_json(const DeviceSelection& selection);

}  // namespace workers
