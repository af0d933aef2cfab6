// SdxlConditioningManager: the ConditioningManager of SDXL pipelines, over the conditioning workers
// (clip skip, ControlNet preprocessors, prompt encoder, input images read inside the image roots).
#pragma once

#include <string>
#include <vector>

#include "conditioning/managers/conditioning_manager.h"
#include "utilities/config.h"

namespace workers {

class SdxlConditioningManager : public ConditioningManager {
 public:
  // config.image_roots: where init images, masks and control images may be read from.
  explicit SdxlConditioningManager(const ConditioningConfig& config);

  ConditioningDecision decide(const GenerationRequest& request) const override;
  EncodedPrompts encode(const SdxlTextEncoders& encoders, const PromptTexts& texts,
                        const PromptOptions& options) const override;
  at::Tensor init_image(const std::string& reference, const std::string& field, int width,
                        int height) const override;
  at::Tensor mask_image(const std::string& reference, const std::string& field, int width,
                        int height) const override;
  at::Tensor control_image(const std::string& reference, const std::string& image_field,
                           const std::string& preprocess, const ControlNetSpec& spec,
                           const std::string& spec_field, int width, int height) const override;
  SourceImage source_image(const std::string& reference, const std::string& field) const override;
  nlohmann::json status() const override;

 private:
  std::vector<std::string> image_roots_;  // canonical, as resolve_input_file expects them
};

}  // namespace workers
