// ControlNet control-map preprocessors that need no neural network, in OpenCV: canny edges,
// scribble (XDoG) and line art (A1111's "scribble_xdog" and "lineart_standard"), MLSD-style
// straight lines (OpenCV's line segment detector), a normal map from a supplied depth map, and
// pass-through for maps the user computed elsewhere (depth, pose, segmentation). Torch-free.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "utilities/image.h"

namespace workers {

// A1111's API names: threshold_a / threshold_b mean what each preprocessor says (see the table in
// docs/protocol.md); absent: the preprocessor's default.
struct ControlPreprocessOptions {
  std::optional<double> threshold_a;
  std::optional<double> threshold_b;
};

struct LineSegment {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// Straight segments of an RGB image at least `min_length` pixels long (OpenCV's LSD on its gray
// form): what the "mlsd" map draws.
std::vector<LineSegment> detect_line_segments(const Image& image, double min_length);

// The names preprocess accepts: the OpenCV ones first, then the pass-through ones.
const std::vector<std::string>& control_preprocessor_names();
// True for the ones that compute something (canny, scribble, lineart, mlsd, normal).
bool is_computed_preprocessor(const std::string& name);

// `image`: RGB (gray is widened). Returns an RGB control map of the same size. Throws
// Error(INVALID_REQUEST, field) for an unknown name, naming the known ones, and for the neural
// preprocessors (openpose, midas, hed, ...) with what to do instead.
Image preprocess_control_image(const Image& image, const std::string& name, const ControlPreprocessOptions& options,
                               const std::string& field);

}  // namespace workers
