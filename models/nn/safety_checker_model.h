// StableDiffusionSafetyChecker as diffusers computes it: CLIP vision tower -> visual_projection ->
// cosine similarity to 17 concept and 3 special-care embeddings, thresholded per image with
// diffusers' rounding and its 0.01 special-care adjustment.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/nn/clip_vision_model.h"
#include "models/nn/networks.h"

namespace workers {

// diffusers hard-codes the number of concepts; the checkpoint's shapes must agree.
constexpr std::int64_t kSafetyConcepts = 17;
constexpr std::int64_t kSafetySpecialConcepts = 3;

// The safety checker's config.json is a CLIPConfig: `vision_config` builds the tower and the
// top-level `projection_dim` sizes visual_projection (vision_config.projection_dim is unused).
struct SafetyCheckerConfig {
  ClipVisionConfig vision;
  std::int64_t projection_dim = 512;  // CLIPConfig's default

  // Throws Error(MODEL_LOAD_ERROR) naming `where` and the key.
  static SafetyCheckerConfig from_json(const nlohmann::json& config, const std::string& where);
};

// One image's scores as diffusers' forward() builds its result dict.
struct SafetyConceptScores {
  std::vector<double>
      special_scores;  // round(cos - threshold + adjustment, 3), one per special concept
  std::vector<double> concept_scores;  // the same for the 17 concepts
  bool special_care = false;           // a special score > 0: the concepts' adjustment became 0.01
  std::vector<int> bad_concepts;       // concepts whose score > 0
  bool has_nsfw = false;               // !bad_concepts.empty()
};

struct SafetyCheckerOutput {
  at::Tensor pooled_output;                 // [B, hidden]
  at::Tensor image_embeds;                  // [B, projection_dim]
  at::Tensor cos_dist;                      // [B, 17], fp32 on the CPU (diffusers' numpy array)
  at::Tensor special_cos_dist;              // [B, 3], fp32 on the CPU
  std::vector<SafetyConceptScores> scores;  // one per image
};

struct StableDiffusionSafetyCheckerImpl : torch::nn::Module {
  explicit StableDiffusionSafetyCheckerImpl(const SafetyCheckerConfig& config);
  // clip_input: CLIPImageProcessor's pixel_values [B, 3, image_size, image_size].
  SafetyCheckerOutput forward(const at::Tensor& clip_input);
  const SafetyCheckerConfig& config() const { return config_; }

  ClipVisionModel vision_model{nullptr};
  torch::nn::Linear visual_projection{nullptr};  // no bias
  at::Tensor concept_embeds;                     // parameter [17, projection_dim]
  at::Tensor special_care_embeds;                // parameter [3, projection_dim]
  at::Tensor concept_embeds_weights;             // buffer [17]: per-concept thresholds
  at::Tensor special_care_embeds_weights;        // buffer [3]

 private:
  SafetyCheckerConfig config_;
};
TORCH_MODULE(StableDiffusionSafetyChecker);

// diffusers' cosine_distance (a similarity despite the name): rows L2-normalised with
// F.normalize (eps 1e-12), then a @ b^T.
at::Tensor safety_cosine_distance(const at::Tensor& image_embeds, const at::Tensor& concept_embeds);

// diffusers' per-image loop over fp32 similarities [B, N] and thresholds [N] (any device/dtype).
std::vector<SafetyConceptScores> safety_scores(const at::Tensor& cos_dist,
                                               const at::Tensor& special_cos_dist,
                                               const at::Tensor& concept_thresholds,
                                               const at::Tensor& special_thresholds);

// A safety checker folder: config.json and its weights (model / diffusion_pytorch_model /
// pytorch_model .safetensors, sharded, or the folder's only variant). Throws Error(MODEL_NOT_FOUND)
// without config.json, Error(MODEL_LOAD_ERROR) naming the files looked for without weights.
ComponentSource safety_checker_source(const std::string& folder);

// Builds, loads every weight strictly (missing/unexpected keys named), moves and sets eval mode.
StableDiffusionSafetyChecker build_safety_checker(const ComponentSource& source,
                                                  const Placement& placement = {});

}  // namespace workers
