// Paths from requests resolve inside configured roots: these helpers canonicalise the roots, test
// containment component by component, and resolve a file reference (a relative name or an
// absolute path) so that `..`, symlinks and absolute paths never reach outside a root.
#pragma once

#include <string>
#include <vector>

namespace workers {

// Absolute, canonical where the path exists (lexically normal otherwise).
std::vector<std::string> canonical_roots(const std::vector<std::string>& roots);
// `path` is `root` or below it (both canonical).
bool path_inside(const std::string& path, const std::string& root);
// `path` is inside one of `roots` or of `more` (all canonical).
bool inside_any(const std::string& path, const std::vector<std::string>& roots,
                const std::vector<std::string>& more = {});
// An existing regular file named by `reference` inside one of `roots` (canonical). Throws
// Error(INVALID_REQUEST, field): no roots configured (`roots_setting` names the setting), `..`,
// a path outside the roots, or no such file.
std::string resolve_input_file(const std::vector<std::string>& roots, const std::string& reference,
                               const std::string& field, const std::string& roots_setting);

// Every file and folder below `folder`, symlinks followed, resolves inside one of `roots` (or of
// `link_targets`, folders outside the roots that links may point into because the operator said
// so). A model folder inside a root may hold links (the Hugging Face cache is made of them), but
// none that leads out: a link to /etc/passwd named model_index.json, or a unet/ elsewhere, would
// make the engine read what the roots were meant to fence off. Throws Error(INVALID_REQUEST,
// field) naming the first escaping entry. Dangling links are left to the reader (nothing is read).
void check_tree_inside(const std::string& folder, const std::vector<std::string>& roots,
                       const std::vector<std::string>& link_targets, const std::string& field);

}  // namespace workers
