#include "devices/device_manager.h"


namespace workers {

nlohmann::json to_json(const DeviceInventory& inv) {
  nlohmann::json cuda = nlohmann::json::array();
  for (const auto& d : inv.cuda) {
    cuda.push_back({{"index", d.index},
                    {"name", d.name},
                    {"total_memory", d.total_memory},
                    {"free_memory", d.free_memory},
                    {"capability", std::to_string(d.capability_major) + "." + std::to_string(d.capability_minor)}});
  }
  nlohmann::json backends = nlohmann::json::array();
  for (const auto& b : inv.backends) {
    backends.push_back({{"name", b.name}, {"available", b.available}, {"detail", b.detail}});
  }
  return {{"torch_version", inv.torch_version},
          {"torch_built_with_cuda", inv.torch_built_with_cuda},
          {"cpu",
           {{"model", inv.cpu.model},
            {"logical_cores", inv.cpu.logical_cores},
            {"physical_cores", inv.cpu.physical_cores},
            {"total_memory", inv.cpu.total_memory},
            {"available_memory", inv.cpu.available_memory},
            {"simd", inv.cpu.simd}}},
          {"cuda", cuda},
          {"backends", backends}};
}

nlohmann::json to_json(const DeviceSelection& s) {
  return {{"device", s.device},
          {"dtype", s.dtype},
          {"threads", s.threads},
          {"memory_budget", s.memory_budget},
          {"memory_total", s.memory_total},
          {"notes", s.notes}};
}

}  // namespace workers
