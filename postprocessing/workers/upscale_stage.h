// UpscaleStage: the "upscale" postprocessing stage (A1111's Extras "Upscale by", ComfyUI's
// upscale node) for jobs with postprocess.upscale: every image through the named upscaler, a
// model at its native scale then PIL Lanczos to the requested scale, or a resampling filter.
#pragma once

#include <memory>

#include "postprocessing/managers/postprocessing_stage.h"
#include "postprocessing/managers/upscaler_manager.h"

namespace workers {

// Upscaled images larger than this on a side are refused (the encoders' and viewers' limits).
constexpr int kMaxUpscaledSide = 16384;

// round(side × scale), refused (Error(INVALID_REQUEST, field)) beyond kMaxUpscaledSide or below 1.
int upscaled_side(int side, double scale, const std::string& field);

class UpscaleStage : public PostprocessingStage {
 public:
  // `upscalers` null: this worker has none, and a job asking for one is refused.
  explicit UpscaleStage(std::shared_ptr<UpscalerManager> upscalers);

  std::string name() const override { return "upscale"; }
  bool applies(const GenerationRequest& request) const override { return request.postprocess.upscale.has_value(); }
  // The upscaler exists; a filter has an explicit scale; the generated size stays in bounds.
  void check(const GenerationRequest& request) const override;
  // Replaces each image by its upscaled one; records metadata.postprocess_upscale.
  void run(const GenerationRequest& request, GenerationResult& result) override;

 private:
  std::shared_ptr<UpscalerManager> upscalers_;
};

}  // namespace workers
