// ModelRegistry: turns the model reference in a request (a name under a configured model root,
// or an absolute path inside one) into a diffusers folder or a single-file checkpoint. Anything
// that resolves outside the roots (.., symlinks, absolute paths elsewhere) is refused.
#pragma once

#include <filesystem>
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

// What a registry finds under its roots. Models are folders with model_index.json; ControlNets
// are bare component folders (config.json); LoRAs are files only, found in subfolders by name too.
struct RegistryKind {
  std::string what = "model";               // for messages: "model", "LoRA", "ControlNet"
  std::string folder_marker = "model_index.json";  // "" : folders are never a match
  std::string roots_setting = "workers.instructors.model.model_roots or SDXL_WORKERS_MODEL_ROOTS";
  bool search_subfolders = false;           // a bare name also matches <root>/**/<name>.safetensors
  // The single-file extensions that count, in the order a bare name tries them. Only upscalers add
  // ".pth": their reader is a safe pickle subset (models/io/pickle_reader.h).
  std::vector<std::string> extensions = {".safetensors"};
};

class ModelRegistry {
 public:
  // `link_targets`: folders outside the roots that links inside a root may lead into (the
  // operator's explicit exception, workers.instructors.model.trusted_link_targets).
  explicit ModelRegistry(std::vector<std::string> roots, RegistryKind kind = {},
                         std::vector<std::string> link_targets = {});

  // Throws Error(INVALID_REQUEST, field) for a reference escaping the roots (a folder holding a
  // link out of them included) or with no roots configured, Error(MODEL_NOT_FOUND, field)
  // naming what was tried.
  ResolvedModel resolve(const std::string& reference, const std::string& field = "model") const;
  // Every model directly under each root (marked folders, *.safetensors files).
  std::vector<ResolvedModel> list() const;
  const std::vector<std::string>& roots() const { return roots_; }
  const std::vector<std::string>& link_targets() const { return link_targets_; }

 private:
  bool is_match(const std::filesystem::path& path) const;
  bool has_extension(const std::filesystem::path& path) const;
  std::vector<std::filesystem::path> by_name(const std::string& reference) const;

  std::vector<std::string> roots_;  // canonical
  RegistryKind kind_;
  std::vector<std::string> link_targets_;  // canonical
};

// The layout at `path`, or throws Error(MODEL_NOT_FOUND): used by the CLI on explicit paths.
ModelLayout detect_layout(const std::string& path);

}  // namespace workers
