// SafetyChecker: diffusers' StableDiffusionSafetyChecker over finished images (CLIPImageProcessor
// preprocessing, the CLIP vision tower, per-concept thresholds): a verdict per image. What a job
// does with a flagged image (flag, black, blur) is the safety_check stage's. Torch-free header.
#pragma once

#include <array>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "utilities/image.h"
#include "utilities/pil_resample.h"

namespace workers {

// transformers' CLIPImageProcessor settings from preprocessor_config.json (also the older
// CLIPFeatureExtractor files whose `size` / `crop_size` are plain integers). Missing keys take
// CLIPImageProcessor's defaults.
struct ClipImageProcessorConfig {
  bool do_convert_rgb = true;
  bool do_resize = true;
  int shortest_edge = 224;  // size.shortest_edge; 0 when `size` gives height and width instead
  int resize_height = 0;
  int resize_width = 0;
  PilFilter resample = PilFilter::kBicubic;
  bool do_center_crop = true;
  int crop_height = 224;
  int crop_width = 224;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> image_mean{0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> image_std{0.26862954f, 0.26130258f, 0.27577711f};

  // Throws Error(MODEL_LOAD_ERROR) naming `where` and the key.
  static ClipImageProcessorConfig from_json(const nlohmann::json& config, const std::string& where);
};

// One image's CLIPImageProcessor pixel_values: 3 × height × width floats, channel-major.
struct ClipPixelValues {
  int height = 0;
  int width = 0;
  std::vector<float> values;
};

// CLIPImageProcessor.preprocess for one 8-bit image (gray, RGB or RGBA): RGB conversion, PIL
// resize, center crop (zero padding when the crop is larger), rescale and normalise, with
// transformers' rounding and float32 arithmetic. Throws Error(INVALID_REQUEST) for an empty image.
ClipPixelValues clip_preprocess(const Image& image, const ClipImageProcessorConfig& config);

struct SafetyVerdict {
  bool has_nsfw = false;
  bool special_care = false;  // a special-care concept matched (stricter concept thresholds)
  std::vector<double>
      concept_scores;  // 17 scores as diffusers rounds them: > 0 = over the threshold
  std::vector<double> special_scores;  // 3
};

class SafetyChecker {
 public:
  // `folder`: a safety checker folder (config.json + model.safetensors) whose
  // preprocessor_config.json is in it or in the sibling ../feature_extractor/, or a diffusers
  // pipeline folder holding safety_checker/ and feature_extractor/. `device` "cpu" | "cuda:N",
  // `dtype` "float32" | "float16" | "bfloat16" (DeviceSelection's spelling).
  // Throws Error(MODEL_NOT_FOUND / MODEL_LOAD_ERROR) naming the missing or bad file.
  explicit SafetyChecker(const std::string& folder, const std::string& device = "cpu",
                         const std::string& dtype = "float32");
  ~SafetyChecker();
  SafetyChecker(SafetyChecker&&) noexcept;
  SafetyChecker& operator=(SafetyChecker&&) noexcept;

  const ClipImageProcessorConfig& preprocessor() const;

  // One verdict per image, in one batch. Runs on a compute thread; throws workers::Error.
  std::vector<SafetyVerdict> check(const std::vector<Image>& images);
  // From ready pixel_values ([batch, 3, size, size] floats, as CLIPImageProcessor returns them).
  std::vector<SafetyVerdict> check_pixel_values(const std::vector<float>& pixel_values, int batch);
 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace workers
