#include "postprocessing/infotext.h"

#include <filesystem>
#include <sstream>
#include <utility>
#include <vector>

namespace workers {
namespace {

namespace fs = std::filesystem;

// Numbers as A1111 prints them: 5 not 5.0, 0.7 not 0.69999.
std::string number(const nlohmann::json& v) {
  if (v.is_number_integer() || v.is_number_unsigned()) return v.dump();
  if (!v.is_number()) return v.is_string() ? v.get<std::string>() : v.dump();
  std::ostringstream s;
  s << v.get<double>();
  return s.str();
}

fs::path last_component(const std::string& reference) {
  auto name = fs::path(reference).lexically_normal();
  if (name.filename().empty()) name = name.parent_path();
  return name.filename();
}

// A1111's infotext_utils.quote: values holding its separators become JSON strings.
std::string quote(const std::string& value) {
  if (value.find_first_of(",\n:") == std::string::npos) return value;
  return nlohmann::json(value).dump();
}

std::string text_of(const nlohmann::json& m, const char* key) {
  if (!m.contains(key) || m[key].is_null()) return "";
  return m[key].is_string() ? m[key].get<std::string>() : number(m[key]);
}

}  // namespace

std::string a1111_model_name(const std::string& reference) {
  const fs::path name = last_component(reference);
  const auto ext = name.extension();
  const bool weights = ext == ".safetensors" || ext == ".ckpt" || ext == ".pt" || ext == ".bin";
  return weights ? name.stem().string() : name.string();
}

int a1111_clip_skip(const nlohmann::json& m) {
  if (!m.contains("clip_skip") || !m["clip_skip"].is_number_integer()) return 0;
  const int value = m["clip_skip"].get<int>();
  return m.value("clip_skip_style", "diffusers") == "a1111" ? value : value + 2;
}

namespace {

// What the postprocessing stages did, in their order: the safety checker's mode and verdict, the
// upscaler as A1111 names it ("Postprocess upscale by: 2, Postprocess upscaler: R-ESRGAN 4x+"),
// the enhancer's own fields.
std::vector<std::pair<std::string, std::string>> postprocess_fields(const nlohmann::json& m) {
  std::vector<std::pair<std::string, std::string>> fields;
  // The safety checker (A1111 has no field for it): its mode and this image's verdict.
  if (const auto mode = m.find("safety_checker"); mode != m.end() && mode->is_string()) {
    fields.emplace_back("Safety checker", mode->get<std::string>());
    if (const auto nsfw = m.find("nsfw_content_detected"); nsfw != m.end() && nsfw->is_boolean()) {
      fields.emplace_back("NSFW detected", nsfw->get<bool>() ? "True" : "False");
    }
  }
  if (const auto up = m.find("postprocess_upscale"); up != m.end() && up->is_object()) {
    fields.emplace_back("Postprocess upscale by", number(up->value("scale", nlohmann::json(1))));
    fields.emplace_back("Postprocess upscaler", up->value("upscaler", ""));
  }
  if (const auto text = m.find("enhance_infotext"); text != m.end() && text->is_string() && !text->empty()) {
    fields.emplace_back("", text->get<std::string>());  // already "Key: value, ..." pairs
  }
  return fields;
}

std::string join_fields(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string line;
  for (const auto& [label, value] : fields) {
    if (!line.empty()) line += ", ";
    line += label.empty() ? value : label + ": " + quote(value);
  }
  return line;
}

}  // namespace

std::string a1111_parameters(const nlohmann::json& m) {
  // A postprocessed file keeps the parameters it came with (A1111's Extras tab does), with what
  // was done to it added to their last line.
  if (const auto source = m.find("source_parameters"); source != m.end()) {
    std::string text = source->is_string() ? source->get<std::string>() : "";
    const std::string added = join_fields(postprocess_fields(m));
    if (added.empty()) return text;
    if (text.empty()) return added;
    return text + (text.back() == '\n' ? "" : ", ") + added;
  }
  std::string text = m.value("prompt", "");
  const auto loras = m.value("loras", nlohmann::json::array());
  // A1111 reads LoRAs from the prompt (as users type them there), so they go back into it.
  for (const auto& lora : loras) {
    text += " <lora:" + a1111_model_name(lora.value("name", "")) + ":" +
            number(lora.value("weight", nlohmann::json(1.0))) + ">";
  }
  const std::string negative = m.value("negative_prompt", "");
  if (!negative.empty()) text += "\nNegative prompt: " + negative;

  std::vector<std::pair<std::string, std::string>> fields;
  auto put = [&](const char* label, const std::string& value) {
    if (!value.empty()) fields.emplace_back(label, value);
  };
  auto add = [&](const char* label, const char* key) { put(label, text_of(m, key)); };
  // A1111 1.9+'s order (processing.create_infotext), extensions' fields after its own.
  add("Steps", "steps");
  add("Sampler", m.contains("sampler") ? "sampler" : "scheduler");
  add("Schedule type", "schedule_type");
  add("CFG scale", "guidance_scale");
  add("Seed", "seed");
  if (const auto size = m.find("size"); size != m.end() && size->is_array() && size->size() == 2) {
    put("Size", number((*size)[0]) + "x" + number((*size)[1]));
  } else if (m.contains("width") && m.contains("height")) {
    put("Size", number(m["width"]) + "x" + number(m["height"]));
  }
  add("Model hash", "model_hash");
  if (m.contains("model") && m["model"].is_string()) put("Model", a1111_model_name(m["model"]));
  add("VAE hash", "vae_hash");
  if (m.contains("vae") && m["vae"].is_string()) put("VAE", last_component(m["vae"]).string());
  // All images of a batch come from one generator seeded once (diffusers' order of draws), so
  // image i is not the image of seed + i: the batch and the position say how to get it again.
  if (m.value("batch_size", 1) > 1) {
    add("Batch size", "batch_size");
    add("Batch pos", "batch_index");
  }
  add("Denoising strength", "strength");
  if (const auto hires = m.find("hires"); hires != m.end() && hires->is_object()) {
    put("Denoising strength", number(hires->value("strength", nlohmann::json(0.7))));
  }
  if (const int clip_skip = a1111_clip_skip(m)) put("Clip skip", std::to_string(clip_skip));
  add("CFG Rescale phi", "guidance_rescale");
  if (m.contains("refiner") && m["refiner"].is_string()) {
    const std::string hash = m.value("refiner_hash", "");
    put("Refiner", a1111_model_name(m["refiner"]) + (hash.empty() ? "" : " [" + hash + "]"));
  }
  add("Refiner switch at", "denoising_end");
  // sd-webui-controlnet's units, one field each.
  const auto nets = m.value("controlnets", nlohmann::json::array());
  for (std::size_t i = 0; i < nets.size(); ++i) {
    const auto& n = nets[i];
    const std::string preprocess = n.value("preprocess", "");
    fields.emplace_back("ControlNet " + std::to_string(i),
                        "Module: " + (preprocess.empty() ? std::string("none") : preprocess) +
                            ", Model: " + a1111_model_name(n.value("model", "")) +
                            ", Weight: " + number(n.value("scale", nlohmann::json(1.0))) +
                            ", Guidance Start: " + number(n.value("start", nlohmann::json(0.0))) +
                            ", Guidance End: " + number(n.value("end", nlohmann::json(1.0))));
  }
  // extensions-builtin/Lora: "<name as in the prompt, without ':' and ','>: <12 hex>".
  std::string lora_hashes;
  for (const auto& lora : loras) {
    const std::string hash = lora.value("hash", "");
    if (hash.empty()) continue;
    std::string name;
    for (char c : a1111_model_name(lora.value("name", ""))) {
      if (c != ':' && c != ',') name.push_back(c);
    }
    lora_hashes += (lora_hashes.empty() ? "" : ", ") + name + ": " + hash;
  }
  put("Lora hashes", lora_hashes);
  // A1111's hires fix fields (processing.StableDiffusionProcessingTxt2Img.init).
  if (const auto hires = m.find("hires"); hires != m.end() && hires->is_object()) {
    put("Hires upscale", number(hires->value("scale", nlohmann::json(2))));
    if (hires->value("steps", 0) > 0) put("Hires steps", number((*hires)["steps"]));
    put("Hires upscaler", hires->value("upscaler", ""));
  }
  add("Version", "version");
  const auto post = postprocess_fields(m);
  fields.insert(fields.end(), post.begin(), post.end());
  return text + "\n" + join_fields(fields);
}

}  // namespace workers
