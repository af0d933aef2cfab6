// ImageUpscaler: the role of one upscaling method, neural (an ESRGAN-family model, run at its
// native scale) or a resampling filter (lanczos, bicubic, nearest). The upscale stage, the
// standalone postprocess request and the hires fix go through it. Torch-free.
#pragma once

#include <string>

#include "utilities/image.h"

namespace workers {

class ImageUpscaler {
 public:
  virtual ~ImageUpscaler() = default;
  // What PNG info shows as "Postprocess upscaler" / "Hires upscaler" (the model's file stem, or
  // the filter's name).
  virtual std::string name() const = 0;
  // The model's own scale (2, 4, ...); 1 for a resampling filter (any scale).
  virtual int native_scale() const = 0;
  // `image` (RGB) upscaled to exactly width × height: a model runs at its native scale (again on
  // its own output while smaller than the target, at most 3 passes, as A1111 does), then the
  // result is resized to the target with PIL's Lanczos, as A1111 and Real-ESRGAN's --outscale do. Runs on a compute thread;
  // throws workers::Error.
  virtual Image upscale(const Image& image, int width, int height) = 0;
};

}  // namespace workers
