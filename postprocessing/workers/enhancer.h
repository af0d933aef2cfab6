// The image enhancer worker (OpenCV, torch-free): the `postprocess.enhance` options of a request
// (sharpen, brightness, contrast, saturation, CLAHE, denoise, A1111's img2img colour correction)
// parsed from JSON, written back as canonical JSON and as A1111-style infotext, and applied to an
// 8-bit image.
//
// Each operation follows the tool people compare it with, so a value means what it means there:
//   sharpen      PIL's ImageFilter.UnsharpMask(radius, percent = amount * 100, threshold), with
//                PIL's blur (three extended box passes, not a true Gaussian) and integer rounding.
//   brightness   PIL's ImageEnhance.Brightness(factor): blend with black.
//   contrast     PIL's ImageEnhance.Contrast(factor): blend with the grey int(mean + 0.5) of the
//                image's convert("L").
//   saturation   PIL's ImageEnhance.Color(factor): blend with the image's convert("L").
//                (PIL's convert("L") is ITU-R 601 luma in 16-bit fixed point:
//                (r*19595 + g*38470 + b*7471 + 0x8000) >> 16, i.e. 0.299/0.587/0.114 rounded.)
//   clahe        cv::CLAHE(clip_limit, tile_grid x tile_grid) on the L channel of 8-bit LAB.
//   denoise      cv::fastNlMeansDenoisingColored with h = hColor = strength (7 px template, 21 px
//                search window, OpenCV's defaults); the slow one, about seconds per megapixel.
//   color_correction  A1111's img2img colour correction (modules/processing.py
//                apply_color_correction): skimage's match_histograms of the result to the init
//                image, channel-wise on 8-bit LAB, then blendmodes' LUMINOSITY blend that keeps
//                the result's luminosity and takes the matched colours.
// They run in this order: colour correction (it compares with the init image, so it sees the
// result before anything else changes it), denoise (before anything amplifies the noise), CLAHE,
// brightness, contrast, saturation, then sharpen last (so it sharpens the final tones and no later
// step softens it).
//
// Face restoration (GFPGAN, CodeFormer) is refused: it needs face detection and restoration
// networks this engine does not ship.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "utilities/image.h"

namespace workers {

// PIL's UnsharpMask defaults: radius 2, percent 150, threshold 3.
struct SharpenOptions {
  double amount = 1.5;   // 0..5, PIL's percent / 100 (rounded to a whole percent when applied)
  double radius = 2.0;   // 0.1..50, the blur's standard deviation in pixels
  int threshold = 3;     // 0..255, levels a pixel must differ from its blur to be sharpened
  bool operator==(const SharpenOptions& o) const {
    return amount == o.amount && radius == o.radius && threshold == o.threshold;
  }
};

struct ClaheOptions {
  double clip_limit = 2.0;  // 0..40, OpenCV's clipLimit (0: no clipping)
  int tile_grid = 8;        // 1..64, tiles per side
  bool operator==(const ClaheOptions& o) const { return clip_limit == o.clip_limit && tile_grid == o.tile_grid; }
};

struct DenoiseOptions {
  double strength = 3.0;  // 0..30, OpenCV's h and hColor (its default is 3; 0 leaves the image)
  bool operator==(const DenoiseOptions& o) const { return strength == o.strength; }
};

// Every option is optional; an absent one is not applied.
struct EnhanceOptions {
  std::optional<SharpenOptions> sharpen;
  std::optional<double> brightness;  // 0..4, 1 = unchanged
  std::optional<double> contrast;    // 0..4, 1 = unchanged
  std::optional<double> saturation;  // 0..4, 1 = unchanged
  std::optional<ClaheOptions> clahe;
  std::optional<DenoiseOptions> denoise;
  bool color_correction = false;  // needs the init image (img2img, inpaint)

  bool empty() const {
    return !sharpen && !brightness && !contrast && !saturation && !clahe && !denoise && !color_correction;
  }
  bool operator==(const EnhanceOptions& o) const {
    return sharpen == o.sharpen && brightness == o.brightness && contrast == o.contrast &&
           saturation == o.saturation && clahe == o.clahe && denoise == o.denoise &&
           color_correction == o.color_correction;
  }
};

// Reads `object` (the JSON at `field`, e.g. "postprocess.enhance"):
//   {"sharpen": {"amount", "radius", "threshold"}, "brightness", "contrast", "saturation",
//    "clahe": {"clip_limit", "tile_grid"}, "denoise": {"strength"}, "color_correction": bool,
//    "face_restoration": refused}
// Sub-fields left out take the defaults above; null is the same as absent. Throws
// Error(kInvalidRequest) naming the exact field for a wrong type, a value out of bounds, an
// unknown key or any face_restoration.
EnhanceOptions parse_enhance_options(const nlohmann::json& object, const std::string& field);

// The canonical form (the applied options only, every sub-field filled in), for logs and metadata;
// parse_enhance_options reads it back to the same options.
nlohmann::json to_json(const EnhanceOptions& options);

// A1111-style "Key: value" pairs for PNG info, in the order the operations run, e.g.
// "Color correction: True, Denoise: 3, CLAHE: 2, CLAHE grid: 8, Brightness: 1.1, Contrast: 1.2,
// Saturation: 0.9, Sharpen: 1.5, Sharpen radius: 2, Sharpen threshold: 3". A1111 has no keys for
// these (its colour correction is a setting, not written), so the names are ours. "" when empty.
std::string infotext(const EnhanceOptions& options);

// Applies the options to an RGB or grey image in the order above. `init_image` is the img2img
// source, needed by color_correction only (else Error(kInvalidRequest,
// "postprocess.enhance.color_correction")); it may differ in size, and a grey one counts as RGB.
// On a grey image, saturation and colour correction change nothing (there is no colour to change)
// and CLAHE and denoise work on the grey channel itself.
Image enhance(const Image& image, const EnhanceOptions& options, const Image* init_image = nullptr);

}  // namespace workers
