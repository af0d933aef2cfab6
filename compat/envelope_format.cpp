#include "compat/envelope_format.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "compat/canonical_builder.h"
#include "compat/flat_seed_format.h"
#include "utilities/error.h"

namespace workers::compat {
namespace {

// operation (lower case) -> canonical message_type
const std::pair<const char*, const char*> kOperations[] = {
    {"generate", "inference_request"},     {"text2img", "inference_request"},
    {"txt2img", "inference_request"},      {"img2img", "inference_request"},
    {"inpaint", "inference_request"},      {"inference", "inference_request"},
    {"generate_sdxl", "inference_request"}, {"load_model", "model_load_request"},
    {"load", "model_load_request"},        {"unload_model", "model_unload_request"},
    {"unload", "model_unload_request"},    {"status", "status_request"},
    {"get_status", "status_request"},      {"health", "status_request"},
    {"cancel", "cancel_request"},          {"shutdown", "shutdown"},
};

std::string message_type_for(const std::string& operation) {
  std::string op = operation;
  std::transform(op.begin(), op.end(), op.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& [name, type] : kOperations) {
    if (op == name) return type;
  }
  std::string list;
  for (const auto& [name, type] : kOperations) list += (list.empty() ? "" : ", ") + std::string(name);
  throw_invalid("operation", "unknown operation \"" + operation + "\"; expected one of " + list);
}

}  // namespace

bool EnvelopeFormat::recognizes(const nlohmann::json& m) const {
  return m.is_object() && !m.contains("message_type") && m.contains("operation");
}

TranslatedMessage EnvelopeFormat::translate(const nlohmann::json& message) const {
  const auto& op = message["operation"];
  if (!op.is_string()) throw_invalid("operation", "must be a string");
  const std::string type = message_type_for(op.get<std::string>());
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json* data = &kEmpty;
  if (auto it = message.find("data"); it != message.end() && !it->is_null()) {
    if (!it->is_object()) throw_invalid("data", "must be an object");
    data = &*it;
  }

  TranslatedMessage out;
  if (type == "inference_request") {
    out = FlatSeedFormat::translate_at(*data, "data.");
  } else {
    CanonicalBuilder builder(type);
    for (auto it = data->begin(); it != data->end(); ++it) {
      // model_id is the seed name for the model reference in load/unload requests too.
      builder.set(it.key() == "model_id" ? "model" : it.key(), *it, "data." + it.key());
    }
    out = builder.take();
  }
  out.message["message_type"] = type;
  if (message.contains("request_id")) out.message["request_id"] = message["request_id"];
  for (auto it = message.begin(); it != message.end(); ++it) {
    if (it.key() != "request_id" && it.key() != "operation" && it.key() != "data" &&
        it.key() != "worker_type") {
      out.warnings.push_back("unknown envelope field ignored: " + it.key());
    }
  }
  return out;
}

}  // namespace workers::compat
