// PIL-exact resampling (Pillow's ImagingResample: separable, antialiased convolution with each
// filter's support scaled by the reduction factor, 8-bit fixed-point coefficients and PIL's
// rounding), so images resized here equal what diffusers' and A1111's PIL calls produce.
// Torch-free and OpenCV-free.
#pragma once

#include "utilities/image.h"

namespace workers {

enum class PilFilter { kNearest, kBilinear, kBicubic, kLanczos };

// `image` resized to exactly width × height (both >= 1) with Pillow's Image.resize(size, filter)
// semantics (reducing_gap=None, full box). Channels 1..4 as PIL's L, LA, RGB, RGBA: like PIL,
// LA and RGBA are filtered premultiplied by alpha (except NEAREST, a plain pixel-centre pick).
// Throws std::invalid_argument for an empty or malformed image or a non-positive size.
Image pil_resize(const Image& image, int width, int height, PilFilter filter);

}  // namespace workers
