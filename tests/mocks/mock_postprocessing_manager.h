// MockPostprocessingManager: by default configured with ["encode", "thumbnail"] (and plans them
// for every job) and reports the
// status a default config gives (output_root "outputs", the three formats); run does nothing.
#pragma once

#include <gmock/gmock.h>

#include "postprocessing/managers/postprocessing_manager.h"

namespace workers {

class MockPostprocessingManager : public PostprocessingManager {
 public:
  MockPostprocessingManager() {
    ON_CALL(*this, writes_outputs()).WillByDefault(::testing::Return(true));
    ON_CALL(*this, stages())
        .WillByDefault(::testing::Return(std::vector<std::string>{"encode", "thumbnail"}));
    ON_CALL(*this, plan(::testing::_))
        .WillByDefault(::testing::Return(std::vector<std::string>{"encode", "thumbnail"}));
    ON_CALL(*this, status())
        .WillByDefault(::testing::Return(
            nlohmann::json{{"output_root", "outputs"}, {"formats", {"png", "jpeg", "webp"}}}));
  }
  MOCK_METHOD(std::vector<std::string>, stages, (), (const, override));
  MOCK_METHOD(std::vector<std::string>, plan, (const GenerationRequest&), (const, override));
  MOCK_METHOD(void, run,
              (const std::vector<std::string>&, const GenerationRequest&, GenerationResult&),
              (override));
  MOCK_METHOD(bool, writes_outputs, (), (const, override));
  MOCK_METHOD(nlohmann::json, status, (), (const, override));
};

}  // namespace workers
