#include "postprocessing/asset_writer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>

#include "postprocessing/comfyui_workflow.h"
#include "postprocessing/image_codec.h"
#include "postprocessing/infotext.h"
#include "utilities/error.h"
#include "utilities/path_roots.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

std::string extension(const std::string& format) { return format == "jpeg" ? "jpg" : format; }

// 64-bit FNV-1a: a stable short tag of a request id (std::hash may differ between builds).
std::string id_tag(const std::string& id) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : id) h = (h ^ c) * 1099511628211ull;
  char text[9];
  std::snprintf(text, sizeof text, "%08llx", static_cast<unsigned long long>(h >> 32));
  return text;
}

// Publishes `temp` as `path` only if nothing is there: renameat2(RENAME_NOREPLACE), or link +
// unlink where the file system lacks it. Returns false when `path` exists.
bool publish_new(const fs::path& temp, const fs::path& path) {
  if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) == 0) return true;
  if (errno == EEXIST) return false;
  if (errno != EINVAL && errno != ENOSYS) {
    throw Error(ErrorCode::kInternalError, "cannot write " + path.string() + ": " + std::strerror(errno));
  }
  if (::link(temp.c_str(), path.c_str()) != 0) {
    if (errno == EEXIST) return false;
    throw Error(ErrorCode::kInternalError, "cannot write " + path.string() + ": " + std::strerror(errno));
  }
  ::unlink(temp.c_str());
  return true;
}

// Writes `bytes` as a new file `<stem><ext>` in `folder`, or `<stem>-1<ext>`, `-2`, ... when that
// name is taken: an existing file (or a planted link) is never opened for writing or replaced.
// The data goes to a fresh temporary first (mkstemp: O_CREAT | O_EXCL, so never a link), which is
// then published under its name in one step. Returns the path written.
fs::path write_new_file(const fs::path& folder, const std::string& stem, const std::string& ext,
                        const std::string& bytes) {
  std::string temp = (folder / ("." + stem + ".XXXXXX.part")).string();
  const int fd = ::mkostemps(temp.data(), 5, O_CLOEXEC);
  if (fd < 0) throw Error(ErrorCode::kInternalError, "cannot create a file in " + folder.string() + ": " + std::strerror(errno));
  ::fchmod(fd, 0644);
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      ::close(fd);
      ::unlink(temp.c_str());
      throw Error(ErrorCode::kInternalError, "cannot write " + temp + ": " + why);
    }
    written += static_cast<std::size_t>(n);
  }
  if (::close(fd) != 0) {
    ::unlink(temp.c_str());
    throw Error(ErrorCode::kInternalError, "cannot write " + temp + ": " + std::strerror(errno));
  }
  constexpr int kMaxTries = 10000;
  for (int n = 0; n < kMaxTries; ++n) {
    const fs::path path = folder / (stem + (n ? "-" + std::to_string(n) : "") + ext);
    try {
      if (publish_new(temp, path)) return path;
    } catch (...) {
      ::unlink(temp.c_str());
      throw;
    }
  }
  ::unlink(temp.c_str());
  throw Error(ErrorCode::kInternalError, "no free file name for " + stem + ext + " in " + folder.string());
}

}  // namespace

std::string output_stem(const std::string& request_id) {
  const std::string stem = sanitize_file_stem(request_id);
  // Replaced or cut characters could make two ids one name ("x/y" and "x_y"): tag those.
  return stem == request_id ? stem : stem + "-" + id_tag(request_id);
}

std::string sanitize_file_stem(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool keep = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    out.push_back(keep ? c : '_');
    if (out.size() == 100) break;
  }
  while (!out.empty() && out.front() == '.') out.front() = '_';
  return out.empty() ? "image" : out;
}

AssetWriter::AssetWriter(std::string output_root) : root_(std::move(output_root)) {}

nlohmann::json AssetWriter::write(const std::vector<Image>& images, const nlohmann::json& metadata,
                                  const AssetOptions& options) const {
  if (options.format != "png" && options.format != "jpeg" && options.format != "webp") {
    throw_invalid("output_format", "must be png, jpeg or webp, got \"" + options.format + "\"");
  }
  const std::string stem = output_stem(options.name);
  fs::path root;
  if (options.write_file && !images.empty()) {
    std::error_code ec;
    fs::create_directories(root_, ec);
    root = fs::weakly_canonical(fs::absolute(root_), ec);
    if (ec || !fs::is_directory(root)) {
      throw Error(ErrorCode::kInternalError, "output root " + root_ + " is not a usable folder",
                  "workers.instructors.postprocessing.output_root");
    }
  }
  nlohmann::json assets = nlohmann::json::array();
  for (std::size_t i = 0; i < images.size(); ++i) {
    const Image& image = images[i];
    nlohmann::json meta = metadata;
    meta["width"] = image.width;
    meta["height"] = image.height;
    meta["format"] = options.format;
    meta["batch_index"] = i;
    // Per-image seeds (A1111): each image was a run of one with its own seed, and says so.
    if (const auto seeds = metadata.find("seeds"); seeds != metadata.end() && seeds->is_array() && i < seeds->size()) {
      meta["seed"] = (*seeds)[i];
      meta["batch_size"] = 1;
      meta.erase("seeds");
    }
    // The safety checker's verdicts: each asset carries its own.
    if (const auto nsfw = metadata.find("nsfw_content_detected"); nsfw != metadata.end() && nsfw->is_array()) {
      meta["nsfw_content_detected"] = i < nsfw->size() ? (*nsfw)[i] : nlohmann::json(nullptr);
    }
    // PNG: A1111's parameters and ComfyUI's workflow chunks; JPEG/WEBP: parameters in EXIF.
    TextChunks text{{"parameters", a1111_parameters(meta)}};
    const auto workflow = options.format == "png" ? comfyui_prompt(meta) : std::nullopt;
    if (workflow) text.emplace_back("prompt", workflow->dump(-1, ' ', /*ensure_ascii=*/true));
    const std::string bytes = encode_image(image, options.format, text);
    nlohmann::json asset = {{"type", "image"}, {"format", options.format}, {"width", image.width},
                            {"height", image.height}, {"bytes", bytes.size()}};
    if (options.write_file) {
      const std::string file_stem = stem + (images.size() > 1 ? "-" + std::to_string(i) : "");
      if (!path_inside((root / file_stem).lexically_normal().string(), root.string())) {
        throw_invalid("request_id", "the output name leaves the output root");
      }
      asset["path"] = write_new_file(root, file_stem, "." + extension(options.format), bytes).string();
    }
    if (options.return_base64) asset["base64"] = base64_encode(bytes);
    asset["metadata"] = std::move(meta);
    assets.push_back(std::move(asset));
  }
  return assets;
}

}  // namespace workers
