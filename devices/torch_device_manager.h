// TorchDeviceManager: DeviceManager over libtorch (CUDA count and properties, intra-op threads)
// and the OS CPU probe. libtorch stays inside the .cpp.
#pragma once

#include "devices/device_manager.h"

namespace workers {

class TorchDeviceManager : public DeviceManager {
 public:
  DeviceInventory inventory() override;
  DeviceSelection select(const DeviceConfig& config) override;
  void apply(const DeviceSelection& selection) override;
  // The CPU: ProcessMemoryProbe. CUDA: the caching allocator's reserved bytes on the device.
  std::shared_ptr<MemoryProbe> memory_probe(const DeviceSelection& selection) override;
};

}  // namespace workers
