// EnhanceStage: the "enhance" postprocessing stage for jobs with postprocess.enhance: the
// enhancer worker (sharpening, brightness/contrast/saturation, CLAHE, denoising, A1111's img2img
// colour correction against the init image) over every image.
#pragma once

#include <functional>
#include <string>

#include "postprocessing/managers/postprocessing_stage.h"

namespace workers {

class EnhanceStage : public PostprocessingStage {
 public:
  using ImageReader = std::function<Image(const std::string& path, const std::string& field)>;
  // `read_image` reads the init image for colour correction (inside the image roots); null:
  // colour correction is refused.
  explicit EnhanceStage(ImageReader read_image);

  std::string name() const override { return "enhance"; }
  bool applies(const GenerationRequest& request) const override { return !request.postprocess.enhance.is_null(); }
  // Every option in bounds (errors name postprocess.enhance.<option>); colour correction needs an
  // init image.
  void check(const GenerationRequest& request) const override;
  void run(const GenerationRequest& request, GenerationResult& result) override;

 private:
  ImageReader read_image_;
};

}  // namespace workers
