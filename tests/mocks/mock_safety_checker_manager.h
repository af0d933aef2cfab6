// MockSafetyCheckerManager: no defaults; a test states the calls it expects.
#pragma once

#include <gmock/gmock.h>

#include "postprocessing/managers/safety_checker_manager.h"

namespace workers {

class MockSafetyCheckerManager : public SafetyCheckerManager {
 public:
  MOCK_METHOD(bool, configured, (), (const, override));
  MOCK_METHOD(std::vector<bool>, check, (const std::vector<Image>&), (override));
  MOCK_METHOD(nlohmann::json, status, (), (const, override));
};

}  // namespace workers
