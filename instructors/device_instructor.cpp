#include "instructors/device_instructor.h"

namespace workers {

DeviceInstructor::DeviceInstructor(std::shared_ptr<DeviceManager> manager, DeviceConfig config)
    : manager_(std::move(manager)), config_(std::move(config)) {}

void DeviceInstructor::initialize() {
  selection_ = manager_->select(config_);
  manager_->apply(selection_);
}

nlohmann::json DeviceInstructor::status() {
  auto j = to_json(manager_->inventory());
  j["selected"] = to_json(selection_);
  return j;
}

}  // namespace workers
