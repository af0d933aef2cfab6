// DeviceInstructor: owns the DeviceManager; picks and applies the device policy at start-up and
// reports the machine in status responses.
#pragma once

#include <memory>

#include "devices/device_manager.h"

namespace workers {

class DeviceInstructor {
 public:
  DeviceInstructor(std::shared_ptr<DeviceManager> manager, DeviceConfig config);

  // Chooses and applies device, dtype and threads; throws Error(CONFIG_ERROR).
  void initialize();
  const DeviceSelection& selection() const { return selection_; }
  nlohmann::json status();

 private:
  std::shared_ptr<DeviceManager> manager_;
  DeviceConfig config_;
  DeviceSelection selection_;
};

}  // namespace workers
