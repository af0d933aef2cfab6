#include "models/io/model_tools.h"

#include <filesystem>
#include <fstream>
#include <map>

#include <torch/torch.h>

#include "models/io/diffusers_folder.h"
#include "models/io/model_registry.h"
#include "models/io/single_file_checkpoint.h"
#include "models/tokenizer/clip_tokenizer.h"
#include "utilities/error.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

struct ComponentSpec {
  const char* name;
  const char* library;
  const char* class_name;
  const char* weights;  // file name inside the component folder
};

const ComponentSpec kComponents[] = {
    {"unet", "diffusers", "UNet2DConditionModel", "diffusion_pytorch_model.safetensors"},
    {"vae", "diffusers", "AutoencoderKL", "diffusion_pytorch_model.safetensors"},
    {"text_encoder", "transformers", "CLIPTextModel", "model.safetensors"},
    {"text_encoder_2", "transformers", "CLIPTextModelWithProjection", "model.safetensors"},
};

// SDXL's published scheduler_config.json (EulerDiscreteScheduler).
const char* kSdxlScheduler = R"({"_class_name":"EulerDiscreteScheduler","beta_end":0.012,
  "beta_schedule":"scaled_linear","beta_start":0.00085,"clip_sample":false,"interpolation_type":"linear",
  "num_train_timesteps":1000,"prediction_type":"epsilon","sample_max_value":1.0,"set_alpha_to_one":false,
  "skip_prk_steps":true,"steps_offset":1,"timestep_spacing":"leading","trained_betas":null,"use_karras_sigmas":false})";

nlohmann::json tensor_summary(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
  std::int64_t parameters = 0;
  std::map<std::string, std::int64_t> dtypes;
  for (const auto& [name, t] : tensors) {
    parameters += t.numel();
    dtypes[c10::toString(t.scalar_type())] += 1;
  }
  return {{"tensors", tensors.size()}, {"parameters", parameters}, {"dtypes", dtypes}};
}

void write_json(const fs::path& path, const nlohmann::json& json) {
  std::ofstream out(path);
  out << json.dump(2) << "\n";
  if (!out) throw Error(ErrorCode::kModelLoadError, path.string() + ": cannot write");
}

c10::ScalarType parse_dtype(const std::string& dtype) {
  if (dtype == "fp16") return torch::kHalf;
  if (dtype == "bf16") return torch::kBFloat16;
  if (dtype == "fp32") return torch::kFloat;
  throw_invalid("dtype", "must be fp16, bf16 or fp32, got \"" + dtype + "\"");
}

// Copies tokenizer/ and tokenizer_2/ from `source` when present; returns which were copied.
std::vector<std::string> copy_tokenizers(const fs::path& source, const fs::path& output) {
  std::vector<std::string> copied;
  if (source.empty()) return copied;
  for (const char* name : {"tokenizer", "tokenizer_2"}) {
    if (fs::is_directory(source / name)) {
      fs::copy(source / name, output / name, fs::copy_options::recursive);
      copied.push_back(name);
    }
  }
  return copied;
}

}  // namespace

nlohmann::json inspect_model(const std::string& path, const std::string& config_from) {
  const auto layout = detect_layout(path);
  nlohmann::json out = {{"path", fs::absolute(path).lexically_normal().string()}, {"layout", to_string(layout)}};
  nlohmann::json components = nlohmann::json::array();
  if (layout == ModelLayout::kSingleFile) {
    auto checkpoint = load_single_file(path, config_from);
    out["kind"] = to_string(checkpoint.kind);
    for (const auto& c : checkpoint.components) {
      auto summary = tensor_summary(c.tensors);
      summary["name"] = c.name;
      summary["config"] = c.config;
      summary["assumed"] = c.assumed;
      components.push_back(summary);
    }
    out["unmapped_keys"] = checkpoint.unmapped_keys;
    out["metadata"] = checkpoint.file->metadata();
  } else {
    auto folder = DiffusersFolder::open(path);
    out["kind"] = sdxl_kind(folder);
    for (const auto& name : folder.component_names()) {
      auto files = folder.component(name);
      std::vector<std::pair<std::string, at::Tensor>> tensors;
      for (const auto& file : files.weight_files) {
        auto st = SafetensorsFile::open(file);
        for (const auto& n : st->names()) tensors.emplace_back(n, st->tensor(n));
      }
      auto summary = tensor_summary(tensors);
      summary["name"] = name;
      summary["class"] = files.class_name;
      summary["config"] = files.config;
      summary["variant"] = files.variant;
      components.push_back(summary);
    }
  }
  out["components"] = components;
  return out;
}

