#include "postprocessing/workers/safety_checker.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "models/nn/networks.h"
#include "models/nn/safety_checker_model.h"
#include "utilities/error.h"
#include "utilities/json_fields.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

// A `size` / `crop_size` entry: {"shortest_edge": n}, {"height": h, "width": w} or a bare n
// (old CLIPFeatureExtractor files; transformers reads it as shortest_edge for `size` and as a
// square for `crop_size`).
struct SizeSpec {
  int shortest_edge = 0;
  int height = 0;
  int width = 0;
};

int positive_int(FieldReader& r, const std::string& key, const nlohmann::json& value) {
  if (!value.is_number_integer() || value.get<std::int64_t>() <= 0 ||
      value.get<std::int64_t>() > (1 << 16)) {
    r.fail(key, "must be a positive integer, got " + value.dump());
  }
  return value.get<int>();
}

SizeSpec read_size(FieldReader& r, const std::string& key, bool square_when_int) {
  SizeSpec s;
  const auto* value = r.raw(key);
  if (!value) return s;
  if (value->is_number_integer()) {
    const int n = positive_int(r, key, *value);
    if (square_when_int) {
      s.height = s.width = n;
    } else {
      s.shortest_edge = n;
    }
    return s;
  }
  if (!value->is_object())
    r.fail(key, "must be an integer or an object, got " + json_type_name(*value));
  if (value->contains("shortest_edge") && value->size() == 1) {
    s.shortest_edge = positive_int(r, key + ".shortest_edge", value->at("shortest_edge"));
  } else if (value->contains("height") && value->contains("width") && value->size() == 2) {
    s.height = positive_int(r, key + ".height", value->at("height"));
    s.width = positive_int(r, key + ".width", value->at("width"));
  } else {
    r.fail(key,
           "must be {\"shortest_edge\": n} or {\"height\": h, \"width\": w}, got " + value->dump());
  }
  return s;
}

std::array<float, 3> read_triple(FieldReader& r, const std::string& key,
                                 std::array<float, 3> fallback) {
  const auto* value = r.raw(key);
  if (!value) return fallback;
  // transformers builds np.array(mean, dtype=float32): the values are rounded to float here too.
  if (value->is_number()) {
    const auto v = value->get<float>();
    return {v, v, v};
  }
  if (!value->is_array() || value->size() != 3 || !(*value)[0].is_number() ||
      !(*value)[1].is_number() || !(*value)[2].is_number()) {
    r.fail(key, "must be a number or 3 numbers, got " + value->dump());
  }
  return {(*value)[0].get<float>(), (*value)[1].get<float>(), (*value)[2].get<float>()};
}

nlohmann::json read_json_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kModelNotFound, path.string() + " is missing");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kModelLoadError, path.string() + ": not valid JSON: " + e.what());
  }
}

Image to_rgb(const Image& image) {
  if (image.channels == 3) return image;
  if (image.channels != 1 && image.channels != 4) {
    throw Error(ErrorCode::kInvalidRequest,
                "safety checker: images must be gray, RGB or RGBA, got " +
                    std::to_string(image.channels) + " channels");
  }
  // PIL's convert("RGB"): gray is replicated, alpha is dropped (not composited).
  Image rgb{image.width, image.height, 3, {}};
  const std::size_t pixels = static_cast<std::size_t>(image.width) * image.height;
  rgb.pixels.resize(pixels * 3);
  for (std::size_t i = 0; i < pixels; ++i) {
    for (int c = 0; c < 3; ++c) {
      rgb.pixels[i * 3 + c] = image.pixels[i * image.channels + (image.channels == 1 ? 0 : c)];
    }
  }
  return rgb;
}

// Python's floor division, which transformers' center_crop uses for the offsets.
int floor_half(int n) { return n >= 0 ? n / 2 : -((-n + 1) / 2); }

fs::path without_trailing_separator(fs::path p) {
  p = p.lexically_normal();
  return p.has_filename() ? p : p.parent_path();
}

SafetyVerdict to_verdict(const SafetyConceptScores& s) {
  SafetyVerdict v;
  v.has_nsfw = s.has_nsfw;
  v.special_care = s.special_care;
  v.concept_scores = s.concept_scores;
  v.special_scores = s.special_scores;
  return v;
}

}  // namespace

