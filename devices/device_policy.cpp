#include "devices/device_policy.h"

#include <algorithm>
#include <cstdlib>

#include "utilities/error.h"

namespace workers {
namespace {

const std::string kField = "workers.instructors.device.";

[[noreturn]] void config_error(const std::string& key, const std::string& message) {
  throw Error(ErrorCode::kConfigError, kField + key + ": " + message, kField + key);
}

const BackendStatus* backend(const DeviceInventory& inv, const std::string& name) {
  for (const auto& b : inv.backends) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

std::string cuda_unavailable_reason(const DeviceInventory& inv) {
  if (const auto* b = backend(inv, "cuda"); b && !b->detail.empty()) return b->detail;
  return inv.torch_built_with_cuda ? "no CUDA device is visible" : "this libtorch build has no CUDA support";
}

// Index of the CUDA device to use, or -1 for the CPU.
int pick_cuda(const std::string& device, const DeviceInventory& inv) {
  if (device == "cpu") return -1;
  if (device == "auto") {
    if (inv.cuda.empty()) return -1;
    auto best = std::max_element(inv.cuda.begin(), inv.cuda.end(), [](const auto& a, const auto& b) {
      return a.free_memory < b.free_memory;
    });
    return best->index;
  }
  if (device == "directml" || device == "dml") {
    const auto* b = backend(inv, "directml");
    config_error("device", "DirectML is not available on this platform" + (b ? ": " + b->detail : std::string()));
  }
  if (device == "mps") {
    const auto* b = backend(inv, "mps");
    config_error("device", "MPS is not available on this platform" + (b ? ": " + b->detail : std::string()));
  }
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    if (inv.cuda.empty()) config_error("device", "\"" + device + "\" requested but " + cuda_unavailable_reason(inv));
    if (device == "cuda") return inv.cuda.front().index;
    const std::string number = device.substr(5);
    char* end = nullptr;
    long index = std::strtol(number.c_str(), &end, 10);
    if (number.empty() || *end != '\0' || index < 0) config_error("device", "bad CUDA index in \"" + device + "\"");
    for (const auto& d : inv.cuda) {
      if (d.index == index) return d.index;
    }
    config_error("device", "\"" + device + "\" requested but only " + std::to_string(inv.cuda.size()) +
                               " CUDA device(s) are visible");
  }
  config_error("device", "unknown device \"" + device + "\"; expected auto, cpu, cuda, cuda:N");
}

bool has_simd(const CpuInfo& cpu, const std::string& flag) {
  return std::find(cpu.simd.begin(), cpu.simd.end(), flag) != cpu.simd.end();
}

}  // namespace

DeviceSelection choose_device(const DeviceConfig& config, const DeviceInventory& inv) {
  DeviceSelection s;
  const int cuda_index = pick_cuda(config.device, inv);
  const bool on_cuda = cuda_index >= 0;
  s.device = on_cuda ? "cuda:" + std::to_string(cuda_index) : "cpu";
  if (config.device == "auto") {
    s.notes.push_back(on_cuda ? "auto: using the CUDA device with the most free memory"
                              : "auto: no CUDA device (" + cuda_unavailable_reason(inv) + "), using the CPU");
  }

  if (config.dtype == "auto") {
    // SDXL's usual precision: fp16 on GPUs (VAE upcast per force_upcast), fp32 on CPUs.
    s.dtype = on_cuda ? "float16" : "float32";
  } else if (config.dtype == "float16" && !on_cuda) {
    config_error("dtype", "float16 is not supported on the CPU by libtorch; use float32 or bfloat16");
  } else {
    s.dtype = config.dtype;
  }
  if (s.dtype == "bfloat16" && !on_cuda && !has_simd(inv.cpu, "avx512_bf16")) {
    s.notes.push_back("bfloat16 on a CPU without avx512_bf16 is emulated and slow");
  }
  if (s.dtype == "bfloat16" && on_cuda) {
    for (const auto& d : inv.cuda) {
      if (d.index == cuda_index && d.capability_major < 8) {
        s.notes.push_back("bfloat16 needs compute capability 8.0+ for full speed; this GPU is " +
                          std::to_string(d.capability_major) + "." + std::to_string(d.capability_minor));
      }
    }
  }

  // The memory budget: configured, else the device's total minus a margin for the OS, the
  // display and other processes (10 %, at least 1 GiB, on a CPU; 5 %, at least 512 MiB, on a GPU).
  s.memory_total = inv.cpu.total_memory;
  for (const auto& d : inv.cuda) {
    if (on_cuda && d.index == cuda_index) s.memory_total = d.total_memory;
  }
  constexpr std::uint64_t kMiB = 1ull << 20;
  if (config.max_memory > 0) {
    if (config.max_memory < 256 * kMiB) {
      config_error("max_memory", "a budget under 256 MiB cannot hold even the text encoders; got " +
                                     std::to_string(config.max_memory) + " bytes");
    }
    s.memory_budget = config.max_memory;
    if (s.memory_total > 0 && config.max_memory > s.memory_total) {
      s.notes.push_back("max_memory (" + std::to_string(config.max_memory >> 20) + " MiB) exceeds the device's " +
                        std::to_string(s.memory_total >> 20) + " MiB; jobs are planned for the budget, so the " +
                        "system may run out first");
    }
  } else {
    const std::uint64_t margin = on_cuda ? std::max<std::uint64_t>(512 * kMiB, s.memory_total / 20)
                                         : std::max<std::uint64_t>(1024 * kMiB, s.memory_total / 10);
    s.memory_budget = s.memory_total > 2 * margin ? s.memory_total - margin : s.memory_total / 2;
  }

  const int physical = std::max(1, inv.cpu.physical_cores > 0 ? inv.cpu.physical_cores : inv.cpu.logical_cores);
  s.threads = config.threads > 0 ? config.threads : physical;
  if (inv.cpu.logical_cores > 0 && s.threads > inv.cpu.logical_cores) {
    s.notes.push_back("threads (" + std::to_string(s.threads) + ") exceed the " +
                      std::to_string(inv.cpu.logical_cores) + " logical cores");
  }
  return s;
}

}  // namespace workers
