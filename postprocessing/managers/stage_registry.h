// StageRegistry: postprocessing stages by name, each with the factory that builds it from the
// config. Adding a stage is one worker file plus one `add` line in default_stage_registry().
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "postprocessing/managers/postprocessing_stage.h"
#include "utilities/config.h"

namespace workers {

// What the manager checks a configured stage list against.
struct StageTraits {
  std::vector<std::string> after;   // stages that must come before this one in a list
  std::vector<std::string> before;  // stages that must come after this one in a list
  bool writes_outputs = false;     // turns the images into data.assets (a list needs one)
};

class StageRegistry {
 public:
  using Factory = std::function<std::shared_ptr<PostprocessingStage>(const PostprocessingConfig&)>;

  // Throws std::invalid_argument when `name` is already registered or `factory` is empty: a
  // silent replacement would let a host's stage shadow a production one unnoticed.
  void add(const std::string& name, Factory factory, StageTraits traits = {});
  bool has(const std::string& name) const;
  // The traits `add` was given (default traits for an unknown name).
  StageTraits traits(const std::string& name) const;
  // Registered names, sorted.
  std::vector<std::string> names() const;
  // Throws Error(CONFIG_ERROR, field workers.instructors.postprocessing.stages) for an unknown
  // name, listing the known ones.
  std::shared_ptr<PostprocessingStage> make(const std::string& name,
                                            const PostprocessingConfig& config) const;

 private:
  std::map<std::string, Factory> factories_;
  std::map<std::string, StageTraits> traits_;
};

class UpscalerManager;
class SafetyCheckerManager;

// What the model-backed and input-reading stages are built over (null: the stage is not
// registered, so a configuration that lists it fails at start-up naming it).
struct StageServices {
  std::shared_ptr<UpscalerManager> upscalers;
  std::shared_ptr<SafetyCheckerManager> safety;
  // Reads an image a request names (the init image, for colour correction) inside the image roots.
  std::function<Image(const std::string& path, const std::string& field)> read_image;
};

// The production stages: "safety_check", "upscale", "enhance" (each for the jobs that ask),
// "encode" (files / base64 and metadata) and "thumbnail" (256 px WEBP).
std::shared_ptr<StageRegistry> default_stage_registry(const StageServices& services = {});

}  // namespace workers
