#include "postprocessing/asset_writer.h"

#include <cmath>
#include <filesystem>
#include <fstream>
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

void write_file(const fs::path& path, const std::string& bytes) {
  const fs::path temp = path.string() + ".part";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw Error(ErrorCode::kInternalError, "cannot write " + temp.string());
  }
  std::error_code ec;
  fs::rename(temp, path, ec);  // replaces a file (or a planted symlink) atomically
  if (ec) throw Error(ErrorCode::kInternalError, "cannot write " + path.string() + ": " + ec.message());
}

}  // namespace

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
  const std::string stem = sanitize_file_stem(options.name);
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
    // PNG: A1111's parameters and ComfyUI's workflow chunks; JPEG/WEBP: parameters in EXIF.
    TextChunks text{{"parameters", a1111_parameters(meta)}};
    const auto workflow = options.format == "png" ? comfyui_prompt(meta) : std::nullopt;
    if (workflow) text.emplace_back("prompt", workflow->dump(-1, ' ', /*ensure_ascii=*/true));
    const std::string bytes = encode_image(image, options.format, text);
    nlohmann::json asset = {{"type", "image"}, {"format", options.format}, {"width", image.width},
                            {"height", image.height}, {"bytes", bytes.size()}};
    if (options.write_file) {
      const std::string file =
          stem + (images.size() > 1 ? "-" + std::to_string(i) : "") + "." + extension(options.format);
      const fs::path path = root / file;
      if (!path_inside(path.lexically_normal().string(), root.string())) {
        throw_invalid("request_id", "the output name leaves the output root");
      }
      write_file(path, bytes);
      asset["path"] = path.string();
    }
    if (options.return_base64) asset["base64"] = base64_encode(bytes);
    if (options.thumbnail_side > 0) {
      asset["thumbnail"] = {{"format", "webp"},
                            {"base64", base64_encode(encode_image(thumbnail(image, options.thumbnail_side), "webp",
                                                                  {}, 80))}};
    }
    asset["metadata"] = std::move(meta);
    assets.push_back(std::move(asset));
  }
  return assets;
}

}  // namespace workers
