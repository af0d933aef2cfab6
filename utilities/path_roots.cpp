#include "utilities/path_roots.h"

#include <filesystem>

#include "utilities/error.h"

namespace workers {

namespace fs = std::filesystem;

std::vector<std::string> canonical_roots(const std::vector<std::string>& roots) {
  std::vector<std::string> out;
  for (const auto& root : roots) {
    std::error_code ec;
    auto canonical = fs::weakly_canonical(fs::absolute(root), ec);
    out.push_back((ec ? fs::absolute(root).lexically_normal() : canonical).string());
  }
  return out;
}

bool path_inside(const std::string& path_text, const std::string& root_text) {
  const fs::path path(path_text), root(root_text);
  auto p = path.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++p) {
    if (r->empty() && std::next(r) == root.end()) break;  // "root/" ends in an empty element
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

std::string resolve_input_file(const std::vector<std::string>& roots, const std::string& reference,
                               const std::string& field, const std::string& roots_setting) {
  if (reference.empty()) throw_invalid(field, "is empty");
  if (roots.empty()) {
    throw_invalid(field, "no roots are configured for it (" + roots_setting + "), so \"" + reference +
                             "\" cannot be read");
  }
  const fs::path ref(reference);
  for (const auto& part : ref) {
    if (part == "..") throw_invalid(field, "\"" + reference + "\" must not contain \"..\"");
  }
  std::vector<fs::path> candidates;
  if (ref.is_absolute()) {
    candidates.push_back(ref);
  } else {
    for (const auto& root : roots) candidates.push_back(fs::path(root) / ref);
  }
  for (const auto& candidate : candidates) {
    std::error_code ec;
    const auto canonical = fs::weakly_canonical(candidate, ec);
    bool allowed = false;
    for (const auto& root : roots) allowed = allowed || (!ec && path_inside(canonical.string(), root));
    if (!allowed) {
      // Refused before looking, so answers never reveal what exists outside the roots.
      if (ref.is_absolute()) throw_invalid(field, "\"" + reference + "\" is outside the configured roots");
      continue;
    }
    if (fs::is_regular_file(canonical, ec)) return canonical.string();
  }
  throw_invalid(field, "no file \"" + reference + "\" inside the configured roots (" + roots_setting + ")");
}

}  // namespace workers