ClipImageProcessorConfig ClipImageProcessorConfig::from_json(const nlohmann::json& config,
                                                             const std::string& where) {
  FieldReader r(config, where, ErrorCode::kModelLoadError);
  ClipImageProcessorConfig c;
  c.do_convert_rgb = r.boolean("do_convert_rgb").value_or(c.do_convert_rgb);
  c.do_resize = r.boolean("do_resize").value_or(c.do_resize);
  if (r.has("size")) {
    const auto size = read_size(r, "size", false);
    c.shortest_edge = size.shortest_edge;
    c.resize_height = size.height;
    c.resize_width = size.width;
  }
  switch (r.integer("resample").value_or(3)) {  // PIL's Resampling numbers
    case 0:
      c.resample = PilFilter::kNearest;
      break;
    case 1:
      c.resample = PilFilter::kLanczos;
      break;
    case 2:
      c.resample = PilFilter::kBilinear;
      break;
    case 3:
      c.resample = PilFilter::kBicubic;
      break;
    default:
      r.fail("resample", "must be 0 (nearest), 1 (lanczos), 2 (bilinear) or 3 (bicubic)");
  }
  c.do_center_crop = r.boolean("do_center_crop").value_or(c.do_center_crop);
  if (r.has("crop_size")) {
    const auto crop = read_size(r, "crop_size", true);
    if (crop.height == 0) r.fail("crop_size", "must give height and width");
    c.crop_height = crop.height;
    c.crop_width = crop.width;
  }
  c.do_rescale = r.boolean("do_rescale").value_or(c.do_rescale);
  c.rescale_factor = r.number("rescale_factor").value_or(c.rescale_factor);
  c.do_normalize = r.boolean("do_normalize").value_or(c.do_normalize);
  c.image_mean = read_triple(r, "image_mean", c.image_mean);
  c.image_std = read_triple(r, "image_std", c.image_std);
  for (float s : c.image_std) {
    if (!(s > 0)) r.fail("image_std", "must be positive");
  }
  return c;
}

ClipPixelValues clip_preprocess(const Image& input, const ClipImageProcessorConfig& c) {
  if (input.width <= 0 || input.height <= 0 ||
      input.pixels.size() !=
          static_cast<std::size_t>(input.width) * input.height * input.channels) {
    throw Error(ErrorCode::kInvalidRequest, "safety checker: empty or malformed image");
  }
  Image image = c.do_convert_rgb ? to_rgb(input) : input;
  if (image.channels != 3) {
    throw Error(ErrorCode::kInvalidRequest,
                "safety checker: the model takes RGB images (do_convert_rgb is off)");
  }
  if (c.do_resize) {
    int height = c.resize_height;
    int width = c.resize_width;
    if (c.shortest_edge > 0) {
      // get_resize_output_image_size(default_to_square=False): the long edge is truncated.
      const bool portrait = image.width <= image.height;
      const int short_side = portrait ? image.width : image.height;
      const int long_side = portrait ? image.height : image.width;
      const int new_long =
          static_cast<int>(static_cast<double>(c.shortest_edge) * long_side / short_side);
      height = portrait ? new_long : c.shortest_edge;
      width = portrait ? c.shortest_edge : new_long;
    }
    image = pil_resize(image, width, height, c.resample);
  }

  // center_crop: offsets floor((size - crop) / 2); rows/columns outside the image are zero
  // (its padding path gives exactly this when the crop is larger).
  const int out_h = c.do_center_crop ? c.crop_height : image.height;
  const int out_w = c.do_center_crop ? c.crop_width : image.width;
  const int top = c.do_center_crop ? floor_half(image.height - out_h) : 0;
  const int left = c.do_center_crop ? floor_half(image.width - out_w) : 0;

  ClipPixelValues out;
  out.height = out_h;
  out.width = out_w;
  out.values.assign(static_cast<std::size_t>(3) * out_h * out_w, 0.0f);
  for (int ch = 0; ch < 3; ++ch) {
    float* plane = out.values.data() + static_cast<std::size_t>(ch) * out_h * out_w;
    for (int y = 0; y < out_h; ++y) {
      const int sy = y + top;
      for (int x = 0; x < out_w; ++x) {
        const int sx = x + left;
        const bool inside = sy >= 0 && sy < image.height && sx >= 0 && sx < image.width;
        const std::uint8_t v =
            inside ? image.pixels[(static_cast<std::size_t>(sy) * image.width + sx) * 3 + ch] : 0;
        // rescale multiplies in float64 and stores float32; normalize works in float32.
        float value =
            c.do_rescale ? static_cast<float>(static_cast<double>(v) * c.rescale_factor) : v;
        if (c.do_normalize) value = (value - c.image_mean[ch]) / c.image_std[ch];
        plane[static_cast<std::size_t>(y) * out_w + x] = value;
      }
    }
  }
  return out;
}

