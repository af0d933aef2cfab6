// ResampleUpscaler: upscaling with a resampling filter (PIL's Lanczos, bicubic, bilinear or
// nearest), what A1111 offers as "Lanczos" and "Nearest" and what requests naming no model get.
// Torch-free.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "postprocessing/workers/image_upscaler.h"
#include "utilities/pil_resample.h"

namespace workers {

// The filter a name stands for ("lanczos", "Lanczos", "bicubic", "bilinear", "nearest"; any
// case), or none.
std::optional<PilFilter> resampling_filter(const std::string& name);
// Their names: lanczos, bicubic, bilinear, nearest.
std::vector<std::string> resampling_filter_names();

class ResampleUpscaler : public ImageUpscaler {
 public:
  explicit ResampleUpscaler(PilFilter filter);
  std::string name() const override;  // A1111's spelling: "Lanczos", "Nearest", ...
  int native_scale() const override { return 1; }
  Image upscale(const Image& image, int width, int height) override;

 private:
  PilFilter filter_;
};

}  // namespace workers
