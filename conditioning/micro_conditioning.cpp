#include "conditioning/micro_conditioning.h"

#include <torch/torch.h>

#include "utilities/error.h"

namespace workers {

MicroConditioning micro_conditioning(const GenerationRequest& r, int height, int width) {
  MicroConditioning m;
  m.original_size = r.original_size.value_or(SizePair{height, width});
  m.target_size = r.target_size.value_or(SizePair{height, width});
  m.crops_coords_top_left = r.crops_coords_top_left;
  m.negative_original_size = r.negative_original_size.value_or(m.original_size);
  m.negative_target_size = r.negative_target_size.value_or(m.target_size);
  m.negative_crops_coords_top_left = r.negative_crops_coords_top_left.value_or(m.crops_coords_top_left);
  m.aesthetic_score = r.aesthetic_score;
  m.negative_aesthetic_score = r.negative_aesthetic_score;
  return m;
}

TimeIds sdxl_time_ids(const UNetConfig& unet, std::int64_t pooled_dim, const MicroConditioning& v) {
  const std::int64_t expected = unet.projection_class_embeddings_input_dim;
  const std::int64_t per_id = unet.addition_time_embed_dim;
  auto ids = [](std::vector<double> values) {
    return torch::tensor(values, torch::kDouble).to(torch::kFloat).unsqueeze(0);
  };
  auto pair = [](std::vector<double>& out, const SizePair& p) {
    out.push_back(p.first);
    out.push_back(p.second);
  };
  if (per_id * 6 + pooled_dim == expected) {
    std::vector<double> pos, neg;
    pair(pos, v.original_size), pair(pos, v.crops_coords_top_left), pair(pos, v.target_size);
    pair(neg, v.negative_original_size), pair(neg, v.negative_crops_coords_top_left), pair(neg, v.negative_target_size);
    return {ids(pos), ids(neg)};
  }
  if (per_id * 5 + pooled_dim == expected) {
    std::vector<double> pos, neg;
    pair(pos, v.original_size), pair(pos, v.crops_coords_top_left), pos.push_back(v.aesthetic_score);
    pair(neg, v.negative_original_size), pair(neg, v.negative_crops_coords_top_left);
    neg.push_back(v.negative_aesthetic_score);
    return {ids(pos), ids(neg)};
  }
  throw Error(ErrorCode::kModelLoadError,
              "the UNet's add_embedding expects " + std::to_string(expected) + " inputs, which is neither 6 nor 5 time ids of " +
                  std::to_string(per_id) + " plus the text encoder's " + std::to_string(pooled_dim) +
                  " pooled dims: the UNet and text_encoder_2 do not belong together");
}

}  // namespace workers
