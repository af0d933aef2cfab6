// ConditioningManager: the role the conditioning instructor decides with (clip-skip index,
// ControlNet preprocessors: checked before a job is queued) and the pipelines condition with:
// prompt encoding, img2img / inpainting inputs, ControlNet control maps, each done by a worker.
// Torch-free: tensors and encoders are only declared here.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "utilities/generation_request.h"
#include "utilities/image.h"

namespace at {
class Tensor;
}

namespace workers {

struct SdxlTextEncoders;
struct PromptTexts;
struct PromptOptions;
struct EncodedPrompts;

// What the conditioning instructor decided for one request; the job carries it.
struct ConditioningDecision {
  int clip_hidden_index = -2;  // negative index into the CLIP hidden states (clip_skip.h)
  // Per request.controlnets[i]: the preprocessor to run on its control image ("" = none).
  std::vector<std::string> control_preprocessors;
};

// A postprocess_request's input: the image as it is, and the A1111 parameters its file carries.
struct SourceImage {
  Image image;             // RGB, not resized
  std::string parameters;  // the PNG `parameters` chunk or EXIF UserComment; "" when none
};

// The role the denoising worker encodes prompts through.
class PromptEncoder {
 public:
  virtual ~PromptEncoder() = default;
  // Errors: INVALID_PROMPT (weights), INVALID_REQUEST (clip_skip deeper than the encoder).
  virtual EncodedPrompts encode(const SdxlTextEncoders& encoders, const PromptTexts& texts,
                                const PromptOptions& options) const = 0;
};

class ConditioningManager : public PromptEncoder {
 public:
  // Validates the request's conditioning fields and decides; throws Error(INVALID_REQUEST) naming
  // the field. Pure: no file is read (runs on the event loop).
  virtual ConditioningDecision decide(const GenerationRequest& request) const = 0;
  // An init image from the image roots, resized to width × height: [1, 3, H, W] in [-1, 1].
  // Errors name `field`.
  virtual at::Tensor init_image(const std::string& reference, const std::string& field, int width,
                                int height) const = 0;
  // A mask from the image roots, resized: [1, 1, H, W] binarised at 0.5 (white = repaint).
  virtual at::Tensor mask_image(const std::string& reference, const std::string& field, int width,
                                int height) const = 0;
  // A control map: the image from the image roots (errors name `image_field`) resized to
  // width × height, then run through `preprocess` ("" = none) with the spec's thresholds (errors
  // name `spec_field` + ".preprocess"): [1, 3, H, W] in [0, 1].
  virtual at::Tensor control_image(const std::string& reference, const std::string& image_field,
                                   const std::string& preprocess, const ControlNetSpec& spec,
                                   const std::string& spec_field, int width, int height) const = 0;
  // An image from the image roots as it is (errors name `field`), with its embedded parameters:
  // the input of a postprocess_request, and the init image colour correction matches.
  virtual SourceImage source_image(const std::string& reference, const std::string& field) const = 0;
  virtual nlohmann::json status() const = 0;
};

}  // namespace workers
