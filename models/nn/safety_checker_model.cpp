#include "models/nn/safety_checker_model.h"

#include <cmath>
#include <filesystem>
#include <fstream>

#include "models/io/diffusers_folder.h"
#include "utilities/error.h"
#include "utilities/json_fields.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

// numpy's round(x, 3) on a float64: rint(x * 1000) / 1000, ties to even. diffusers rounds the
// scores before comparing with 0, so a score in (0, 0.0005] does not flag an image.
double round3(double x) { return std::nearbyint(x * 1000.0) / 1000.0; }

std::vector<double> to_doubles(const at::Tensor& t) {
  auto cpu = t.detach().to(torch::kCPU, torch::kDouble).contiguous();
  return {cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel()};
}

}  // namespace

SafetyCheckerConfig SafetyCheckerConfig::from_json(const nlohmann::json& config,
                                                   const std::string& where) {
  FieldReader r(config, where, ErrorCode::kModelLoadError);
  SafetyCheckerConfig c;
  const auto* vision = r.object("vision_config");
  if (!vision) r.fail("vision_config", "is required");
  c.vision = ClipVisionConfig::from_json(*vision, r.field("vision_config"));
  c.projection_dim = r.integer("projection_dim").value_or(c.projection_dim);
  if (c.projection_dim <= 0)
    r.fail("projection_dim", "must be positive, got " + std::to_string(c.projection_dim));
  return c;
}

StableDiffusionSafetyCheckerImpl::StableDiffusionSafetyCheckerImpl(const SafetyCheckerConfig& c)
    : config_(c) {
  using namespace torch::nn;
  vision_model = register_module("vision_model", ClipVisionModel(c.vision));
  visual_projection =
      register_module("visual_projection",
                      Linear(LinearOptions(c.vision.hidden_size, c.projection_dim).bias(false)));
  concept_embeds =
      register_parameter("concept_embeds", torch::ones({kSafetyConcepts, c.projection_dim}), false);
  special_care_embeds = register_parameter(
      "special_care_embeds", torch::ones({kSafetySpecialConcepts, c.projection_dim}), false);
  concept_embeds_weights =
      register_buffer("concept_embeds_weights", torch::ones({kSafetyConcepts}));
  special_care_embeds_weights =
      register_buffer("special_care_embeds_weights", torch::ones({kSafetySpecialConcepts}));
}

SafetyCheckerOutput StableDiffusionSafetyCheckerImpl::forward(const at::Tensor& clip_input) {
  SafetyCheckerOutput out;
  out.pooled_output = vision_model(clip_input).pooler_output;
  out.image_embeds = visual_projection(out.pooled_output);
  // diffusers moves the similarities to numpy as fp32 whatever the model's dtype.
  out.special_cos_dist =
      safety_cosine_distance(out.image_embeds, special_care_embeds).to(torch::kCPU, torch::kFloat);
  out.cos_dist =
      safety_cosine_distance(out.image_embeds, concept_embeds).to(torch::kCPU, torch::kFloat);
  out.scores = safety_scores(out.cos_dist, out.special_cos_dist, concept_embeds_weights,
                             special_care_embeds_weights);
  return out;
}

at::Tensor safety_cosine_distance(const at::Tensor& image_embeds,
                                  const at::Tensor& concept_embeds) {
  namespace F = torch::nn::functional;
  const auto options = F::NormalizeFuncOptions().p(2).dim(1).eps(1e-12);
  return torch::mm(F::normalize(image_embeds, options), F::normalize(concept_embeds, options).t());
}

// diffusers' forward() loop, not forward_onnx: the ONNX form drops the rounding (commented out
// there), so it flags scores in (0, 0.0005] that forward() rounds to 0. The arithmetic is in
// float64 as numpy 1.x does it: a float32 similarity minus a Python float threshold (.item()).
std::vector<SafetyConceptScores> safety_scores(const at::Tensor& cos_dist,
                                               const at::Tensor& special_cos_dist,
                                               const at::Tensor& concept_thresholds,
                                               const at::Tensor& special_thresholds) {
  const auto concept_limits = to_doubles(concept_thresholds.to(torch::kFloat));
  const auto special_limits = to_doubles(special_thresholds.to(torch::kFloat));
  const auto batch = cos_dist.size(0);
  const auto concepts = cos_dist.size(1);
  const auto specials = special_cos_dist.size(1);
  if (special_cos_dist.size(0) != batch ||
      static_cast<std::int64_t>(concept_limits.size()) != concepts ||
      static_cast<std::int64_t>(special_limits.size()) != specials) {
    throw Error(ErrorCode::kInternalError,
                "safety checker: similarity and threshold shapes disagree");
  }
  // The similarities arrive as fp32 (numpy's float32 values), widened exactly to double here.
  const auto cos = to_doubles(cos_dist.to(torch::kFloat));
  const auto special_cos = to_doubles(special_cos_dist.to(torch::kFloat));

  std::vector<SafetyConceptScores> result(static_cast<std::size_t>(batch));
  for (std::int64_t i = 0; i < batch; ++i) {
    auto& r = result[static_cast<std::size_t>(i)];
    // Raising it makes the filter stricter; diffusers ships 0.0.
    double adjustment = 0.0;
    for (std::int64_t k = 0; k < specials; ++k) {
      const double score = round3(special_cos[i * specials + k] - special_limits[k] + adjustment);
      r.special_scores.push_back(score);
      if (score > 0) {
        r.special_care = true;
        adjustment = 0.01;
      }
    }
    for (std::int64_t k = 0; k < concepts; ++k) {
      const double score = round3(cos[i * concepts + k] - concept_limits[k] + adjustment);
      r.concept_scores.push_back(score);
      if (score > 0) r.bad_concepts.push_back(static_cast<int>(k));
    }
    r.has_nsfw = !r.bad_concepts.empty();
  }
  return result;
}

ComponentSource safety_checker_source(const std::string& folder) {
  const fs::path config_path = fs::path(folder) / "config.json";
  std::ifstream in(config_path);
  if (!in) {
    throw Error(ErrorCode::kModelNotFound,
                config_path.string() + " is missing (not a safety checker folder)");
  }
  ComponentFiles files;
  files.folder = folder;
  files.name = fs::path(folder).filename().string();
  try {
    files.config = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kModelLoadError, config_path.string() + ": not valid JSON: " + e.what());
  }
  try {
    files.weight_files = find_weight_files(folder, "", &files.variant);
  } catch (const Error& e) {
    // Some transformers exports name the single file after the old pickle (pytorch_model.bin).
    const auto legacy = fs::path(folder) / "pytorch_model.safetensors";
    if (!fs::is_regular_file(legacy)) {
      throw Error(e.code(), std::string(e.what()) + "; nor is there a pytorch_model.safetensors");
    }
    files.weight_files = {legacy.string()};
  }
  return {folder, files.config, read_component_tensors(files)};
}

StableDiffusionSafetyChecker build_safety_checker(const ComponentSource& source,
                                                  const Placement& placement) {
  StableDiffusionSafetyChecker model(
      SafetyCheckerConfig::from_json(source.config, source.what + "/config.json"));
  // Checkpoints saved by older transformers carry the position ids buffer it now recomputes.
  static const std::vector<std::string> ignored{
      "vision_model.vision_model.embeddings.position_ids"};
  load_weights(*model, source.tensors, source.what, placement.dtype, placement.device, ignored);
  model->eval();
  return model;
}

}  // namespace workers
