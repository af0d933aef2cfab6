#include "conditioning/managers/sdxl_conditioning_manager.h"

#include <ATen/core/Tensor.h>

#include "conditioning/clip_skip.h"
#include "conditioning/control_preprocessors.h"
#include "conditioning/prompt_encoder.h"
#include "conditioning/workers/image_tensors.h"
#include "conditioning/workers/input_images.h"
#include "postprocessing/image_codec.h"
#include "utilities/error.h"
#include "utilities/path_roots.h"

namespace workers {
namespace {

constexpr const char* kImageRootsSetting = "workers.instructors.conditioning.image_roots";

// Which preprocessor a ControlNet gets: the one asked for; with no image of its own (the control
// map comes from init_image), the type when it names an OpenCV preprocessor.
std::string control_preprocessor(const ControlNetSpec& spec, const std::string& field) {
  if (!spec.preprocess.empty() || !spec.image.empty()) return spec.preprocess;
  if (is_computed_preprocessor(spec.type)) return spec.type;
  throw_invalid(field + ".image",
                "is required: a \"" + spec.type +
                    "\" control map cannot be computed here (it needs a neural network); "
                    "pass the map you computed as image");
}

// An image from the roots (errors name `field`), resized to the output size.
Image read_input(const std::vector<std::string>& roots, const std::string& reference,
                 const std::string& field, int channels, int width, int height) {
  const auto path = resolve_input_file(roots, reference, field, kImageRootsSetting);
  return resize_image(read_image_file(path, channels, field), width, height);
}

}  // namespace

SdxlConditioningManager::SdxlConditioningManager(const ConditioningConfig& config)
    : image_roots_(canonical_roots(config.image_roots)) {}

ConditioningDecision SdxlConditioningManager::decide(const GenerationRequest& request) const {
  ConditioningDecision decision;
  decision.clip_hidden_index = clip_hidden_state_index(request.clip_skip, request.clip_skip_style);
  for (std::size_t i = 0; i < request.controlnets.size(); ++i) {
    const auto& spec = request.controlnets[i];
    const std::string field = "controlnets[" + std::to_string(i) + "]";
    decision.control_preprocessors.push_back(control_preprocessor(spec, field));
    if (spec.image.empty() && request.init_image.empty()) {
      throw_invalid(field + ".image", "is required (or give init_image to compute the map from)");
    }
  }
  return decision;
}

EncodedPrompts SdxlConditioningManager::encode(const SdxlTextEncoders& encoders,
                                               const PromptTexts& texts,
                                               const PromptOptions& options) const {
  return encode_prompts(encoders, texts, options);
}

at::Tensor SdxlConditioningManager::init_image(const std::string& reference,
                                               const std::string& field, int width,
                                               int height) const {
  return image_tensor(read_input(image_roots_, reference, field, 3, width, height));
}

at::Tensor SdxlConditioningManager::mask_image(const std::string& reference,
                                               const std::string& field, int width,
                                               int height) const {
  return mask_tensor(read_input(image_roots_, reference, field, 1, width, height));
}

// Resized first (the order the pipeline has always used): the preprocessor works at the output's
// scale, so its thresholds and line widths mean the same whatever the input's size.
at::Tensor SdxlConditioningManager::control_image(
    const std::string& reference, const std::string& image_field, const std::string& preprocess,
    const ControlNetSpec& spec, const std::string& spec_field, int width, int height) const {
  auto map = read_input(image_roots_, reference, image_field, 3, width, height);
  if (!preprocess.empty()) {
    map = preprocess_control_image(map, preprocess, {spec.threshold_a, spec.threshold_b},
                                   spec_field + ".preprocess");
  }
  return control_tensor(map);
}

SourceImage SdxlConditioningManager::source_image(const std::string& reference, const std::string& field) const {
  const auto path = resolve_input_file(image_roots_, reference, field, kImageRootsSetting);
  const std::string bytes = read_file_bytes(path, field);
  return {decode_image(bytes, 3, field), embedded_parameters(bytes).value_or("")};
}

nlohmann::json SdxlConditioningManager::status() const {
  return {{"clip_skip_styles", {"diffusers", "a1111"}}};
}

}  // namespace workers
