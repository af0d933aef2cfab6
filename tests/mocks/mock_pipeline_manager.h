// MockPipelineManager: by default reports `steps` progress events, honouring cancellation between
// them, and answers {"images": 1}. MockPipeline: one family's pipeline, nothing by default.
#pragma once

#include <gmock/gmock.h>

#include "inference/managers/pipeline_manager.h"

namespace workers {

class MockPipelineManager : public PipelineManager {
 public:
  MockPipelineManager() {
    ON_CALL(*this, generate(::testing::_, ::testing::_))
        .WillByDefault([](const JobPlan& plan, const JobContext& context) {
          for (int step = 1; step <= plan.request.steps; ++step) {
            context.check_cancelled();
            context.report({step, plan.request.steps, "denoising", nlohmann::json::object()});
          }
          GenerationResult result;
          result.data = {{"images", 1}};
          return result;
        });
  }
  MOCK_METHOD(GenerationResult, generate, (const JobPlan&, const JobContext&), (override));
};

class MockPipeline : public Pipeline {
 public:
  MOCK_METHOD(GenerationResult, run, (const JobPlan&, const JobContext&), (override));
};

}  // namespace workers
