// The device policy as a pure function of config and inventory, so every rule is unit-testable
// without hardware: which device, which dtype, how many threads, and why.
#pragma once

#include "devices/device_manager.h"

namespace workers {

// Throws Error(CONFIG_ERROR, field "workers.instructors.device.<key>") for unusable choices.
DeviceSelection choose_device(const DeviceConfig& config, const DeviceInventory& inventory);

}  // namespace workers
