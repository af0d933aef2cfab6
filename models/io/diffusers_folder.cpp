#include "models/io/diffusers_folder.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "utilities/error.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

// Weight names diffusers and transformers save under, in the order they are tried.
const char* kWeightNames[] = {"diffusion_pytorch_model", "model"};

nlohmann::json read_json(const fs::path& path, ErrorCode code) {
  std::ifstream in(path);
  if (!in) throw Error(code, path.string() + ": cannot open");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kModelLoadError, path.string() + ": not valid JSON: " + e.what());
  }
}

// "name.safetensors" -> "name.fp16.safetensors"; index "name.safetensors.index.json" ->
// "name.safetensors.index.fp16.json" (diffusers' _add_variant: before the last extension).
std::string with_variant(const std::string& file, const std::string& variant) {
  if (variant.empty()) return file;
  auto dot = file.rfind('.');
  return file.substr(0, dot) + "." + variant + file.substr(dot);
}

// Shard list of an index file, in first-seen order of weight_map, each checked to exist.
std::vector<std::string> shards_of(const fs::path& index) {
  auto json = read_json(index, ErrorCode::kModelLoadError);
  auto map = json.find("weight_map");
  if (map == json.end() || !map->is_object() || map->empty()) {
    throw Error(ErrorCode::kModelLoadError, index.string() + ": has no weight_map");
  }
  std::vector<std::string> files;
  std::set<std::string> seen;
  for (auto it = map->begin(); it != map->end(); ++it) {
    if (!it->is_string()) throw Error(ErrorCode::kModelLoadError, index.string() + ": weight_map values must be file names");
    const std::string shard = it->get<std::string>();
    if (shard.find('/') != std::string::npos || shard == "..") {
      throw Error(ErrorCode::kModelLoadError, index.string() + ": shard \"" + shard + "\" is outside the folder");
    }
    if (seen.insert(shard).second) {
      const auto path = index.parent_path() / shard;
      if (!fs::is_regular_file(path)) {
        throw Error(ErrorCode::kModelLoadError, index.string() + ": shard " + path.string() + " is missing");
      }
      files.push_back(path.string());
    }
  }
  return files;
}

// Files for one variant ("" = plain), or empty when none; `looked` collects what was tried.
std::vector<std::string> files_for(const fs::path& folder, const std::string& variant,
                                   std::vector<std::string>& looked) {
  for (const char* name : kWeightNames) {
    const auto single = folder / with_variant(std::string(name) + ".safetensors", variant);
    looked.push_back(single.filename().string());
    if (fs::is_regular_file(single)) return {single.string()};
    const auto index = folder / with_variant(std::string(name) + ".safetensors.index.json", variant);
    looked.push_back(index.filename().string());
    if (fs::is_regular_file(index)) return shards_of(index);
  }
  return {};
}

// Variants present in a folder: "<name>.<variant>.safetensors" or sharded index files.
std::set<std::string> variants_in(const fs::path& folder) {
  std::set<std::string> found;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string file = entry.path().filename().string();
    for (const char* name : kWeightNames) {
      const std::string prefix = std::string(name) + ".";
      const std::string index_prefix = std::string(name) + ".safetensors.index.";
      if (file.rfind(index_prefix, 0) == 0 && file.size() > index_prefix.size() + 5 &&
          file.compare(file.size() - 5, 5, ".json") == 0) {
        found.insert(file.substr(index_prefix.size(), file.size() - index_prefix.size() - 5));
      } else if (file.rfind(prefix, 0) == 0 && file.size() > prefix.size() + 12 &&
                 file.compare(file.size() - 12, 12, ".safetensors") == 0) {
        std::string middle = file.substr(prefix.size(), file.size() - prefix.size() - 12);
        if (!middle.empty() && middle.find('.') == std::string::npos && middle.find('-') == std::string::npos) {
          found.insert(middle);
        }
      }
    }
  }
  return found;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
  return out;
}

}  // namespace

