// PostprocessingInstructor: owns where outputs go (the output root, created and checked at
// start-up) and, with the postprocessing work, the encoders, thumbnails and safety checker.
#pragma once

#include <nlohmann/json.hpp>

#include "utilities/config.h"

namespace workers {

class PostprocessingInstructor {
 public:
  explicit PostprocessingInstructor(PostprocessingConfig config);

  // Checks the output root is usable (a folder, or absent: it is created on first write);
  // throws Error(CONFIG_ERROR) otherwise.
  void initialize();
  nlohmann::json status() const;

 private:
  PostprocessingConfig config_;
};

}  // namespace workers
