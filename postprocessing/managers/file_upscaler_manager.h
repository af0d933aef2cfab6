// FileUpscalerManager: the production UpscalerManager. Resampling filters by name; models are
// .pth / .safetensors files under the upscaler roots (by file name, stem, or A1111's display
// name such as "R-ESRGAN 4x+"), loaded once as NeuralUpscalers and kept (the last few used).
#pragma once

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "models/io/model_registry.h"
#include "postprocessing/managers/upscaler_manager.h"

namespace workers {

class NeuralUpscaler;

struct UpscalerManagerOptions {
  std::vector<std::string> roots;         // workers.instructors.model.upscaler_roots
  std::vector<std::string> link_targets;  // workers.instructors.model.trusted_link_targets
  int tile = 256;                         // workers.instructors.postprocessing.upscale_tile
  std::string device = "cpu";             // the device policy's choice
  std::string dtype = "float32";
  std::size_t max_loaded = 2;             // models kept loaded (least recently used dropped)
};

// A1111's display names of the Real-ESRGAN models, by the file stem they stand for; "" if none.
std::string a1111_upscaler_stem(const std::string& name);

class FileUpscalerManager : public UpscalerManager {
 public:
  explicit FileUpscalerManager(UpscalerManagerOptions options);

  bool is_filter(const std::string& name) const override;
  void check(const std::string& name, const std::string& field) const override;
  std::shared_ptr<ImageUpscaler> upscaler(const std::string& name, int tile, const std::string& field) override;
  nlohmann::json status() const override;

 private:
  // The model file `name` resolves to (A1111's display names through their stems).
  std::string resolve(const std::string& name, const std::string& field) const;

  UpscalerManagerOptions options_;
  ModelRegistry registry_;
  mutable std::mutex mutex_;
  // (path, model at the configured tile), most recently used first; other tiles share its network.
  std::list<std::pair<std::string, std::shared_ptr<NeuralUpscaler>>> loaded_;
};

}  // namespace workers
