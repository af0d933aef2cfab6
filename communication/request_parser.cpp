#include "communication/request_parser.h"

#include <cmath>

#include "compat/adapter_shorthand.h"
#include "utilities/json_fields.h"

namespace workers {
namespace {

std::string index_field(const std::string& list, std::size_t i) {
  return list + "[" + std::to_string(i) + "]";
}

int to_int(FieldReader& r, const std::string& key, int fallback) {
  auto v = r.integer(key);
  if (!v) return fallback;
  if (*v < -2147483647 || *v > 2147483647) r.fail(key, "is out of range");
  return static_cast<int>(*v);
}

void parse_model(FieldReader& r, ModelSuite& suite) {
  const auto* model = r.raw("model");
  if (!model) return;
  if (model->is_string()) {
    suite.base = model->get<std::string>();
    return;
  }
  if (!model->is_object()) r.fail("model", "must be a model name or an object {base, refiner, vae}");
  FieldReader m(*model, "model");
  suite.base = m.string("base").value_or("");
  suite.refiner = m.string("refiner").value_or("");
  suite.vae = m.string("vae").value_or("");
  suite.config_from = m.string("config_from").value_or("");
  if (!m.unread().empty()) m.fail(m.unread().front().substr(6), "unknown model component");
}

LoraSpec parse_lora(const nlohmann::json& item, const std::string& field) {
  LoraSpec spec;
  if (item.is_string()) {
    auto s = compat::parse_adapter_shorthand(item.get<std::string>(), field);
    spec.name = s.name;
    spec.weight = s.weight;
    return spec;
  }
  FieldReader r(item, field);
  for (const char* key : {"name", "model_id", "path"}) {
    if (auto v = r.string(key)) spec.name = *v;
  }
  spec.weight = r.number("weight").value_or(1.0);
  spec.enabled = r.boolean("enabled").value_or(true);
  if (!r.unread().empty()) throw_invalid(r.unread().front(), "unknown LoRA field");
  return spec;
}

ControlNetSpec parse_controlnet(const nlohmann::json& item, const std::string& field) {
  ControlNetSpec spec;
  if (item.is_string()) {
    auto s = compat::parse_adapter_shorthand(item.get<std::string>(), field);
    spec.type = s.name;
    spec.scale = s.weight;
    return spec;
  }
  FieldReader r(item, field);
  spec.type = r.string("type").value_or("");
  spec.model = r.string("model").value_or("");
  spec.image = r.string("image").value_or("");
  spec.preprocess = r.string("preprocess").value_or("");
  spec.scale = r.number("scale").value_or(1.0);
  spec.start = r.number("start").value_or(0.0);
  spec.end = r.number("end").value_or(1.0);
  spec.threshold_a = r.number("threshold_a");
  spec.threshold_b = r.number("threshold_b");
  if (!r.unread().empty()) throw_invalid(r.unread().front(), "unknown ControlNet field");
  return spec;
}

template <typename Spec>
std::vector<Spec> parse_list(FieldReader& r, const std::string& key,
                             Spec (*parse)(const nlohmann::json&, const std::string&)) {
  std::vector<Spec> out;
  const auto* value = r.raw(key);
  if (!value) return out;
  // One item stands for a list of one, and its errors name it as such ("loras[0]").
  if (value->is_string() || value->is_object()) return {parse(*value, index_field(r.field(key), 0))};
  if (!value->is_array()) r.fail(key, "must be a list");
  for (std::size_t i = 0; i < value->size(); ++i) out.push_back(parse((*value)[i], index_field(key, i)));
  return out;
}

// [a, b] of whole numbers (1024 or 1024.0), each within int range.
std::optional<SizePair> parse_pair(FieldReader& r, const std::string& key) {
  const auto* value = r.raw(key);
  if (!value) return std::nullopt;
  if (!value->is_array() || value->size() != 2) r.fail(key, "must be a list of two integers");
  int out[2];
  for (int i = 0; i < 2; ++i) {
    const auto& item = (*value)[i];
    const double d = item.is_number() ? item.get<double>() : 0.5;
    if (!item.is_number() || d != std::floor(d) || std::fabs(d) > 2147483647.0) {
      throw_invalid(index_field(r.field(key), i), "must be an integer, got " + item.dump());
    }
    out[i] = static_cast<int>(d);
  }
  return SizePair{out[0], out[1]};
}

// `postprocess`: {upscale: {model, scale, tile} or "model", enhance: {...}, safety_checker}.
PostprocessSpec parse_postprocess(FieldReader& r) {
  PostprocessSpec spec;
  const auto* object = r.object("postprocess");
  if (!object) return spec;
  FieldReader p(*object, "postprocess");
  if (const auto* upscale = p.raw("upscale")) {
    UpscaleSpec u;
    if (upscale->is_string()) {
      u.model = upscale->get<std::string>();
    } else if (upscale->is_object()) {
      FieldReader ur(*upscale, "postprocess.upscale");
      u.model = ur.string("model").value_or(u.model);
      u.scale = ur.number("scale").value_or(0.0);
      u.tile = to_int(ur, "tile", -1);
      if (!ur.unread().empty()) throw_invalid(ur.unread().front(), "unknown upscale field (model, scale, tile)");
    } else {
      p.fail("upscale", "must be an upscaler name or an object {model, scale, tile}");
    }
    spec.upscale = u;
  }
  if (const auto* enhance = p.raw("enhance")) {
    if (!enhance->is_object()) p.fail("enhance", "must be an object of enhancer options");
    spec.enhance = *enhance;
  }
  spec.safety_checker = p.string("safety_checker").value_or("");
  if (!p.unread().empty()) {
    throw_invalid(p.unread().front(), "unknown postprocess stage (upscale, enhance, safety_checker)");
  }
  return spec;
}

void parse_hires(FieldReader& r, GenerationRequest& g) {
  const auto enable = r.boolean("enable_hr");
  HiresFix h;
  bool named = false;
  if (auto v = r.number("hires_scale")) h.scale = *v, named = true;
  if (r.integer("hires_steps").has_value()) h.steps = to_int(r, "hires_steps", 0), named = true;
  if (auto v = r.number("hires_strength")) h.strength = *v, named = true;
  if (auto v = r.string("hires_upscaler")) h.upscaler = *v, named = true;
  if (enable.value_or(named)) g.hires = h;
}

void parse_output(FieldReader& r, GenerationRequest& g) {
  g.output_format = r.string("output_format").value_or(g.output_format);
  if (g.output_format == "jpg") g.output_format = "jpeg";
  g.return_base64 = r.boolean("return_base64").value_or(false);
  g.priority = to_int(r, "priority", 0);
  g.timeout_seconds = r.number("timeout");
}

}  // namespace

GenerationRequest parse_postprocess_request(const nlohmann::json& message, std::vector<std::string>& warnings) {
  FieldReader r(message, "");
  GenerationRequest g;
  r.raw("request_id");
  r.raw("message_type");
  g.source_image = r.string("image").value_or("");
  g.postprocess = parse_postprocess(r);
  parse_output(r, g);
  for (const auto& field : r.unread()) warnings.push_back("unknown field ignored: " + field);
  return g;
}

GenerationRequest parse_generation_request(const nlohmann::json& message, std::vector<std::string>& warnings) {
  FieldReader r(message, "");
  GenerationRequest g;
  r.raw("request_id");
  r.raw("message_type");
  g.prompt = r.string("prompt").value_or("");
  g.negative_prompt = r.string("negative_prompt").value_or("");
  g.prompt_2 = r.string("prompt_2").value_or("");
  g.negative_prompt_2 = r.string("negative_prompt_2").value_or("");
  parse_model(r, g.model);
  g.width = to_int(r, "width", g.width);
  g.height = to_int(r, "height", g.height);
  g.steps = to_int(r, "steps", g.steps);
  g.guidance_scale = r.number("guidance_scale").value_or(g.guidance_scale);
  g.guidance_rescale = r.number("guidance_rescale").value_or(g.guidance_rescale);
  g.scheduler = r.string("scheduler").value_or("");
  if (const auto* options = r.object("scheduler_options")) g.scheduler_options = *options;
  if (auto seed = r.integer("seed")) {  // int64 range first so -1 reads as "random"
    if (*seed < -1) r.fail("seed", "must be 0 or more (or -1 for a random seed), got " + std::to_string(*seed));
    if (*seed >= 0) g.seed = static_cast<std::uint64_t>(*seed);
  }
  g.batch_size = to_int(r, "batch_size", g.batch_size);
  g.init_image = r.string("init_image").value_or("");
  g.mask_image = r.string("mask_image").value_or("");
  g.strength = r.number("strength");
  g.denoising_end = r.number("denoising_end");
  g.aesthetic_score = r.number("aesthetic_score").value_or(g.aesthetic_score);
  g.negative_aesthetic_score = r.number("negative_aesthetic_score").value_or(g.negative_aesthetic_score);
  g.original_size = parse_pair(r, "original_size");
  g.target_size = parse_pair(r, "target_size");
  if (auto crop = parse_pair(r, "crops_coords_top_left")) g.crops_coords_top_left = *crop;
  g.negative_original_size = parse_pair(r, "negative_original_size");
  g.negative_target_size = parse_pair(r, "negative_target_size");
  g.negative_crops_coords_top_left = parse_pair(r, "negative_crops_coords_top_left");
  if (auto skip = r.integer("clip_skip")) {
    if (*skip < -2147483647 || *skip > 2147483647) r.fail("clip_skip", "is out of range");
    g.clip_skip = static_cast<int>(*skip);
  }
  g.clip_skip_style = r.string("clip_skip_style").value_or(g.clip_skip_style);
  g.batch_seeds = r.string("batch_seeds").value_or(g.batch_seeds);
  g.loras = parse_list<LoraSpec>(r, "loras", parse_lora);
  g.lora_scale = r.number("lora_scale").value_or(g.lora_scale);
  g.controlnets = parse_list<ControlNetSpec>(r, "controlnets", parse_controlnet);
  parse_hires(r, g);
  g.postprocess = parse_postprocess(r);
  parse_output(r, g);
  for (const auto& field : r.unread()) warnings.push_back("unknown field ignored: " + field);
  return g;
}

}  // namespace workers
