#include "models/io/model_registry.h"

#include <filesystem>

#include "utilities/error.h"
#include "utilities/path_roots.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

bool inside(const fs::path& path, const std::string& root) { return path_inside(path.string(), root); }

bool is_model(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return fs::is_regular_file(path / "model_index.json", ec);
  return fs::is_regular_file(path, ec) && path.extension() == ".safetensors";
}

}  // namespace

std::string_view to_string(ModelLayout layout) {
  return layout == ModelLayout::kDiffusersFolder ? "diffusers" : "single_file";
}

ModelLayout detect_layout(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (fs::is_regular_file(fs::path(path) / "model_index.json", ec)) return ModelLayout::kDiffusersFolder;
    throw Error(ErrorCode::kModelNotFound, path + ": a folder without model_index.json is not a diffusers model");
  }
  if (fs::is_regular_file(path, ec)) {
    if (fs::path(path).extension() == ".safetensors") return ModelLayout::kSingleFile;
    throw Error(ErrorCode::kModelNotFound,
                path + ": only .safetensors checkpoints are loaded (pickled .ckpt/.bin files can run code)");
  }
  throw Error(ErrorCode::kModelNotFound, path + ": no such file or folder");
}

ModelRegistry::ModelRegistry(std::vector<std::string> roots) : roots_(canonical_roots(roots)) {}

ResolvedModel ModelRegistry::resolve(const std::string& reference, const std::string& field) const {
  if (reference.empty()) throw_invalid(field, "is empty");
  if (roots_.empty()) {
    throw_invalid(field, "no model roots are configured (workers.instructors.model.model_roots or "
                         "SDXL_WORKERS_MODEL_ROOTS), so \"" + reference + "\" cannot be resolved");
  }
  const fs::path ref(reference);
  std::vector<fs::path> candidates;
  if (ref.is_absolute()) {
    // Refused before looking, so answers never reveal what exists outside the roots.
    std::error_code ec;
    const auto normal = fs::weakly_canonical(ref, ec);
    bool allowed = false;
    for (const auto& root : roots_) allowed = allowed || inside(ec ? ref.lexically_normal() : normal, root);
    if (!allowed) throw_invalid(field, "\"" + reference + "\" is outside the configured model roots");
    candidates.push_back(ref);
  } else {
    for (const auto& part : ref) {
      if (part == "..") throw_invalid(field, "\"" + reference + "\" must not contain \"..\"");
    }
    for (const auto& root : roots_) {
      candidates.push_back(fs::path(root) / ref);
      candidates.push_back(fs::path(root) / (reference + ".safetensors"));
    }
  }
  std::vector<std::string> tried;
  for (const auto& candidate : candidates) {
    tried.push_back(candidate.string());
    if (!is_model(candidate)) continue;
    std::error_code ec;
    const auto canonical = fs::canonical(candidate, ec);
    if (ec) continue;
    bool allowed = false;
    for (const auto& root : roots_) allowed = allowed || inside(canonical, root);
    if (!allowed) {
      throw_invalid(field, "\"" + reference + "\" resolves to " + canonical.string() +
                               ", outside the configured model roots");
    }
    return {reference, canonical.string(), detect_layout(canonical.string())};
  }
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  throw Error(ErrorCode::kModelNotFound,
              field + ": no model \"" + reference + "\" (a folder with model_index.json or a .safetensors file); tried " + list,
              field);
}

std::vector<ResolvedModel> ModelRegistry::list() const {
  std::vector<ResolvedModel> out;
  for (const auto& root : roots_) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      if (!is_model(entry.path())) continue;
      const auto canonical = fs::canonical(entry.path(), ec);
      if (ec || !inside(canonical, root)) continue;
      out.push_back({entry.path().filename().string(), canonical.string(), detect_layout(canonical.string())});
    }
  }
  return out;
}

}  // namespace workers
