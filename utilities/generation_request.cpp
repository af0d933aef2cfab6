#include "utilities/generation_request.h"

#include <cmath>

#include "utilities/error.h"

namespace workers {
namespace {

// Whole numbers print without a fraction ("1 and 1000", not "1.0 and 1000.0").
std::string number_text(double value) {
  if (value == std::floor(value) && std::fabs(value) < 1e15) return std::to_string(static_cast<long long>(value));
  return nlohmann::json(value).dump();
}

void check_range(const std::string& field, double value, double lo, double hi) {
  if (!std::isfinite(value)) throw_invalid(field, "must be finite");
  if (value < lo || value > hi) {
    throw_invalid(field, "must be between " + number_text(lo) + " and " + number_text(hi) + ", got " +
                             number_text(value));
  }
}

void check_size(const std::string& field, int value, const RequestLimits& limits) {
  check_range(field, value, limits.min_size, limits.max_size);
  if (value % 8 != 0) {
    throw_invalid(field, "must be a multiple of 8 (the VAE scale factor), got " +
                             std::to_string(value) + "; nearest: " + std::to_string(value / 8 * 8));
  }
}

void check_pair(const std::string& field, const SizePair& pair, int lo, int hi) {
  check_range(field + "[0]", pair.first, lo, hi);
  check_range(field + "[1]", pair.second, lo, hi);
}

void check_prompt(const std::string& field, const std::string& text, const RequestLimits& limits) {
  if (text.size() > limits.max_prompt_chars) {
    throw Error(ErrorCode::kInvalidPrompt,
                field + ": is " + std::to_string(text.size()) + " bytes, the limit is " +
                    std::to_string(limits.max_prompt_chars),
                field);
  }
  if (text.find('\0') != std::string::npos) {
    throw Error(ErrorCode::kInvalidPrompt, field + ": contains a NUL character", field);
  }
}

void check_output(const GenerationRequest& r, const RequestLimits& limits) {
  if (r.output_format != "png" && r.output_format != "jpeg" && r.output_format != "webp") {
    throw_invalid("output_format", "must be png, jpeg or webp, got \"" + r.output_format + "\"");
  }
  if (r.timeout_seconds) {
    check_range("timeout", *r.timeout_seconds, 0.0, limits.max_timeout_seconds);
    if (*r.timeout_seconds <= 0.0) throw_invalid("timeout", "must be greater than 0");
  }
}

void check_postprocess(const PostprocessSpec& p) {
  if (p.upscale) {
    if (p.upscale->model.empty()) {
      throw_invalid("postprocess.upscale.model",
                    "is required: an upscaler model name, or lanczos, bicubic, bilinear or nearest");
    }
    if (p.upscale->scale != 0.0) check_range("postprocess.upscale.scale", p.upscale->scale, 0.25, 8.0);
    if (p.upscale->tile != -1) check_range("postprocess.upscale.tile", p.upscale->tile, 0, 4096);
  }
  if (!p.enhance.is_null() && !p.enhance.is_object()) {
    throw_invalid("postprocess.enhance", "must be an object of enhancer options");
  }
  const auto& mode = p.safety_checker;
  if (!mode.empty() && mode != "off" && mode != "flag" && mode != "black" && mode != "blur") {
    throw_invalid("postprocess.safety_checker", "must be off, flag, black or blur, got \"" + mode + "\"");
  }
}

}  // namespace

int hires_size(int size, double scale) { return static_cast<int>(size * scale) / 8 * 8; }

void validate_postprocess_only(const GenerationRequest& r, const RequestLimits& limits) {
  if (r.source_image.empty()) throw_invalid("image", "is required (a path under an image root)");
  if (r.postprocess.empty()) {
    throw_invalid("postprocess", "is required: at least one of upscale, enhance, safety_checker");
  }
  check_postprocess(r.postprocess);
  check_output(r, limits);
}

void validate(const GenerationRequest& r, const RequestLimits& limits) {
  check_prompt("prompt", r.prompt, limits);
  check_prompt("negative_prompt", r.negative_prompt, limits);
  check_prompt("prompt_2", r.prompt_2, limits);
  check_prompt("negative_prompt_2", r.negative_prompt_2, limits);
  if (r.model.base.empty()) {
    throw_invalid("model.base", "is required (a model name or path; workers.instructors.model.default_model "
                                "sets one for requests that name none)");
  }
  check_size("width", r.width, limits);
  check_size("height", r.height, limits);
  check_range("steps", r.steps, 1, limits.max_steps);
  check_range("guidance_scale", r.guidance_scale, 0.0, 100.0);
  check_range("guidance_rescale", r.guidance_rescale, 0.0, 1.0);
  if (!r.scheduler_options.is_object()) throw_invalid("scheduler_options", "must be an object");
  check_range("batch_size", r.batch_size, 1, limits.max_batch_size);
  if (r.strength) {
    check_range("strength", *r.strength, 0.0, 1.0);
    if (*r.strength <= 0.0) throw_invalid("strength", "must be greater than 0");
    if (r.init_image.empty()) throw_invalid("strength", "needs init_image (strength is for img2img)");
  }
  if (!r.mask_image.empty() && r.init_image.empty()) {
    throw_invalid("mask_image", "needs init_image (the image to inpaint)");
  }
  if (r.denoising_end) {
    check_range("denoising_end", *r.denoising_end, 0.0, 1.0);
    if (*r.denoising_end <= 0.0 || *r.denoising_end >= 1.0) {
      throw_invalid("denoising_end", "must be strictly between 0 and 1");
    }
  }
  check_range("aesthetic_score", r.aesthetic_score, 0.0, 10.0);
  check_range("negative_aesthetic_score", r.negative_aesthetic_score, 0.0, 10.0);
  if (r.original_size) check_pair("original_size", *r.original_size, 1, 16384);
  if (r.target_size) check_pair("target_size", *r.target_size, 1, 16384);
  check_pair("crops_coords_top_left", r.crops_coords_top_left, 0, 16384);
  if (r.negative_original_size) check_pair("negative_original_size", *r.negative_original_size, 1, 16384);
  if (r.negative_target_size) check_pair("negative_target_size", *r.negative_target_size, 1, 16384);
  if (r.negative_crops_coords_top_left) {
    check_pair("negative_crops_coords_top_left", *r.negative_crops_coords_top_left, 0, 16384);
  }
  if (r.clip_skip) check_range("clip_skip", *r.clip_skip, 0, 10);
  if (r.batch_seeds != "shared" && r.batch_seeds != "per_image") {
    throw_invalid("batch_seeds", "must be \"shared\" or \"per_image\", got \"" + r.batch_seeds + "\"");
  }
  if (r.clip_skip_style != "diffusers" && r.clip_skip_style != "a1111") {
    throw_invalid("clip_skip_style", "must be \"diffusers\" or \"a1111\", got \"" + r.clip_skip_style + "\"");
  }
  for (std::size_t i = 0; i < r.loras.size(); ++i) {
    const std::string field = "loras[" + std::to_string(i) + "]";
    if (r.loras[i].name.empty()) throw_invalid(field + ".name", "is required");
    check_range(field + ".weight", r.loras[i].weight, -20.0, 20.0);
  }
  check_range("lora_scale", r.lora_scale, -20.0, 20.0);
  for (std::size_t i = 0; i < r.controlnets.size(); ++i) {
    const auto& c = r.controlnets[i];
    const std::string field = "controlnets[" + std::to_string(i) + "]";
    if (c.type.empty() && c.model.empty()) throw_invalid(field, "needs a type or a model");
    check_range(field + ".scale", c.scale, 0.0, 10.0);
    check_range(field + ".start", c.start, 0.0, 1.0);
    check_range(field + ".end", c.end, 0.0, 1.0);
    if (c.start >= c.end) throw_invalid(field + ".start", "must be less than end");
    if (c.threshold_a) check_range(field + ".threshold_a", *c.threshold_a, 0.0, 10000.0);
    if (c.threshold_b) check_range(field + ".threshold_b", *c.threshold_b, 0.0, 10000.0);
  }
  if (r.hires) {
    const HiresFix& h = *r.hires;
    check_range("hires_scale", h.scale, 1.0, 4.0);
    check_range("hires_steps", h.steps, 0, limits.max_steps);
    check_range("hires_strength", h.strength, 0.0, 1.0);
    if (h.strength <= 0.0) throw_invalid("hires_strength", "must be greater than 0");
    if (h.upscaler.empty()) throw_invalid("hires_upscaler", "must name a latent mode or an upscaler");
    if (!r.init_image.empty()) {
      throw_invalid("hires_scale", "the hires fix is a second pass of text2img; it cannot follow img2img or inpainting");
    }
    if (!r.model.refiner.empty()) {
      throw_invalid("hires_scale", "the hires fix does not run with a refiner: run the refiner on the hires result "
                                   "as img2img instead");
    }
    const int w = hires_size(r.width, h.scale), hh = hires_size(r.height, h.scale);
    if (w > limits.max_size || hh > limits.max_size) {
      throw_invalid("hires_scale", "makes " + std::to_string(w) + "x" + std::to_string(hh) + ", over the size limit " +
                                       std::to_string(limits.max_size));
    }
    if (w <= r.width && hh <= r.height) throw_invalid("hires_scale", "must make the image larger");
  }
  check_postprocess(r.postprocess);
  check_output(r, limits);
}

nlohmann::json to_json(const GenerationRequest& r) {
  nlohmann::json j;
  j["request_id"] = r.request_id;
  j["prompt"] = r.prompt;
  j["negative_prompt"] = r.negative_prompt;
  if (!r.prompt_2.empty()) j["prompt_2"] = r.prompt_2;
  if (!r.negative_prompt_2.empty()) j["negative_prompt_2"] = r.negative_prompt_2;
  j["model"] = {{"base", r.model.base}, {"refiner", r.model.refiner}, {"vae", r.model.vae}};
  if (!r.model.config_from.empty()) j["model"]["config_from"] = r.model.config_from;
  j["width"] = r.width;
  j["height"] = r.height;
  j["steps"] = r.steps;
  j["guidance_scale"] = r.guidance_scale;
  j["guidance_rescale"] = r.guidance_rescale;
  j["scheduler"] = r.scheduler;
  j["scheduler_options"] = r.scheduler_options;
  j["seed"] = r.seed ? nlohmann::json(*r.seed) : nlohmann::json(nullptr);
  j["batch_size"] = r.batch_size;
  if (!r.init_image.empty()) j["init_image"] = r.init_image;
  if (!r.mask_image.empty()) j["mask_image"] = r.mask_image;
  if (r.strength) j["strength"] = *r.strength;
  if (r.denoising_end) j["denoising_end"] = *r.denoising_end;
  j["aesthetic_score"] = r.aesthetic_score;
  j["negative_aesthetic_score"] = r.negative_aesthetic_score;
  if (r.original_size) j["original_size"] = {r.original_size->first, r.original_size->second};
  if (r.target_size) j["target_size"] = {r.target_size->first, r.target_size->second};
  j["crops_coords_top_left"] = {r.crops_coords_top_left.first, r.crops_coords_top_left.second};
  auto pair = [](const SizePair& p) { return nlohmann::json::array({p.first, p.second}); };
  if (r.negative_original_size) j["negative_original_size"] = pair(*r.negative_original_size);
  if (r.negative_target_size) j["negative_target_size"] = pair(*r.negative_target_size);
  if (r.negative_crops_coords_top_left) j["negative_crops_coords_top_left"] = pair(*r.negative_crops_coords_top_left);
  if (r.clip_skip) j["clip_skip"] = *r.clip_skip;
  j["clip_skip_style"] = r.clip_skip_style;
  j["batch_seeds"] = r.batch_seeds;
  j["loras"] = nlohmann::json::array();
  for (const auto& l : r.loras) {
    j["loras"].push_back({{"name", l.name}, {"weight", l.weight}, {"enabled", l.enabled}});
  }
  j["lora_scale"] = r.lora_scale;
  j["controlnets"] = nlohmann::json::array();
  for (const auto& c : r.controlnets) {
    j["controlnets"].push_back({{"type", c.type}, {"model", c.model}, {"image", c.image},
                                {"preprocess", c.preprocess}, {"scale", c.scale},
                                {"start", c.start}, {"end", c.end}});
    if (c.threshold_a) j["controlnets"].back()["threshold_a"] = *c.threshold_a;
    if (c.threshold_b) j["controlnets"].back()["threshold_b"] = *c.threshold_b;
  }
  if (r.hires) {
    j["enable_hr"] = true;
    j["hires_scale"] = r.hires->scale;
    j["hires_steps"] = r.hires->steps;
    j["hires_strength"] = r.hires->strength;
    j["hires_upscaler"] = r.hires->upscaler;
  }
  if (!r.postprocess.empty()) {
    auto& p = j["postprocess"] = nlohmann::json::object();
    if (r.postprocess.upscale) {
      p["upscale"] = {{"model", r.postprocess.upscale->model}, {"scale", r.postprocess.upscale->scale}};
      if (r.postprocess.upscale->tile != -1) p["upscale"]["tile"] = r.postprocess.upscale->tile;
    }
    if (!r.postprocess.enhance.is_null()) p["enhance"] = r.postprocess.enhance;
    if (!r.postprocess.safety_checker.empty()) p["safety_checker"] = r.postprocess.safety_checker;
  }
  if (!r.source_image.empty()) j["image"] = r.source_image;
  j["output_format"] = r.output_format;
  j["return_base64"] = r.return_base64;
  j["priority"] = r.priority;
  if (r.timeout_seconds) j["timeout"] = *r.timeout_seconds;
  return j;
}

}  // namespace workers
