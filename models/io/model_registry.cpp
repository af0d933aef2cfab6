#include "models/io/model_registry.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "utilities/error.h"
#include "utilities/path_roots.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

bool inside(const fs::path& path, const std::string& root) { return path_inside(path.string(), root); }

// A matched path is a folder (diffusers layout) or a .safetensors file.
ModelLayout layout_at(const fs::path& path) {
  std::error_code ec;
  return fs::is_directory(path, ec) ? ModelLayout::kDiffusersFolder : ModelLayout::kSingleFile;
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

ModelRegistry::ModelRegistry(std::vector<std::string> roots, RegistryKind kind,
                             std::vector<std::string> link_targets)
    : roots_(canonical_roots(roots)), kind_(std::move(kind)), link_targets_(canonical_roots(link_targets)) {}

bool ModelRegistry::is_match(const fs::path& path) const {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return !kind_.folder_marker.empty() && fs::is_regular_file(path / kind_.folder_marker, ec);
  return fs::is_regular_file(path, ec) && has_extension(path);
}

bool ModelRegistry::has_extension(const fs::path& path) const {
  const auto ext = path.extension().string();
  return std::find(kind_.extensions.begin(), kind_.extensions.end(), ext) != kind_.extensions.end();
}

// <root>/**/<reference>.safetensors, in root order, then path order (A1111 finds LoRAs this way).
std::vector<fs::path> ModelRegistry::by_name(const std::string& reference) const {
  std::vector<fs::path> found;
  if (!kind_.search_subfolders || reference.find('/') != std::string::npos) return found;
  for (const auto& root : roots_) {
    std::vector<fs::path> here;
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      const auto& p = it->path();
      if (has_extension(p) && (p.stem() == reference || p.filename() == reference)) here.push_back(p);
    }
    std::sort(here.begin(), here.end());
    found.insert(found.end(), here.begin(), here.end());
  }
  return found;
}

ResolvedModel ModelRegistry::resolve(const std::string& reference, const std::string& field) const {
  if (reference.empty()) throw_invalid(field, "is empty");
  if (roots_.empty()) {
    throw_invalid(field, "no " + kind_.what + " roots are configured (" + kind_.roots_setting + "), so \"" +
                             reference + "\" cannot be resolved");
  }
  const fs::path ref(reference);
  std::vector<fs::path> candidates;
  if (ref.is_absolute()) {
    // Refused before looking, so answers never reveal what exists outside the roots.
    std::error_code ec;
    const auto normal = fs::weakly_canonical(ref, ec);
    if (!inside_any((ec ? ref.lexically_normal() : normal).string(), roots_)) throw_invalid(field, "\"" + reference + "\" is outside the configured " + kind_.what + " roots");
    candidates.push_back(ref);
  } else {
    for (const auto& part : ref) {
      if (part == "..") throw_invalid(field, "\"" + reference + "\" must not contain \"..\"");
    }
    for (const auto& root : roots_) {
      candidates.push_back(fs::path(root) / ref);
      for (const auto& ext : kind_.extensions) candidates.push_back(fs::path(root) / (reference + ext));
    }
  }
  // The first candidate that matches, contained in a root; nullopt when none matches.
  auto first_match = [&](const std::vector<fs::path>& paths) -> std::optional<ResolvedModel> {
    for (const auto& candidate : paths) {
      if (!is_match(candidate)) continue;
      std::error_code ec;
      const auto canonical = fs::canonical(candidate, ec);
      if (ec) continue;
      if (!inside_any(canonical.string(), roots_, link_targets_)) {
        throw_invalid(field, "\"" + reference + "\" resolves to " + canonical.string() +
                                 ", outside the configured " + kind_.what + " roots");
      }
      const ModelLayout layout = layout_at(canonical);
      if (layout == ModelLayout::kDiffusersFolder) check_tree_inside(canonical.string(), roots_, link_targets_, field);
      return ResolvedModel{reference, canonical.string(), layout};
    }
    return std::nullopt;
  };
  if (auto found = first_match(candidates)) return *found;
  // Only when no direct name matched: walking every subfolder is the slow way.
  if (!ref.is_absolute()) {
    if (auto found = first_match(by_name(reference))) return *found;
  }
  std::vector<std::string> tried;
  for (const auto& candidate : candidates) tried.push_back(candidate.string());
  std::string list;
  for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
  std::string files;
  for (const auto& ext : kind_.extensions) files += (files.empty() ? "a " : " or ") + ext;
  files += " file";
  const std::string shapes =
      kind_.folder_marker.empty() ? files : "a folder with " + kind_.folder_marker + " or " + files;
  throw Error(ErrorCode::kModelNotFound,
              field + ": no " + kind_.what + " \"" + reference + "\" (" + shapes + "); tried " + list +
                  (kind_.search_subfolders ? " and every subfolder" : ""),
              field);
}

std::vector<ResolvedModel> ModelRegistry::list() const {
  std::vector<ResolvedModel> out;
  for (const auto& root : roots_) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(root, ec)) {
      if (!is_match(entry.path())) continue;
      const auto canonical = fs::canonical(entry.path(), ec);
      if (ec || !inside(canonical, root)) continue;
      out.push_back({entry.path().filename().string(), canonical.string(), layout_at(canonical)});
    }
  }
  return out;
}

}  // namespace workers
