// SDXL micro-conditioning: the `time_ids` the UNet's text_time embedding reads, built as diffusers'
// SDXL pipelines build them: (original size, crop, target size) for a base model, (original size,
// crop, aesthetic score) for a refiner, chosen by the ids the UNet's add_embedding expects.
#pragma once

#include <ATen/core/Tensor.h>

#include "models/nn/nn_configs.h"
#include "utilities/generation_request.h"

namespace workers {

struct MicroConditioning {
  SizePair original_size{1024, 1024};  // (height, width)
  SizePair crops_coords_top_left{0, 0};
  SizePair target_size{1024, 1024};
  SizePair negative_original_size{1024, 1024};
  SizePair negative_crops_coords_top_left{0, 0};
  SizePair negative_target_size{1024, 1024};
  double aesthetic_score = 6.0;
  double negative_aesthetic_score = 2.5;
};

// The request's values with diffusers' defaults: original and target size = the output size,
// negative values = the positive ones.
MicroConditioning micro_conditioning(const GenerationRequest& request, int height, int width);

struct TimeIds {
  at::Tensor positive;  // [1, n] float32
  at::Tensor negative;
};

// n = 6 (sizes) or 5 (aesthetic score), whichever makes the UNet's projection input width
// (addition_time_embed_dim · n + pooled_dim). Throws Error(MODEL_LOAD_ERROR) when neither does.
TimeIds sdxl_time_ids(const UNetConfig& unet, std::int64_t pooled_dim, const MicroConditioning& values);

}  // namespace workers
