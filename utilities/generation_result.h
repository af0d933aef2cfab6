// GenerationResult: what a generation job produces (images, their metadata, the response's data,
// warnings) as it travels from the pipeline through the postprocessing stages to the response.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "utilities/image.h"

namespace workers {

struct GenerationResult {
  nlohmann::json data = nlohmann::json::object();  // the response's `data` (assets, seed, timings)
  std::vector<std::string> warnings;
  // Generated images and what they were made with; postprocessing turns them into data.assets.
  std::vector<Image> images;
  nlohmann::json metadata = nlohmann::json::object();
};

}  // namespace workers
