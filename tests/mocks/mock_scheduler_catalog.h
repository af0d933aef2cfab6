// MockSchedulerCatalog: knows only "Euler".
#pragma once

#include <gmock/gmock.h>

#include "schedulers/managers/scheduler_catalog.h"
#include "utilities/error.h"

namespace workers {

class MockSchedulerCatalog : public SchedulerCatalog {
 public:
  MockSchedulerCatalog() {
    ON_CALL(*this, resolve(::testing::_)).WillByDefault([](const std::string& name) {
      if (name != "Euler") throw_invalid("scheduler", "unknown scheduler \"" + name + "\"; valid names: Euler");
      return SchedulerChoice{"EulerDiscreteScheduler", nlohmann::json::object()};
    });
    ON_CALL(*this, names()).WillByDefault(::testing::Return(std::vector<std::string>{"Euler"}));
  }
  MOCK_METHOD(SchedulerChoice, resolve, (const std::string&), (const, override));
  MOCK_METHOD(std::vector<std::string>, names, (), (const, override));
};

}  // namespace workers
