#include "postprocessing/workers/upscale_stage.h"

#include <algorithm>
#include <cmath>

#include "utilities/error.h"

namespace workers {

int upscaled_side(int side, double scale, const std::string& field) {
  const double out = std::round(side * scale);
  if (out < 1 || out > kMaxUpscaledSide) {
    throw_invalid(field, "makes a side of " + std::to_string(static_cast<long long>(out)) + " px from " +
                             std::to_string(side) + " px; the limit is " + std::to_string(kMaxUpscaledSide));
  }
  return static_cast<int>(out);
}

UpscaleStage::UpscaleStage(std::shared_ptr<UpscalerManager> upscalers) : upscalers_(std::move(upscalers)) {}

void UpscaleStage::check(const GenerationRequest& request) const {
  const UpscaleSpec& spec = *request.postprocess.upscale;
  if (!upscalers_) throw_invalid("postprocess.upscale", "this worker has no upscalers");
  upscalers_->check(spec.model, "postprocess.upscale.model");
  if (spec.scale == 0.0 && upscalers_->is_filter(spec.model)) {
    throw_invalid("postprocess.upscale.scale",
                  "is required with the resampling filter \"" + spec.model + "\" (it has no scale of its own)");
  }
  // A generation's size is known now (a postprocess_request's only once its image is read).
  if (request.source_image.empty() && spec.scale != 0.0) {
    int width = request.width, height = request.height;
    if (request.hires) {
      width = hires_size(width, request.hires->scale);
      height = hires_size(height, request.hires->scale);
    }
    upscaled_side(std::max(width, height), spec.scale, "postprocess.upscale.scale");
  }
}

void UpscaleStage::run(const GenerationRequest& request, GenerationResult& result) {
  const UpscaleSpec& spec = *request.postprocess.upscale;
  if (!upscalers_) throw_invalid("postprocess.upscale", "this worker has no upscalers");
  auto upscaler = upscalers_->upscaler(spec.model, spec.tile, "postprocess.upscale.model");
  const double scale = spec.scale != 0.0 ? spec.scale : upscaler->native_scale();
  for (auto& image : result.images) {
    const int width = upscaled_side(image.width, scale, "postprocess.upscale.scale");
    const int height = upscaled_side(image.height, scale, "postprocess.upscale.scale");
    image = upscaler->upscale(image, width, height);
  }
  result.metadata["postprocess_upscale"] = {{"upscaler", upscaler->name()}, {"scale", scale}};
}

}  // namespace workers
