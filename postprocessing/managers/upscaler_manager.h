// UpscalerManager: the role that turns an upscaler's name into an ImageUpscaler: a resampling
// filter (lanczos, bicubic, bilinear, nearest: PIL's) or an ESRGAN-family model file under an
// upscaler root, loaded once and kept. Torch-free.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "postprocessing/workers/image_upscaler.h"

namespace workers {

class UpscalerManager {
 public:
  virtual ~UpscalerManager() = default;
  // Whether `name` is a resampling filter (which needs an explicit scale: it has no own one).
  virtual bool is_filter(const std::string& name) const = 0;
  // Checks that `name` names a filter or a model file under an upscaler root, without loading it
  // (on the loop, when a job is planned). Throws Error(MODEL_NOT_FOUND, field).
  virtual void check(const std::string& name, const std::string& field) const = 0;
  // The upscaler `name` names; a model is loaded on first use (compute thread) and tiled with
  // `tile` input pixels a side (0: untiled; -1: the configured tile). Throws Error
  // (MODEL_NOT_FOUND / MODEL_LOAD_ERROR, field).
  virtual std::shared_ptr<ImageUpscaler> upscaler(const std::string& name, int tile,
                                                  const std::string& field) = 0;
  // {"roots": [...], "filters": [...], "loaded": [...]}.
  virtual nlohmann::json status() const = 0;
};

}  // namespace workers
