// MockConditioningManager: by default decides the defaults (penultimate CLIP state, no
// preprocessor for each of the request's ControlNets) and reports the clip-skip styles.
#pragma once

#include <ATen/core/Tensor.h>
#include <gmock/gmock.h>

#include <string>

#include "conditioning/managers/conditioning_manager.h"
#include "conditioning/prompt_encoder.h"

namespace workers {

class MockConditioningManager : public ConditioningManager {
 public:
  MockConditioningManager() {
    ON_CALL(*this, decide(::testing::_)).WillByDefault([](const GenerationRequest& request) {
      ConditioningDecision decision;
      decision.control_preprocessors.resize(request.controlnets.size());
      return decision;
    });
    ON_CALL(*this, status()).WillByDefault([] {
      return nlohmann::json{{"clip_skip_styles", {"diffusers", "a1111"}}};
    });
  }
  MOCK_METHOD(EncodedPrompts, encode,
              (const SdxlTextEncoders&, const PromptTexts&, const PromptOptions&),
              (const, override));
  MOCK_METHOD(ConditioningDecision, decide, (const GenerationRequest&), (const, override));
  MOCK_METHOD(at::Tensor, init_image, (const std::string&, const std::string&, int, int),
              (const, override));
  MOCK_METHOD(at::Tensor, mask_image, (const std::string&, const std::string&, int, int),
              (const, override));
  MOCK_METHOD(at::Tensor, control_image,
              (const std::string&, const std::string&, const std::string&, const ControlNetSpec&,
               const std::string&, int, int),
              (const, override));
  MOCK_METHOD(SourceImage, source_image, (const std::string&, const std::string&), (const, override));
  MOCK_METHOD(nlohmann::json, status, (), (const, override));
};

}  // namespace workers
