#include "utilities/path_roots.h"

#include <filesystem>
#include <set>

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

bool inside_any(const std::string& path, const std::vector<std::string>& roots,
                const std::vector<std::string>& more) {
  for (const auto* list : {&roots, &more}) {
    for (const auto& root : *list) {
      if (path_inside(path, root)) return true;
    }
  }
  return false;
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
    if (ec || !inside_any(canonical.string(), roots)) {
      // Refused before looking, so answers never reveal what exists outside the roots.
      if (ref.is_absolute()) throw_invalid(field, "\"" + reference + "\" is outside the configured roots");
      continue;
    }
    if (fs::is_regular_file(canonical, ec)) return canonical.string();
  }
  throw_invalid(field, "no file \"" + reference + "\" inside the configured roots (" + roots_setting + ")");
}

void check_tree_inside(const std::string& folder, const std::vector<std::string>& roots,
                       const std::vector<std::string>& link_targets, const std::string& field) {
  // Explicit stack and a visited set: a link loop or a deep tree cannot recurse or spin.
  constexpr std::size_t kMaxEntries = 100000;
  std::error_code ec;
  std::vector<fs::path> pending{fs::canonical(folder, ec)};
  if (ec) return;
  std::set<fs::path> visited{pending.front()};
  std::size_t seen = 0;
  while (!pending.empty()) {
    const fs::path dir = pending.back();
    pending.pop_back();
    for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end; !ec && it != end;
         it.increment(ec)) {
      if (++seen > kMaxEntries) {
        throw_invalid(field, folder + " holds more than " + std::to_string(kMaxEntries) + " entries; not a model folder");
      }
      std::error_code resolve_ec;
      const fs::path real = fs::canonical(it->path(), resolve_ec);
      if (resolve_ec) continue;
      if (!inside_any(real.string(), roots, link_targets)) {
        throw_invalid(field, it->path().string() + " is a link to " + real.string() +
                                 ", outside the configured roots (links may stay inside a root, or lead into a "
                                 "folder listed in workers.instructors.model.trusted_link_targets)");
      }
      if (fs::is_directory(real, resolve_ec) && visited.insert(real).second) pending.push_back(real);
    }
  }
}

}  // namespace workers
