#include "postprocessing/managers/file_upscaler_manager.h"

#include <filesystem>

#include "models/nn/networks.h"
#include "postprocessing/workers/neural_upscaler.h"
#include "postprocessing/workers/resample_upscaler.h"
#include "utilities/error.h"

namespace workers {
namespace {

// A model shown under the name the request used (A1111's display name) rather than its stem.
class RenamedUpscaler : public ImageUpscaler {
 public:
  RenamedUpscaler(std::shared_ptr<ImageUpscaler> inner, std::string name)
      : inner_(std::move(inner)), name_(std::move(name)) {}
  std::string name() const override { return name_; }
  int native_scale() const override { return inner_->native_scale(); }
  Image upscale(const Image& image, int width, int height) override { return inner_->upscale(image, width, height); }

 private:
  std::shared_ptr<ImageUpscaler> inner_;
  std::string name_;
};

}  // namespace

std::string a1111_upscaler_stem(const std::string& name) {
  // modules/realesrgan_model.py's get_realesrgan_models: display name -> released file.
  static const std::pair<const char*, const char*> kNames[] = {
      {"R-ESRGAN General 4xV3", "realesr-general-x4v3"},
      {"R-ESRGAN General WDN 4xV3", "realesr-general-wdn-x4v3"},
      {"R-ESRGAN AnimeVideo", "realesr-animevideov3"},
      {"R-ESRGAN 4x+", "RealESRGAN_x4plus"},
      {"R-ESRGAN 4x+ Anime6B", "RealESRGAN_x4plus_anime_6B"},
      {"R-ESRGAN 2x+", "RealESRGAN_x2plus"},
  };
  for (const auto& [display, stem] : kNames) {
    if (name == display) return stem;
  }
  return "";
}

FileUpscalerManager::FileUpscalerManager(UpscalerManagerOptions options)
    : options_(std::move(options)),
      registry_(options_.roots,
                RegistryKind{"upscaler", "",
                             "workers.instructors.model.upscaler_roots or SDXL_WORKERS_UPSCALER_ROOTS",
                             /*search_subfolders=*/true, {".pth", ".safetensors", ".pt"}},
                options_.link_targets) {}

bool FileUpscalerManager::is_filter(const std::string& name) const { return resampling_filter(name).has_value(); }

std::string FileUpscalerManager::resolve(const std::string& name, const std::string& field) const {
  const std::string stem = a1111_upscaler_stem(name);
  return registry_.resolve(stem.empty() ? name : stem, field).path;
}

void FileUpscalerManager::check(const std::string& name, const std::string& field) const {
  if (is_filter(name)) return;
  resolve(name, field);
}

std::shared_ptr<ImageUpscaler> FileUpscalerManager::upscaler(const std::string& name, int tile,
                                                             const std::string& field) {
  if (const auto filter = resampling_filter(name)) return std::make_shared<ResampleUpscaler>(*filter);
  const std::string path = resolve(name, field);
  std::shared_ptr<NeuralUpscaler> loaded;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = loaded_.begin(); it != loaded_.end(); ++it) {
      if (it->first != path) continue;
      loaded_.splice(loaded_.begin(), loaded_, it);  // most recently used first
      loaded = it->second;
      break;
    }
  }
  if (!loaded) {
    // Loaded outside the lock: another job may use a model already loaded meanwhile.
    const Placement placement = placement_of(options_.device, options_.dtype);
    UpscalerTiling tiling;
    tiling.tile_size = options_.tile;
    loaded = NeuralUpscaler::load(path, placement.device, placement.dtype, tiling);
    std::lock_guard<std::mutex> lock(mutex_);
    loaded_.emplace_front(path, loaded);
    while (loaded_.size() > options_.max_loaded) loaded_.pop_back();
  }
  std::shared_ptr<ImageUpscaler> model = loaded;
  if (tile >= 0 && tile != options_.tile) {
    UpscalerTiling tiling;
    tiling.tile_size = tile;
    model = loaded->with_tiling(tiling);
  }
  if (!a1111_upscaler_stem(name).empty()) return std::make_shared<RenamedUpscaler>(model, name);
  return model;
}

nlohmann::json FileUpscalerManager::status() const {
  nlohmann::json loaded = nlohmann::json::array();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& entry : loaded_) loaded.push_back(entry.second->name());
  }
  nlohmann::json models = nlohmann::json::array();
  for (const auto& model : registry_.list()) models.push_back(model.reference);
  return {{"roots", registry_.roots()},
          {"filters", resampling_filter_names()},
          {"models", models},
          {"loaded", loaded},
          {"tile", options_.tile}};
}

}  // namespace workers
