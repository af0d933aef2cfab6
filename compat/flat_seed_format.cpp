#include "compat/flat_seed_format.h"

#include "compat/adapter_shorthand.h"
#include "compat/canonical_builder.h"
#include "utilities/error.h"

namespace workers::compat {
namespace {

nlohmann::json translate_lora_block(const nlohmann::json& lora, const std::string& field) {
  if (lora.is_array() || lora.is_string()) return lora;  // already the canonical list/shorthand form
  if (!lora.is_object()) throw_invalid(field, "must be an object {enabled, adapters}");
  bool enabled = true;
  if (auto it = lora.find("enabled"); it != lora.end() && !it->is_null()) {
    if (!it->is_boolean()) throw_invalid(field + ".enabled", "must be true or false");
    enabled = it->get<bool>();
  }
  nlohmann::json out = nlohmann::json::array();
  auto adapters = lora.find("adapters");
  if (adapters == lora.end() || adapters->is_null()) return out;
  if (!adapters->is_array()) throw_invalid(field + ".adapters", "must be a list");
  for (std::size_t i = 0; i < adapters->size(); ++i) {
    const auto& a = (*adapters)[i];
    const std::string af = field + ".adapters[" + std::to_string(i) + "]";
    if (a.is_string()) {
      auto shorthand = parse_adapter_shorthand(a.get<std::string>(), af);
      out.push_back({{"name", shorthand.name}, {"weight", shorthand.weight}, {"enabled", enabled}});
      continue;
    }
    if (!a.is_object()) throw_invalid(af, "must be an object {model_id, weight} or a \"name:weight\" string");
    nlohmann::json entry = nlohmann::json::object();
    for (const char* key : {"model_id", "name", "path"}) {
      if (a.contains(key)) entry["name"] = a[key];
    }
    if (a.contains("weight")) entry["weight"] = a["weight"];
    bool adapter_enabled = enabled;
    if (a.contains("enabled")) {
      if (!a["enabled"].is_boolean()) throw_invalid(af + ".enabled", "must be true or false");
      adapter_enabled = enabled && a["enabled"].get<bool>();
    }
    entry["enabled"] = adapter_enabled;
    out.push_back(entry);
  }
  return out;
}

}  // namespace

bool FlatSeedFormat::recognizes(const nlohmann::json& m) const {
  // model_id may be absent (the model then comes from workers.instructors.model.default_model);
  // a prompt still marks a generation request.
  return m.is_object() && !m.contains("message_type") && !m.contains("operation") &&
         !m.contains("worker_type") && (m.contains("model_id") || m.contains("prompt"));
}

TranslatedMessage FlatSeedFormat::translate(const nlohmann::json& message) const {
  return translate_at(message, "");
}

TranslatedMessage FlatSeedFormat::translate_at(const nlohmann::json& params, const std::string& prefix) {
  if (!params.is_object()) throw_invalid(prefix.empty() ? "message" : prefix.substr(0, prefix.size() - 1),
                                         "must be an object");
  CanonicalBuilder out("inference_request");
  for (auto it = params.begin(); it != params.end(); ++it) {
    const std::string& key = it.key();
    const std::string origin = prefix + key;
    if (key == "model_id") {
      out.set_path("/model/base", *it, origin);
    } else if (key == "num_inference_steps") {
      out.set("steps", *it, origin);
    } else if (key == "num_images_per_prompt") {
      out.set("batch_size", *it, origin);
    } else if (key == "lora") {
      out.set("loras", translate_lora_block(*it, origin), origin);
    } else {
      out.set(key, *it, origin);  // same name in the canonical form (or reported as unknown there)
    }
  }
  TranslatedMessage result = out.take();
  // "model.base is required" is about the sender's model_id, even when it sent none.
  if (!params.contains("model_id") && !params.contains("model")) {
    result.field_origin.emplace("model.base", prefix + "model_id");
  }
  return result;
}

}  // namespace workers::compat
