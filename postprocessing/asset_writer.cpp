#include "postprocessing/asset_writer.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "postprocessing/image_codec.h"
#include "utilities/error.h"
#include "utilities/path_roots.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

std::string extension(const std::string& format) { return format == "jpeg" ? "jpg" : format; }

// Numbers as A1111 prints them: 5 not 5.0, 0.7 not 0.69999.
std::string number(const nlohmann::json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  std::ostringstream s;
  s << v.get<double>();
  return s.str();
}

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

// A model or adapter reference as A1111 names it: the file or folder name without .safetensors.
std::string short_name(const std::string& reference) {
  auto name = fs::path(reference).lexically_normal();
  if (name.filename().empty()) name = name.parent_path();
  return name.extension() == ".safetensors" ? name.stem().string() : name.filename().string();
}

std::string a1111_parameters(const nlohmann::json& m) {
  std::string text = m.value("prompt", "");
  // A1111 reads LoRAs from the prompt (as users type them there), so they go back into it.
  for (const auto& lora : m.value("loras", nlohmann::json::array())) {
    text += " <lora:" + short_name(lora.value("name", "")) + ":" + number(lora.value("weight", nlohmann::json(1.0))) + ">";
  }
  const std::string negative = m.value("negative_prompt", "");
  if (!negative.empty()) text += "\nNegative prompt: " + negative;
  std::vector<std::pair<std::string, std::string>> fields;
  auto add = [&](const char* label, const char* key) {
    if (m.contains(key) && !m[key].is_null()) {
      fields.emplace_back(label, m[key].is_string() ? m[key].get<std::string>() : number(m[key]));
    }
  };
  add("Steps", "steps");
  add("Sampler", "scheduler");
  add("CFG scale", "guidance_scale");
  add("Seed", "seed");
  if (m.contains("width") && m.contains("height")) {
    fields.emplace_back("Size", number(m["width"]) + "x" + number(m["height"]));
  }
  add("Model", "model");
  add("Denoising strength", "strength");
  add("CFG Rescale phi", "guidance_rescale");
  add("Refiner", "refiner");
  add("Refiner switch at", "denoising_end");
  add("Clip skip", "clip_skip");
  // sd-webui-controlnet's units, one field each.
  const auto nets = m.value("controlnets", nlohmann::json::array());
  for (std::size_t i = 0; i < nets.size(); ++i) {
    const auto& n = nets[i];
    const std::string preprocess = n.value("preprocess", "");
    fields.emplace_back("ControlNet " + std::to_string(i),
                        "Module: " + (preprocess.empty() ? std::string("none") : preprocess) +
                            ", Model: " + short_name(n.value("model", "")) +
                            ", Weight: " + number(n.value("scale", nlohmann::json(1.0))) +
                            ", Guidance Start: " + number(n.value("start", nlohmann::json(0.0))) +
                            ", Guidance End: " + number(n.value("end", nlohmann::json(1.0))));
  }
  add("Version", "version");
  text += "\n";
  for (std::size_t i = 0; i < fields.size(); ++i) {
    std::string value = fields[i].second;
    // A1111 quotes values holding its separators.
    if (value.find_first_of(",:\"") != std::string::npos) value = nlohmann::json(value).dump();
    text += (i ? ", " : "") + fields[i].first + ": " + value;
  }
  return text;
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
    TextChunks text;
    if (options.format == "png") text.emplace_back("parameters", a1111_parameters(meta));
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
