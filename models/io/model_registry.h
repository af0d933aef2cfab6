// ModelRegistry: turns the model reference in a request (a name under a configured model root,
// or an absolute path inside one) into a diffusers folder or a single-file checkpoint. Anything
// that resolves outside the roots (.., symlinks, absolute paths elsewhere) is refused.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace workers {

enum class ModelLayout { kDiffusersFolder, kSingleFile };
std::string_view to_string(ModelLayout layout);  // "diffusers", "single_file"

struct ResolvedModel {
  std::string reference;  // as requested
  std::string path;       // canonical path inside a root
  ModelLayout layout = ModelLayout::kDiffusersFolder;
};

class ModelRegistry {
 public:
  explicit ModelRegistry(std::vector<std::string> roots);

  // Throws Error(INVALID_REQUEST, field) for a reference escaping the roots or with no roots
  // configured, Error(MODEL_NOT_FOUND, field) naming what was tried.
  ResolvedModel resolve(const std::string& reference, const std::string& field = "model") const;
  // Every model directly under each root (folders with model_index.json, *.safetensors files).
  std::vector<ResolvedModel> list() const;
  const std::vector<std::string>& roots() const { return roots_; }

 private:
  std::vector<std::string> roots_;  // canonical
};

// The layout at `path`, or throws Error(MODEL_NOT_FOUND): used by the CLI on explicit paths.
ModelLayout detect_layout(const std::string& path);

}  // namespace workers
