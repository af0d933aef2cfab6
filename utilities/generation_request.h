// GenerationRequest: the one canonical, typed generation request. Every wire format is translated
// into it (communication/, compat/); nothing below the instructors sees raw JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace workers {

struct ModelSuite {
  std::string base;     // model reference: a name under a model root, or a path inside one
  std::string refiner;  // empty: no refiner
  std::string vae;      // empty: the base model's VAE
  // A diffusers folder whose config.json files win over the configs inferred from a single-file
  // base checkpoint's shapes (for checkpoints that are not shaped like SDXL 1.0).
  std::string config_from;
};

struct LoraSpec {
  std::string name;  // name under a LoRA root, or a path inside one
  double weight = 1.0;
  bool enabled = true;
};

struct ControlNetSpec {
  std::string type;        // canny, depth, pose, ... (selects a configured model when `model` is empty)
  std::string model;       // explicit ControlNet model reference
  std::string image;       // control image path
  std::string preprocess;  // preprocessor to run on `image` ("" = image is already a control map)
  std::optional<double> threshold_a;  // preprocessor parameters (A1111's names; meaning per preprocessor)
  std::optional<double> threshold_b;
  double scale = 1.0;      // controlnet_conditioning_scale
  double start = 0.0;      // control_guidance_start
  double end = 1.0;        // control_guidance_end
};

// A model named by a load/unload request.
struct ModelReference {
  std::string model;               // name under a model root, or a path inside one
  std::string component = "base";  // base, refiner, vae, lora, controlnet
};

// A1111's "Hires. fix": after the first pass at width × height, the result is upscaled by
// `scale` (its latents, or its pixels through an upscaler) and denoised again as img2img.
struct HiresFix {
  double scale = 2.0;     // hires_scale (A1111's hr_scale); the size is floor(size × scale / 8) × 8
  int steps = 0;          // hires_steps: the second pass's denoising steps; 0: the first pass's
  double strength = 0.7;  // hires_strength (A1111's "Denoising strength" of the second pass)
  // hires_upscaler: "Latent" (bilinear), "Latent (antialiased)", "Latent (bicubic)", "Latent
  // (bicubic antialiased)", "Latent (nearest)", "Latent (nearest-exact)" upscale the latents;
  // anything else names a pixel upscaler (Lanczos, Nearest, ... or an upscaler model).
  std::string upscaler = "Latent";
};

// The postprocess stage of an upscaler (A1111's Extras "Upscale by").
struct UpscaleSpec {
  // A resampling filter (lanczos, bicubic, bilinear, nearest) or an upscaler model; a request
  // that names none gets lanczos.
  std::string model = "lanczos";
  double scale = 0.0;  // output size / input size; 0: the model's native scale
  int tile = -1;       // tile side in input pixels for a model (0: untiled); -1: the configured one
};

// What the postprocessing stages do to a job's images (each absent part is not done).
struct PostprocessSpec {
  std::optional<UpscaleSpec> upscale;
  // The enhancer's options as sent; the postprocessing instructor checks them when it plans the
  // job (they belong to the enhancer worker, which utilities does not know).
  nlohmann::json enhance;
  // "off", "flag" (report only), "black" (diffusers) or "blur"; "": the configured mode.
  std::string safety_checker;
  bool empty() const { return !upscale && enhance.is_null() && safety_checker.empty(); }
};

using SizePair = std::pair<int, int>;  // (height, width) or (top, left), as diffusers orders them

struct GenerationRequest {
  std::string request_id;
  std::string prompt;
  std::string negative_prompt;
  std::string prompt_2;           // text_encoder_2's prompt; empty: same as prompt
  std::string negative_prompt_2;  // empty: same as negative_prompt
  ModelSuite model;
  int width = 1024;
  int height = 1024;
  int steps = 30;
  double guidance_scale = 5.0;
  double guidance_rescale = 0.0;
  std::string scheduler;                  // user-facing or diffusers name; empty: the model's own
  nlohmann::json scheduler_options = nlohmann::json::object();  // scheduler_config overrides
  std::optional<std::uint64_t> seed;      // absent: a random seed is chosen and reported
  int batch_size = 1;                     // num_images_per_prompt
  // "shared": one generator seeded once draws the whole batch (diffusers, ComfyUI); "per_image":
  // image i is its own run seeded seed + i (AUTOMATIC1111), so it reproduces alone.
  std::string batch_seeds = "shared";
  std::string init_image;                 // img2img / inpaint source
  std::string mask_image;                 // inpaint mask (white = repaint)
  std::optional<double> strength;         // img2img / inpaint strength
  std::optional<double> denoising_end;    // base/refiner switch point
  double aesthetic_score = 6.0;
  double negative_aesthetic_score = 2.5;
  std::optional<SizePair> original_size;
  std::optional<SizePair> target_size;
  SizePair crops_coords_top_left{0, 0};
  // The unconditional branch's micro-conditioning (absent: the same as the positive one).
  std::optional<SizePair> negative_original_size;
  std::optional<SizePair> negative_target_size;
  std::optional<SizePair> negative_crops_coords_top_left;
  std::optional<int> clip_skip;           // diffusers convention (see clip_skip_style)
  std::string clip_skip_style = "diffusers";  // "diffusers" or "a1111"
  std::vector<LoraSpec> loras;
  double lora_scale = 1.0;  // global multiplier of every LoRA weight
  std::vector<ControlNetSpec> controlnets;
  std::optional<HiresFix> hires;
  PostprocessSpec postprocess;
  // A postprocess_request's image (a path under an image root): no generation, only stages.
  std::string source_image;
  std::string output_format = "png";      // png, jpeg, webp
  bool return_base64 = false;
  int priority = 0;                       // higher runs first
  std::optional<double> timeout_seconds;  // absent: the configured task_timeout
};

// Bounds a request is checked against; from config (workers.main_interface.limits).
struct RequestLimits {
  int min_size = 64;
  int max_size = 4096;
  int max_steps = 1000;
  int max_batch_size = 16;
  std::size_t max_prompt_chars = 20000;
  double max_timeout_seconds = 24 * 3600.0;
};

// Throws workers::Error(INVALID_REQUEST) naming the first field whose value is out of bounds or
// inconsistent with another field.
void validate(const GenerationRequest& request, const RequestLimits& limits);

// The checks of a postprocess_request (source_image and postprocess; no model, no prompt).
void validate_postprocess_only(const GenerationRequest& request, const RequestLimits& limits);

// The hires fix's second-pass size: floor(size × scale / 8) × 8, as A1111 sizes it.
int hires_size(int size, double scale);

// Canonical JSON form (the protocol's inference_request fields), for logs and tests.
nlohmann::json to_json(const GenerationRequest& request);

}  // namespace workers