nlohmann::json convert_checkpoint(const ConvertOptions& options) {
  if (options.output.empty()) throw_invalid("output", "is required");
  const auto dtype = parse_dtype(options.dtype);
  if (detect_layout(options.model) != ModelLayout::kSingleFile) {
    throw_invalid("model", options.model + " is already a diffusers folder");
  }
  const fs::path output(options.output);
  std::error_code ec;
  if (fs::exists(output, ec) && !fs::is_empty(output, ec)) {
    throw_invalid("output", options.output + " exists and is not empty; refusing to overwrite");
  }
  auto checkpoint = load_single_file(options.model, options.config_from);
  fs::create_directories(output, ec);
  if (ec) throw Error(ErrorCode::kModelLoadError, options.output + ": cannot create: " + ec.message());

  nlohmann::json index = {
      {"_class_name", checkpoint.kind == CheckpointKind::kSdxlRefiner   ? "StableDiffusionXLImg2ImgPipeline"
                      : checkpoint.kind == CheckpointKind::kSdxlInpaint ? "StableDiffusionXLInpaintPipeline"
                                                                         : "StableDiffusionXLPipeline"},
      {"force_zeros_for_empty_prompt", checkpoint.kind != CheckpointKind::kSdxlRefiner},
  };
  if (checkpoint.kind == CheckpointKind::kSdxlRefiner) index["requires_aesthetics_score"] = true;
  nlohmann::json written = nlohmann::json::array();
  for (const auto& spec : kComponents) {
    const auto* component = checkpoint.find(spec.name);
    if (!component) {
      index[spec.name] = {nullptr, nullptr};
      continue;
    }
    fs::create_directories(output / spec.name);
    write_json(output / spec.name / "config.json", component->config);
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    tensors.reserve(component->tensors.size());
    for (const auto& [name, t] : component->tensors) {
      // Integer buffers (e.g. position ids) keep their type; floating weights take the target dtype.
      tensors.emplace_back(name, t.is_floating_point() ? t.to(dtype) : t);
    }
    write_safetensors((output / spec.name / spec.weights).string(), tensors, {{"format", "pt"}});
    index[spec.name] = {spec.library, spec.class_name};
    written.push_back({{"name", spec.name}, {"tensors", tensors.size()}, {"assumed", component->assumed}});
  }

  const fs::path config_from(options.config_from);
  fs::create_directories(output / "scheduler");
  if (!options.config_from.empty() && fs::is_regular_file(config_from / "scheduler" / "scheduler_config.json")) {
    fs::copy_file(config_from / "scheduler" / "scheduler_config.json", output / "scheduler" / "scheduler_config.json");
  } else {
    write_json(output / "scheduler" / "scheduler_config.json", nlohmann::json::parse(kSdxlScheduler));
  }
  auto scheduler = nlohmann::json::parse(std::ifstream(output / "scheduler" / "scheduler_config.json"));
  index["scheduler"] = {"diffusers", scheduler.value("_class_name", "EulerDiscreteScheduler")};

  auto tokenizers = copy_tokenizers(options.tokenizers.empty() ? config_from : fs::path(options.tokenizers), output);
  std::vector<std::string> warnings;
  for (const char* name : {"tokenizer", "tokenizer_2"}) {
    const bool has_encoder = checkpoint.find(std::string(name) == "tokenizer" ? "text_encoder" : "text_encoder_2");
    if (std::find(tokenizers.begin(), tokenizers.end(), name) != tokenizers.end()) {
      index[name] = {"transformers", "CLIPTokenizer"};
    } else {
      index[name] = {nullptr, nullptr};
      if (has_encoder) {
        warnings.push_back(std::string("no ") + name + " files: single-file checkpoints carry none; pass --tokenizers DIR "
                           "(a folder with tokenizer/ and tokenizer_2/) to make the folder usable for generation");
      }
    }
  }
  write_json(output / "model_index.json", index);
  return {{"output", fs::absolute(output).lexically_normal().string()},
          {"kind", to_string(checkpoint.kind)},
          {"dtype", options.dtype},
          {"components", written},
          {"unmapped_keys", checkpoint.unmapped_keys},
          {"warnings", warnings}};
}

nlohmann::json tokenize_text(const std::string& model, const std::string& tokenizer, const std::string& max_length,
                             const std::string& text) {
  if (tokenizer != "1" && tokenizer != "2") throw_invalid("tokenizer", "must be 1 or 2, got \"" + tokenizer + "\"");
  std::size_t length = 77;
  try {
    std::size_t used = 0;
    const long value = std::stol(max_length, &used);
    if (used != max_length.size() || value < 0 || value == 1 || value > 100000) throw std::invalid_argument("range");
    length = static_cast<std::size_t>(value);
  } catch (const std::exception&) {
    throw_invalid("max-length", "must be 0 or an integer from 2 to 100000, got \"" + max_length + "\"");
  }
  const fs::path root(model);
  fs::path folder;
  if (fs::exists(root / "vocab.json")) {
    folder = root;
  } else if (fs::exists(root / "model_index.json")) {
    folder = root / (tokenizer == "1" ? "tokenizer" : "tokenizer_2");
    if (!fs::exists(folder / "vocab.json")) {
      throw Error(ErrorCode::kModelNotFound, model + " has no " + folder.filename().string() +
                                                 "/ (a refiner has only tokenizer 2: --tokenizer 2)");
    }
  } else if (fs::is_regular_file(root)) {
    throw Error(ErrorCode::kInvalidRequest,
                model + ": a single-file checkpoint carries no tokenizer files; pass a diffusers folder or a "
                        "folder with vocab.json and merges.txt",
                "model");
  } else {
    throw Error(ErrorCode::kModelNotFound, model + ": not a diffusers folder or a tokenizer folder", "model");
  }
  auto clip = ClipTokenizer::load(folder.string());
  const auto ids = clip->encode(text, length);
  nlohmann::json tokens = nlohmann::json::array();
  for (auto id : ids) tokens.push_back(clip->token(id));
  return {{"ids", ids}, {"tokens", tokens}};
}

}  // namespace workers