std::vector<std::string> find_weight_files(const std::string& folder, const std::string& variant,
                                           std::string* variant_used) {
  std::vector<std::string> looked;
  auto files = files_for(folder, variant, looked);
  std::string used = variant;
  if (files.empty() && variant.empty()) {
    auto variants = variants_in(folder);
    if (variants.size() == 1) {
      used = *variants.begin();
      files = files_for(folder, used, looked);
    } else if (variants.size() > 1) {
      throw Error(ErrorCode::kModelLoadError,
                  folder + ": has only variant weights (" + join({variants.begin(), variants.end()}) +
                      "); choose one with \"variant\"");
    }
  }
  if (files.empty()) {
    throw Error(ErrorCode::kModelLoadError,
                folder + ": no safetensors weights found; looked for " + join(looked) +
                    " (.bin/.ckpt pickles are not loaded: convert them to safetensors)");
  }
  if (variant_used) *variant_used = used;
  return files;
}

std::string sdxl_kind(const DiffusersFolder& folder) {
  if (!folder.has_component("text_encoder") && folder.has_component("text_encoder_2")) return "sdxl-refiner";
  if (folder.has_component("unet") && folder.component("unet").config.value("in_channels", 4) == 9) {
    return "sdxl-inpaint";
  }
  return "sdxl-base";
}

DiffusersFolder DiffusersFolder::open(const std::string& root, std::string variant) {
  const fs::path index = fs::path(root) / "model_index.json";
  if (!fs::is_regular_file(index)) {
    throw Error(ErrorCode::kModelNotFound, root + ": not a diffusers folder (no model_index.json)");
  }
  DiffusersFolder folder;
  folder.root_ = fs::absolute(root).lexically_normal().string();
  folder.variant_ = std::move(variant);
  folder.model_index_ = read_json(index, ErrorCode::kModelNotFound);
  if (!folder.model_index_.is_object()) {
    throw Error(ErrorCode::kModelLoadError, index.string() + ": must be a JSON object");
  }
  return folder;
}

std::vector<std::string> DiffusersFolder::component_names() const {
  std::vector<std::string> names;
  for (auto it = model_index_.begin(); it != model_index_.end(); ++it) {
    if (it->is_array() && it->size() == 2 && (*it)[0].is_string() && (*it)[1].is_string()) names.push_back(it.key());
  }
  return names;
}

bool DiffusersFolder::has_component(const std::string& name) const {
  for (const auto& n : component_names()) {
    if (n == name) return true;
  }
  return false;
}

ComponentFiles DiffusersFolder::component(const std::string& name) const {
  if (!has_component(name)) {
    throw Error(ErrorCode::kModelLoadError, root_ + "/model_index.json: has no component \"" + name +
                                                "\"; it lists " + join(component_names()));
  }
  ComponentFiles c;
  c.name = name;
  c.library = model_index_[name][0].get<std::string>();
  c.class_name = model_index_[name][1].get<std::string>();
  c.folder = (fs::path(root_) / name).string();
  if (!fs::is_directory(c.folder)) {
    throw Error(ErrorCode::kModelLoadError, c.folder + ": component folder is missing (listed in model_index.json)");
  }
  // Schedulers and tokenizers carry configs but no weights.
  for (const char* config : {"config.json", "scheduler_config.json", "tokenizer_config.json"}) {
    const auto path = fs::path(c.folder) / config;
    if (fs::is_regular_file(path)) {
      c.config = read_json(path, ErrorCode::kModelLoadError);
      break;
    }
  }
  const bool has_weights = c.class_name.find("Scheduler") == std::string::npos &&
                           c.class_name.find("Tokenizer") == std::string::npos;
  if (has_weights) {
    if (c.config.is_null()) throw Error(ErrorCode::kModelLoadError, c.folder + ": config.json is missing");
    c.weight_files = find_weight_files(c.folder, variant_, &c.variant);
  }
  return c;
}

}  // namespace workers