struct SafetyChecker::Impl {
  StableDiffusionSafetyChecker model{nullptr};
  ClipImageProcessorConfig preprocessor;
  c10::Device device = c10::kCPU;
  c10::ScalarType dtype = c10::kFloat;

  std::vector<SafetyVerdict> run(const at::Tensor& pixel_values) {
    c10::InferenceMode inference;  // thread-local: set on whichever compute thread calls
    auto out = model->forward(pixel_values.to(device, dtype));
    std::vector<SafetyVerdict> verdicts;
    for (const auto& s : out.scores) verdicts.push_back(to_verdict(s));
    return verdicts;
  }
};

SafetyChecker::SafetyChecker(const std::string& folder, const std::string& device,
                             const std::string& dtype)
    : impl_(std::make_unique<Impl>()) {
  const Placement placement = placement_of(device, dtype);
  impl_->device = placement.device;
  impl_->dtype = placement.dtype;
  fs::path model_dir = without_trailing_separator(folder);
  // A pipeline folder: diffusers keeps the checker and its feature extractor side by side.
  if (!fs::exists(model_dir / "config.json") && fs::is_directory(model_dir / "safety_checker")) {
    model_dir /= "safety_checker";
  }
  const fs::path beside = model_dir / "preprocessor_config.json";
  const fs::path sibling =
      model_dir.parent_path() / "feature_extractor" / "preprocessor_config.json";
  const fs::path* preprocessor = fs::is_regular_file(beside)    ? &beside
                                 : fs::is_regular_file(sibling) ? &sibling
                                                                : nullptr;
  // Checked before the weights are read: a folder without its preprocessing is unusable.
  if (!fs::is_regular_file(model_dir / "config.json")) {
    throw Error(ErrorCode::kModelNotFound,
                (model_dir / "config.json").string() + " is missing (not a safety checker folder)");
  }
  if (!preprocessor) {
    throw Error(ErrorCode::kModelNotFound,
                "safety checker: preprocessor_config.json is missing (looked for " +
                    beside.string() + " and " + sibling.string() + ")");
  }
  impl_->preprocessor =
      ClipImageProcessorConfig::from_json(read_json_file(*preprocessor), preprocessor->string());
  impl_->model = build_safety_checker(safety_checker_source(model_dir.string()),
                                      {impl_->dtype, impl_->device});
}

SafetyChecker::~SafetyChecker() = default;
SafetyChecker::SafetyChecker(SafetyChecker&&) noexcept = default;
SafetyChecker& SafetyChecker::operator=(SafetyChecker&&) noexcept = default;

const ClipImageProcessorConfig& SafetyChecker::preprocessor() const { return impl_->preprocessor; }

std::vector<SafetyVerdict> SafetyChecker::check(const std::vector<Image>& images) {
  if (images.empty()) return {};
  std::vector<at::Tensor> batch;
  for (const auto& image : images) {
    auto pixels = clip_preprocess(image, impl_->preprocessor);
    batch.push_back(
        torch::from_blob(pixels.values.data(), {3, pixels.height, pixels.width}, torch::kFloat)
            .clone());
  }
  const auto& first = batch.front();
  for (const auto& t : batch) {
    // Only without center crop can sizes differ; the tower takes one fixed size anyway.
    if (t.sizes() != first.sizes()) {
      throw Error(ErrorCode::kInvalidRequest,
                  "safety checker: preprocessed images differ in size (no center crop)");
    }
  }
  return impl_->run(torch::stack(batch));
}

std::vector<SafetyVerdict> SafetyChecker::check_pixel_values(const std::vector<float>& pixel_values,
                                                             int batch) {
  const auto size = impl_->model->config().vision.image_size;
  if (batch <= 0 || pixel_values.size() != static_cast<std::size_t>(batch) * 3 * size * size) {
    throw Error(ErrorCode::kInvalidRequest, "safety checker: pixel values must be [batch, 3, " +
                                                std::to_string(size) + ", " + std::to_string(size) +
                                                "]");
  }
  auto tensor = torch::from_blob(const_cast<float*>(pixel_values.data()), {batch, 3, size, size},
                                 torch::kFloat);
  return impl_->run(tensor);  // read only: the model never writes to its input
}

}  // namespace workers
