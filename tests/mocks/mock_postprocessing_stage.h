// MockPostprocessingStage: a stage with no defaults; a test states the calls it expects.
// name() answers "" unless the test sets it.
#pragma once

#include <gmock/gmock.h>

#include "postprocessing/managers/postprocessing_stage.h"

namespace workers {

class MockPostprocessingStage : public PostprocessingStage {
 public:
  MOCK_METHOD(std::string, name, (), (const, override));
  MOCK_METHOD(void, run, (const GenerationRequest&, GenerationResult&), (override));
  MOCK_METHOD(bool, applies, (const GenerationRequest&), (const, override));
  MOCK_METHOD(void, check, (const GenerationRequest&), (const, override));
};

}  // namespace workers
