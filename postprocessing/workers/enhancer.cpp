#include "postprocessing/workers/enhancer.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <vector>

#include <opencv2/imgproc.hpp>
#include <opencv2/photo.hpp>

#include "utilities/cv_image.h"
#include "utilities/error.h"
#include "utilities/json_fields.h"

namespace workers {
namespace {

constexpr const char* kColorCorrectionField = "postprocess.enhance.color_correction";

// ---------------------------------------------------------------------------------------------
// Parsing

// Whole numbers print without a fraction ("between 0 and 5", not "0.0 and 5.0").
std::string number_text(double value) {
  if (value == std::floor(value) && std::fabs(value) < 1e15) return std::to_string(static_cast<long long>(value));
  std::ostringstream s;
  s << value;
  return s.str();
}

void check_bounds(const FieldReader& r, const std::string& key, double value, double lo, double hi) {
  if (value < lo || value > hi) {
    throw_invalid(r.field(key), "must be between " + number_text(lo) + " and " + number_text(hi) + ", got " +
                                    number_text(value));
  }
}

double bounded_number(FieldReader& r, const std::string& key, double lo, double hi, double fallback) {
  const auto value = r.number(key);
  if (!value) return fallback;
  check_bounds(r, key, *value, lo, hi);
  return *value;
}

// An ImageEnhance factor: 0..4, 1 = unchanged; absent (or null) = not applied.
std::optional<double> optional_factor(FieldReader& r, const std::string& key) {
  const auto value = r.number(key);
  if (value) check_bounds(r, key, *value, 0.0, 4.0);
  return value;
}

int bounded_integer(FieldReader& r, const std::string& key, int lo, int hi, int fallback) {
  const auto value = r.integer(key);
  if (!value) return fallback;
  if (*value < lo || *value > hi) {
    throw_invalid(r.field(key), "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                                    ", got " + std::to_string(*value));
  }
  return static_cast<int>(*value);
}

void refuse_unknown(const FieldReader& r, const std::string& known) {
  const auto unknown = r.unread();
  if (!unknown.empty()) throw_invalid(unknown.front(), "unknown enhance option (known: " + known + ")");
}

// ---------------------------------------------------------------------------------------------
// PIL's arithmetic, reproduced operation for operation so results match PIL's to the level.

// convert("L"): Convert.c's L24 macro, ITU-R 601-2 luma in 16-bit fixed point (weights sum to 65536,
// so a grey pixel keeps its level; + 0x8000 rounds halves up).
inline std::uint8_t pil_luma(const std::uint8_t* rgb) {
  return static_cast<std::uint8_t>((rgb[0] * 19595u + rgb[1] * 38470u + rgb[2] * 7471u + 0x8000u) >> 16);
}

// Blend.c's ImagingBlend for one sample: in1 + alpha * (in2 - in1) in float, truncated, clipped
// only when extrapolating (alpha outside 0..1).
inline std::uint8_t pil_blend(int in1, int in2, float alpha) {
  if (alpha == 0.0f) return static_cast<std::uint8_t>(in1);
  if (alpha == 1.0f) return static_cast<std::uint8_t>(in2);
  const float value = static_cast<float>(in1) + alpha * static_cast<float>(in2 - in1);
  if (alpha >= 0.0f && alpha <= 1.0f) return static_cast<std::uint8_t>(value);
  if (value <= 0.0f) return 0;
  if (value >= 255.0f) return 255;
  return static_cast<std::uint8_t>(value);
}

// ImageEnhance._Enhance.enhance: Image.blend(degenerate, image, factor). `degenerate(i)` is the
// degenerate image's sample at index i.
template <typename Degenerate>
Image pil_enhance(const Image& image, double factor, Degenerate degenerate) {
  Image out = image;
  const float alpha = static_cast<float>(factor);  // PIL hands the factor to C as a float
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    out.pixels[i] = pil_blend(degenerate(i), image.pixels[i], alpha);
  }
  return out;
}

std::vector<std::uint8_t> pil_gray(const Image& image) {
  if (image.channels == 1) return image.pixels;
  std::vector<std::uint8_t> gray(static_cast<std::size_t>(image.width) * image.height);
  for (std::size_t p = 0; p < gray.size(); ++p) gray[p] = pil_luma(&image.pixels[p * 3]);
  return gray;
}

Image brightness(const Image& image, double factor) {
  return pil_enhance(image, factor, [](std::size_t) { return 0; });
}

// ImageEnhance.Contrast: the degenerate image is flat grey at int(mean + 0.5) of convert("L"),
// the mean taken as ImageStat does (from the histogram, in double).
Image contrast(const Image& image, double factor) {
  const auto gray = pil_gray(image);
  std::uint64_t sum = 0;
  for (auto v : gray) sum += v;
  const double mean = gray.empty() ? 0.0 : static_cast<double>(sum) / static_cast<double>(gray.size());
  const int level = static_cast<int>(mean + 0.5);
  return pil_enhance(image, factor, [level](std::size_t) { return level; });
}

// ImageEnhance.Color: the degenerate image is convert("L").convert(mode), grey in every channel.
Image saturation(const Image& image, double factor) {
  if (image.channels == 1) return image;  // convert("L") of a grey image is itself
  const auto gray = pil_gray(image);
  return pil_enhance(image, factor, [&gray](std::size_t i) { return gray[i / 3]; });
}

// BoxBlur.c's ImagingGaussianBlur: the box radius (integer part + fraction) whose `passes`
// repetitions approximate a Gaussian of standard deviation `radius` (Gwosdek et al., SSVM 2011),
// computed in the same float/double mix as the C code.
float pil_box_radius(float radius, int passes) {
  const float sigma2 = radius * radius / static_cast<float>(passes);
  const float big_l = static_cast<float>(std::sqrt(12.0 * sigma2 + 1.0));
  const float l = static_cast<float>(std::floor((big_l - 1.0) / 2.0));
  float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
  a /= 6 * (sigma2 - (l + 1) * (l + 1));
  return l + a;
}

// One ImagingHorizontalBoxBlur pass over `lines` lines of `length` samples, `step` bytes apart
// (the sample stride), lines `line_step` bytes apart. The window is the 2r+1 samples around x at
// weight ww plus the two next ones at weight fw (the fractional radius), with samples beyond the
// ends repeating the edge; sums are 8.24 fixed point, rounded. Writes `out`, reads `in`.
void pil_box_blur_pass(const std::uint8_t* in, std::uint8_t* out, int lines, int length, std::size_t step,
                       std::size_t line_step, float float_radius) {
  const int radius = static_cast<int>(float_radius);
  const auto ww = static_cast<std::uint32_t>(static_cast<float>(1u << 24) / (float_radius * 2 + 1));
  const std::uint32_t fw = ((1u << 24) - static_cast<std::uint32_t>(radius * 2 + 1) * ww) / 2;
  const int last = length - 1;
  auto at = [&](const std::uint8_t* line, int x) -> std::uint32_t {
    return line[static_cast<std::size_t>(std::clamp(x, 0, last)) * step];
  };
  for (int y = 0; y < lines; ++y) {
    const std::uint8_t* line = in + static_cast<std::size_t>(y) * line_step;
    std::uint8_t* target = out + static_cast<std::size_t>(y) * line_step;
    // The window sum for x = -1: samples -r-1 .. r-1.
    std::uint32_t acc = 0;
    for (int k = -radius - 1; k <= radius - 1; ++k) acc += at(line, k);
    for (int x = 0; x <= last; ++x) {
      acc += at(line, x + radius);
      acc -= at(line, x - radius - 1);
      const std::uint32_t bulk = acc * ww + (at(line, x - radius - 1) + at(line, x + radius + 1)) * fw;
      target[static_cast<std::size_t>(x) * step] = static_cast<std::uint8_t>((bulk + (1u << 23)) >> 24);
    }
  }
}

// ImagingBoxBlur with 3 passes: three horizontal passes, then three vertical ones, each rounded to
// 8 bits as PIL stores it.
Image pil_gaussian_blur(const Image& image, float radius) {
  constexpr int kPasses = 3;
  const float box = pil_box_radius(radius, kPasses);
  Image a = image, b = image;
  const std::size_t c = image.channels;
  const std::size_t row = static_cast<std::size_t>(image.width) * c;
  for (int pass = 0; pass < kPasses; ++pass) {
    for (std::size_t ch = 0; ch < c; ++ch) {
      pil_box_blur_pass(a.pixels.data() + ch, b.pixels.data() + ch, image.height, image.width, c, row, box);
    }
    std::swap(a, b);
  }
  for (int pass = 0; pass < kPasses; ++pass) {
    for (std::size_t ch = 0; ch < c; ++ch) {
      pil_box_blur_pass(a.pixels.data() + ch, b.pixels.data() + ch, image.width, image.height, row, c, box);
    }
    std::swap(a, b);
  }
  return a;
}

// UnsharpMask.c: where a sample differs from its blur by more than `threshold` levels, add
// diff * percent / 100 (integer division, truncating) and clip; elsewhere keep it.
Image unsharp_mask(const Image& image, const SharpenOptions& options) {
  const int percent = static_cast<int>(std::lround(options.amount * 100.0));  // PIL takes an int
  if (percent == 0) return image;  // adds nothing anywhere
  const Image blurred = pil_gaussian_blur(image, static_cast<float>(options.radius));
  Image out = image;
  for (std::size_t i = 0; i < image.pixels.size(); ++i) {
    const int in = image.pixels[i];
    const int diff = in - blurred.pixels[i];
    if (std::abs(diff) > options.threshold) out.pixels[i] = static_cast<std::uint8_t>(std::clamp(in + diff * percent / 100, 0, 255));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// OpenCV operations

Image clahe(const Image& image, const ClaheOptions& options) {
  auto equalizer = cv::createCLAHE(options.clip_limit, cv::Size(options.tile_grid, options.tile_grid));
  if (image.channels == 1) {
    cv::Mat out;
    equalizer->apply(as_mat(image), out);
    return from_mat(out);
  }
  cv::Mat lab;
  cv::cvtColor(as_mat(image), lab, cv::COLOR_RGB2Lab);
  std::vector<cv::Mat> planes;
  cv::split(lab, planes);
  cv::Mat lightness;
  equalizer->apply(planes[0], lightness);
  planes[0] = lightness;
  cv::merge(planes, lab);
  cv::Mat rgb;
  cv::cvtColor(lab, rgb, cv::COLOR_Lab2RGB);
  return from_mat(rgb);
}

Image denoise(const Image& image, const DenoiseOptions& options) {
  // h = 0 would divide by zero in OpenCV's weights; it means "no filtering" anyway.
  if (options.strength <= 0.0) return image;
  const auto h = static_cast<float>(options.strength);
  cv::Mat out;
  if (image.channels == 1) {
    cv::fastNlMeansDenoising(as_mat(image), out, h, 7, 21);
    return from_mat(out);
  }
  // OpenCV reads colour images as BGR (it converts to Lab inside); hand it BGR so h and hColor
  // weigh the channels it means them to.
  cv::Mat bgr;
  cv::cvtColor(as_mat(image), bgr, cv::COLOR_RGB2BGR);
  cv::fastNlMeansDenoisingColored(bgr, out, h, h, 7, 21);
  cv::Mat rgb;
  cv::cvtColor(out, rgb, cv::COLOR_BGR2RGB);
  return from_mat(rgb);
}

// ---------------------------------------------------------------------------------------------
// A1111's colour correction

// skimage.exposure.match_histograms on one uint8 channel (its _match_cumulative_cdf, unsigned
// branch): each source level's quantile (cumulative count / size) is looked up with np.interp in
// the reference's quantiles over the levels the reference uses; match_histograms writes the float
// result into a uint8 array, which truncates. `source` and `reference` hold the channel's samples,
// `stride` apart.
void match_channel(std::uint8_t* source, std::size_t source_count, const std::uint8_t* reference,
                   std::size_t reference_count, std::size_t stride) {
  std::array<std::uint64_t, 256> src_counts{}, ref_counts{};
  for (std::size_t i = 0; i < source_count; ++i) ++src_counts[source[i * stride]];
  for (std::size_t i = 0; i < reference_count; ++i) ++ref_counts[reference[i * stride]];
  // The reference's levels in use (np.nonzero) and their quantiles, strictly increasing.
  std::vector<double> xp, fp;
  std::uint64_t cumulative = 0;
  for (int v = 0; v < 256; ++v) {
    if (ref_counts[v] == 0) continue;
    cumulative += ref_counts[v];
    xp.push_back(static_cast<double>(cumulative) / static_cast<double>(reference_count));
    fp.push_back(v);
  }
  // np.interp(x, xp, fp) as numpy computes it: fp[0] left of xp, fp[-1] right of it (and at its
  // last point), fp[j] on a point, else slope * (x - xp[j]) + fp[j].
  auto interp = [&](double x) {
    const std::size_t n = xp.size();
    if (x < xp[0]) return fp[0];
    if (x >= xp[n - 1]) return fp[n - 1];
    const std::size_t j = static_cast<std::size_t>(std::upper_bound(xp.begin(), xp.end(), x) - xp.begin()) - 1;
    if (xp[j] == x) return fp[j];
    const double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    return slope * (x - xp[j]) + fp[j];
  };
  std::array<std::uint8_t, 256> lookup{};
  cumulative = 0;
  for (int v = 0; v < 256; ++v) {
    cumulative += src_counts[v];
    const double quantile = static_cast<double>(cumulative) / static_cast<double>(source_count);
    lookup[v] = static_cast<std::uint8_t>(interp(quantile));  // in 0..255: a blend of used levels
  }
  for (std::size_t i = 0; i < source_count; ++i) source[i * stride] = lookup[source[i * stride]];
}

// blendmodes' _lum: 0.299 R + 0.587 G + 0.114 B on 0..1 values, summed left to right.
inline double blend_lum(const double* c) { return (c[0] * 0.299) + (c[1] * 0.587) + (c[2] * 0.114); }

// A1111's apply_color_correction(correction = LAB of the init image, original_image = result):
//   matched = LAB2RGB(match_histograms(RGB2LAB(result), correction, channel_axis=2))
//   blendLayers(matched, result, BlendType.LUMINOSITY).convert("RGB")
// The LUMINOSITY blend (blendmodes' _setLum(background = matched, _lum(foreground = result)))
// shifts the matched colour so its luminosity is the result's, pulls it back into 0..1 toward its
// luminosity where it left that range, and rounds (numpy rounds halves to even) to 8 bits. Both
// layers are opaque, so blendLayers' alpha compositing reduces to that blend. The LAB conversions
// are OpenCV's 8-bit ones, as cv2's are in A1111, and the arithmetic is numpy's, in double and in
// the same order, so the result matches A1111's to the level (the tests check one image).
Image color_correction(const Image& image, const Image& init) {
  cv::Mat init_rgb;
  if (init.channels == 1) cv::cvtColor(as_mat(init), init_rgb, cv::COLOR_GRAY2RGB);
  else init_rgb = as_mat(init);
  cv::Mat reference, lab;
  cv::cvtColor(init_rgb, reference, cv::COLOR_RGB2Lab);
  cv::cvtColor(as_mat(image), lab, cv::COLOR_RGB2Lab);
  const std::size_t n = static_cast<std::size_t>(image.width) * image.height;
  const std::size_t n_ref = static_cast<std::size_t>(init.width) * init.height;
  for (int ch = 0; ch < 3; ++ch) match_channel(lab.data + ch, n, reference.data + ch, n_ref, 3);
  cv::Mat matched;
  cv::cvtColor(lab, matched, cv::COLOR_Lab2RGB);

  Image out = image;
  for (std::size_t p = 0; p < n; ++p) {
    double fg[3], c[3];
    for (int k = 0; k < 3; ++k) {
      fg[k] = image.pixels[p * 3 + k] / 255.0;
      c[k] = matched.data[p * 3 + k] / 255.0;
    }
    const double delta = blend_lum(fg) - blend_lum(c);
    for (double& v : c) v += delta;
    const double lum = blend_lum(c);
    const double lo = std::min({c[0], c[1], c[2]});
    const double hi = std::max({c[0], c[1], c[2]});
    if (lo < 0) {
      for (double& v : c) v = lum + (((v - lum) * lum) / (lum - lo));
    }
    if (hi > 1) {
      for (double& v : c) v = lum + (((v - lum) * (1 - lum)) / (hi - lum));
    }
    for (int k = 0; k < 3; ++k) {
      // NaN (0 / 0 for a grey pixel pushed a hair below 0) becomes 0, as numpy's cast gives on x86.
      const double v = std::isnan(c[k]) ? 0.0 : std::clamp(c[k], 0.0, 1.0);
      out.pixels[p * 3 + k] = static_cast<std::uint8_t>(std::nearbyint(v * 255.0));
    }
  }
  return out;
}

void check_image(const Image& image, const char* what) {
  const bool ok = (image.channels == 1 || image.channels == 3) && image.width >= 0 && image.height >= 0 &&
                  image.pixels.size() == static_cast<std::size_t>(image.width) * image.height * image.channels;
  if (!ok) {
    throw Error(ErrorCode::kInternalError, std::string("enhance: the ") + what +
                                               " is not an 8-bit RGB or grey image of its stated size");
  }
}

// Infotext numbers as A1111 prints them: 2 not 2.0, 0.7 not 0.69999.
std::string infotext_number(double value) {
  std::ostringstream s;
  s << value;
  return s.str();
}

}  // namespace

EnhanceOptions parse_enhance_options(const nlohmann::json& object, const std::string& field) {
  FieldReader r(object, field);
  EnhanceOptions options;

  if (const auto* face = r.raw("face_restoration")) {
    throw Error(ErrorCode::kInvalidRequest,
                r.field("face_restoration") + ": face restoration (GFPGAN, CodeFormer) is not available: it needs "
                "face detection and restoration networks this engine does not ship; run it in A1111 or ComfyUI "
                "(or on the output with their standalone postprocessing) instead; got " + face->dump(),
                r.field("face_restoration"));
  }

  if (const auto* sharpen = r.object("sharpen")) {
    FieldReader s(*sharpen, r.field("sharpen"));
    SharpenOptions o;
    o.amount = bounded_number(s, "amount", 0.0, 5.0, o.amount);
    o.radius = bounded_number(s, "radius", 0.1, 50.0, o.radius);
    o.threshold = bounded_integer(s, "threshold", 0, 255, o.threshold);
    refuse_unknown(s, "amount, radius, threshold");
    options.sharpen = o;
  }
  options.brightness = optional_factor(r, "brightness");
  options.contrast = optional_factor(r, "contrast");
  options.saturation = optional_factor(r, "saturation");
  if (const auto* clahe = r.object("clahe")) {
    FieldReader c(*clahe, r.field("clahe"));
    ClaheOptions o;
    o.clip_limit = bounded_number(c, "clip_limit", 0.0, 40.0, o.clip_limit);
    o.tile_grid = bounded_integer(c, "tile_grid", 1, 64, o.tile_grid);
    refuse_unknown(c, "clip_limit, tile_grid");
    options.clahe = o;
  }
  if (const auto* denoise = r.object("denoise")) {
    FieldReader d(*denoise, r.field("denoise"));
    DenoiseOptions o;
    o.strength = bounded_number(d, "strength", 0.0, 30.0, o.strength);
    refuse_unknown(d, "strength");
    options.denoise = o;
  }
  options.color_correction = r.boolean("color_correction").value_or(false);
  refuse_unknown(r, "sharpen, brightness, contrast, saturation, clahe, denoise, color_correction");
  return options;
}

nlohmann::json to_json(const EnhanceOptions& options) {
  auto out = nlohmann::json::object();
  if (options.sharpen) {
    out["sharpen"] = {{"amount", options.sharpen->amount},
                      {"radius", options.sharpen->radius},
                      {"threshold", options.sharpen->threshold}};
  }
  if (options.brightness) out["brightness"] = *options.brightness;
  if (options.contrast) out["contrast"] = *options.contrast;
  if (options.saturation) out["saturation"] = *options.saturation;
  if (options.clahe) out["clahe"] = {{"clip_limit", options.clahe->clip_limit}, {"tile_grid", options.clahe->tile_grid}};
  if (options.denoise) out["denoise"] = {{"strength", options.denoise->strength}};
  if (options.color_correction) out["color_correction"] = true;
  return out;
}

std::string infotext(const EnhanceOptions& options) {
  std::vector<std::pair<std::string, std::string>> pairs;
  if (options.color_correction) pairs.emplace_back("Color correction", "True");
  if (options.denoise) pairs.emplace_back("Denoise", infotext_number(options.denoise->strength));
  if (options.clahe) {
    pairs.emplace_back("CLAHE", infotext_number(options.clahe->clip_limit));
    pairs.emplace_back("CLAHE grid", std::to_string(options.clahe->tile_grid));
  }
  if (options.brightness) pairs.emplace_back("Brightness", infotext_number(*options.brightness));
  if (options.contrast) pairs.emplace_back("Contrast", infotext_number(*options.contrast));
  if (options.saturation) pairs.emplace_back("Saturation", infotext_number(*options.saturation));
  if (options.sharpen) {
    pairs.emplace_back("Sharpen", infotext_number(options.sharpen->amount));
    pairs.emplace_back("Sharpen radius", infotext_number(options.sharpen->radius));
    pairs.emplace_back("Sharpen threshold", std::to_string(options.sharpen->threshold));
  }
  std::string out;
  for (const auto& [key, value] : pairs) out += (out.empty() ? "" : ", ") + key + ": " + value;
  return out;
}

Image enhance(const Image& image, const EnhanceOptions& options, const Image* init_image) {
  check_image(image, "image");
  if (options.color_correction) {
    if (!init_image) {
      throw_invalid(kColorCorrectionField,
                    "needs the init image (img2img or inpaint): it matches the result's colours to it");
    }
    check_image(*init_image, "init image");
    if (init_image->width == 0 || init_image->height == 0) throw_invalid(kColorCorrectionField, "the init image is empty");
  }
  if (image.width == 0 || image.height == 0) return image;

  Image out = image;
  if (options.color_correction && out.channels == 3) out = color_correction(out, *init_image);
  if (options.denoise) out = denoise(out, *options.denoise);
  if (options.clahe) out = clahe(out, *options.clahe);
  if (options.brightness) out = brightness(out, *options.brightness);
  if (options.contrast) out = contrast(out, *options.contrast);
  if (options.saturation) out = saturation(out, *options.saturation);
  if (options.sharpen) out = unsharp_mask(out, *options.sharpen);
  return out;
}

}  // namespace workers
