// PIL-exact resampling: Pillow 9.4's Image.resize for 8-bit images, rewritten from its
// libImaging (Resample.c for the convolution filters, Geometry.c's ImagingScaleAffine for
// NEAREST, Convert.c's premultiplication for LA/RGBA). Every arithmetic step keeps PIL's order
// and types (float box, double coefficients, 22-bit fixed point, truncating casts), because the
// point is equal bytes, not merely a good resize.
#include "utilities/pil_resample.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace workers {
namespace {

// 8 bits of result, 2 bits of headroom (filters with negative lobes sum past 0..255), int32.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr double kPi = 3.14159265358979323846;  // M_PI, which C++17 does not promise

double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double bicubic_filter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double sinc_filter(double x) {
  if (x == 0.0) return 1.0;
  x = x * kPi;
  return std::sin(x) / x;
}

double lanczos_filter(double x) {
  if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
  return 0.0;
}

struct Filter {
  double (*function)(double);
  double support;
};

// Coefficients for one axis: output index i reads `count[i]` inputs from `first[i]` with the
// fixed-point weights at kernel[i * ksize].
struct AxisCoefficients {
  int ksize = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<std::int32_t> kernel;
};

// PIL's precompute_coeffs + normalize_coeffs_8bpc for the box [in0, in1) of an axis of `in_size`
// pixels. in0/in1 are floats in PIL (the Python box goes through a float[4]); kept so.
AxisCoefficients precompute_coeffs(int in_size, float in0, float in1, int out_size, const Filter& filter) {
  double scale = static_cast<double>(in1 - in0) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  // Reducing widens the filter by the reduction factor: that is the antialiasing.
  const double support = filter.support * filterscale;
  AxisCoefficients c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(out_size);
  c.count.resize(out_size);
  c.kernel.assign(static_cast<std::size_t>(out_size) * c.ksize, 0);
  std::vector<double> k(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    // Truncating casts on purpose (PIL's "round"); negative starts are clipped right after.
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter.function((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    std::int32_t* fixed = &c.kernel[static_cast<std::size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      // Divide (not multiply by 1/ww) as PIL does; the last bit decides some roundings.
      const double normalised = ww != 0.0 ? k[x] / ww : k[x];
      fixed[x] = normalised < 0 ? static_cast<std::int32_t>(-0.5 + normalised * (1 << kPrecisionBits))
                                : static_cast<std::int32_t>(0.5 + normalised * (1 << kPrecisionBits));
    }
    c.first[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

// PIL's clip8: drop the fixed-point fraction (arithmetic shift, so negatives floor) and clamp;
// PIL's lookup table covers -640..639, far beyond what normalised kernels can reach.
inline std::uint8_t clip8(std::int32_t sum) {
  const std::int32_t v = sum >> kPrecisionBits;
  return static_cast<std::uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// Horizontal pass over every row (PIL restricts it to the rows the vertical pass reads; the rows
// it skips are never used, so the result is the same).
Image resample_horizontal(const Image& in, int out_width, const AxisCoefficients& c) {
  const int ch = in.channels;
  Image out{out_width, in.height, ch, std::vector<std::uint8_t>(static_cast<std::size_t>(out_width) * in.height * ch)};
  for (int y = 0; y < in.height; ++y) {
    const std::uint8_t* row = &in.pixels[static_cast<std::size_t>(y) * in.width * ch];
    std::uint8_t* out_row = &out.pixels[static_cast<std::size_t>(y) * out_width * ch];
    for (int xx = 0; xx < out_width; ++xx) {
      const std::int32_t* k = &c.kernel[static_cast<std::size_t>(xx) * c.ksize];
      const std::uint8_t* src = row + static_cast<std::size_t>(c.first[xx]) * ch;
      for (int b = 0; b < ch; ++b) {
        std::int32_t sum = 1 << (kPrecisionBits - 1);  // +0.5: round half up
        for (int x = 0; x < c.count[xx]; ++x) sum += src[x * ch + b] * k[x];
        out_row[xx * ch + b] = clip8(sum);
      }
    }
  }
  return out;
}

Image resample_vertical(const Image& in, int out_height, const AxisCoefficients& c) {
  const int ch = in.channels;
  const std::size_t stride = static_cast<std::size_t>(in.width) * ch;
  Image out{in.width, out_height, ch, std::vector<std::uint8_t>(stride * out_height)};
  for (int yy = 0; yy < out_height; ++yy) {
    const std::int32_t* k = &c.kernel[static_cast<std::size_t>(yy) * c.ksize];
    const std::uint8_t* src = &in.pixels[static_cast<std::size_t>(c.first[yy]) * stride];
    std::uint8_t* out_row = &out.pixels[static_cast<std::size_t>(yy) * stride];
    for (std::size_t i = 0; i < stride; ++i) {
      std::int32_t sum = 1 << (kPrecisionBits - 1);
      for (int y = 0; y < c.count[yy]; ++y) sum += src[y * stride + i] * k[y];
      out_row[i] = clip8(sum);
    }
  }
  return out;
}

// ImagingResampleInner with the full box: horizontal pass first (its 8-bit result feeds the
// vertical one, so the order is part of the output), each pass only when its size changes.
Image resample(const Image& image, int width, int height, const Filter& filter) {
  Image current = image;
  if (width != image.width) {
    current = resample_horizontal(
        current, width,
        precompute_coeffs(image.width, 0.0f, static_cast<float>(image.width), width, filter));
  }
  if (height != image.height) {
    current = resample_vertical(
        current, height,
        precompute_coeffs(image.height, 0.0f, static_cast<float>(image.height), height, filter));
  }
  return current;
}

// Image.resize(NEAREST) never reaches ImagingResample: _imaging.c maps it to an affine transform
// (a[0] = in/out width, a[4] = in/out height) that ImagingScaleAffine samples at pixel centres
// by accumulating the step (xo += a[0]), which is not the same double as x * a[0] + ... .
Image nearest(const Image& image, int width, int height) {
  const int ch = image.channels;
  const double a0 = static_cast<double>(static_cast<float>(image.width) - 0.0f) / width;
  const double a4 = static_cast<double>(static_cast<float>(image.height) - 0.0f) / height;
  // PIL's COORD: negative coordinates are outside (-1), others truncate.
  const auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int>(v); };
  std::vector<int> xin(width, -1);
  double xo = 0.0 + a0 * 0.5;
  for (int x = 0; x < width; ++x) {
    const int xi = coord(xo);
    if (xi >= 0 && xi < image.width) xin[x] = xi;
    xo += a0;
  }
  // Pixels mapped outside the source stay 0 (PIL's fill); with the full box none are.
  Image out{width, height, ch, std::vector<std::uint8_t>(static_cast<std::size_t>(width) * height * ch, 0)};
  double yo = 0.0 + a4 * 0.5;
  for (int y = 0; y < height; ++y) {
    const int yi = coord(yo);
    if (yi >= 0 && yi < image.height) {
      const std::uint8_t* row = &image.pixels[static_cast<std::size_t>(yi) * image.width * ch];
      std::uint8_t* out_row = &out.pixels[static_cast<std::size_t>(y) * width * ch];
      for (int x = 0; x < width; ++x) {
        if (xin[x] < 0) continue;
        std::copy_n(row + static_cast<std::size_t>(xin[x]) * ch, ch, out_row + static_cast<std::size_t>(x) * ch);
      }
    }
    yo += a4;
  }
  return out;
}

// Convert.c's rgbA2rgba / lA2la: colour × alpha / 255 with PIL's rounding shortcut.
void premultiply(Image& image) {
  const int ch = image.channels;
  for (std::size_t i = 0; i < image.pixels.size(); i += ch) {
    const unsigned alpha = image.pixels[i + ch - 1];
    for (int b = 0; b < ch - 1; ++b) {
      const unsigned tmp = image.pixels[i + b] * alpha + 128;
      image.pixels[i + b] = static_cast<std::uint8_t>(((tmp >> 8) + tmp) >> 8);
    }
  }
}

// Convert.c's rgba2rgbA / la2lA: back to straight alpha, truncating division, clamped (a
// resampled colour can exceed its alpha where the kernel overshoots).
void unpremultiply(Image& image) {
  const int ch = image.channels;
  for (std::size_t i = 0; i < image.pixels.size(); i += ch) {
    const unsigned alpha = image.pixels[i + ch - 1];
    if (alpha == 0 || alpha == 255) continue;
    for (int b = 0; b < ch - 1; ++b) {
      const unsigned v = 255u * image.pixels[i + b] / alpha;
      image.pixels[i + b] = static_cast<std::uint8_t>(v > 255 ? 255 : v);
    }
  }
}

}  // namespace

Image pil_resize(const Image& image, int width, int height, PilFilter filter) {
  if (image.width <= 0 || image.height <= 0 || image.channels < 1 || image.channels > 4 ||
      image.pixels.size() != static_cast<std::size_t>(image.width) * image.height * image.channels) {
    throw std::invalid_argument("pil_resize: empty or malformed image (" + std::to_string(image.width) + "x" +
                                std::to_string(image.height) + "x" + std::to_string(image.channels) + ")");
  }
  if (width <= 0 || height <= 0) {
    throw std::invalid_argument("pil_resize: target size must be positive, got " + std::to_string(width) + "x" +
                                std::to_string(height));
  }
  // Image.resize returns a copy when nothing changes, whatever the filter.
  if (width == image.width && height == image.height) return image;
  if (filter == PilFilter::kNearest) return nearest(image, width, height);

  Filter f{};
  switch (filter) {
    case PilFilter::kBilinear: f = {bilinear_filter, 1.0}; break;
    case PilFilter::kBicubic: f = {bicubic_filter, 2.0}; break;
    case PilFilter::kLanczos: f = {lanczos_filter, 3.0}; break;
    case PilFilter::kNearest: break;  // handled above
  }
  // 2 and 4 channels are PIL's LA and RGBA, which Image.resize filters premultiplied (La/RGBa)
  // so that transparent pixels' colours do not bleed into visible ones.
  const bool has_alpha = image.channels == 2 || image.channels == 4;
  if (!has_alpha) return resample(image, width, height, f);
  Image premultiplied = image;
  premultiply(premultiplied);
  Image out = resample(premultiplied, width, height, f);
  unpremultiply(out);
  return out;
}

}  // namespace workers
