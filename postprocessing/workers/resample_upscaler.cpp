#include "postprocessing/workers/resample_upscaler.h"

#include <algorithm>
#include <cctype>

namespace workers {
namespace {

struct FilterName {
  const char* key;   // lower case, as matched
  const char* name;  // as A1111 shows it
  PilFilter filter;
};
constexpr FilterName kFilters[] = {{"lanczos", "Lanczos", PilFilter::kLanczos},
                                   {"bicubic", "Bicubic", PilFilter::kBicubic},
                                   {"bilinear", "Bilinear", PilFilter::kBilinear},
                                   {"nearest", "Nearest", PilFilter::kNearest}};

}  // namespace

std::optional<PilFilter> resampling_filter(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& f : kFilters) {
    if (lower == f.key) return f.filter;
  }
  return std::nullopt;
}

std::vector<std::string> resampling_filter_names() {
  std::vector<std::string> names;
  for (const auto& f : kFilters) names.emplace_back(f.key);
  return names;
}

ResampleUpscaler::ResampleUpscaler(PilFilter filter) : filter_(filter) {}

std::string ResampleUpscaler::name() const {
  for (const auto& f : kFilters) {
    if (f.filter == filter_) return f.name;
  }
  return "Lanczos";
}

Image ResampleUpscaler::upscale(const Image& image, int width, int height) {
  return pil_resize(image, width, height, filter_);
}

}  // namespace workers
