// MockDeviceManager: a CPU-only machine with two cores by default.
#pragma once

#include <gmock/gmock.h>

#include "devices/device_manager.h"

namespace workers {

class MockDeviceManager : public DeviceManager {
 public:
  MockDeviceManager() {
    DeviceInventory inv;
    inv.torch_version = "test";
    inv.cpu.model = "Test CPU";
    inv.cpu.logical_cores = 2;
    inv.cpu.physical_cores = 2;
    inv.backends = {{"cpu", true, "test"}, {"cuda", false, "no CUDA in tests"}};
    ON_CALL(*this, inventory()).WillByDefault(::testing::Return(inv));
    DeviceSelection cpu;
    cpu.threads = 2;
    ON_CALL(*this, select(::testing::_)).WillByDefault(::testing::Return(cpu));
  }
  MOCK_METHOD(DeviceInventory, inventory, (), (override));
  MOCK_METHOD(DeviceSelection, select, (const DeviceConfig&), (override));
  MOCK_METHOD(void, apply, (const DeviceSelection&), (override));
  MOCK_METHOD(std::shared_ptr<MemoryProbe>, memory_probe, (const DeviceSelection&), (override));
};

}  // namespace workers
