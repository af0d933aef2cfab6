#include "communication/message_decoder.h"

#include <optional>

#include "communication/json_guard.h"
#include "communication/request_parser.h"
#include "utilities/json_fields.h"

namespace workers {
namespace {

// Request ids (and cancel targets) are strings; integers are accepted and read as their digits.
std::string read_id(const nlohmann::json& value, const std::string& key) {
  auto it = value.find(key);
  if (it == value.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer() || it->is_number_unsigned()) return it->dump();
  throw_invalid(key, "must be a string or an integer");
}

// Maps a canonical error field back to the sender's spelling: exact match first, else the
// longest canonical prefix ("loras" for "loras[0].weight" -> "Conditioning.LoRAs[0].weight").
std::optional<std::string> original_field(const std::map<std::string, std::string>& origin,
                                          const std::string& field) {
  if (auto it = origin.find(field); it != origin.end()) return it->second;
  std::optional<std::string> best;
  std::size_t best_length = 0;
  for (const auto& [canonical, original] : origin) {
    if (canonical.size() > best_length && field.size() > canonical.size() &&
        field.compare(0, canonical.size(), canonical) == 0 &&
        (field[canonical.size()] == '[' || field[canonical.size()] == '.')) {
      best = original + field.substr(canonical.size());
      best_length = canonical.size();
    }
  }
  return best;
}

std::string known_types() {
  std::string list;
  for (auto t : {MessageType::kInference, MessageType::kPostprocess, MessageType::kModelLoad, MessageType::kModelUnload,
                 MessageType::kStatus, MessageType::kCancel, MessageType::kShutdown}) {
    list += (list.empty() ? "" : ", ") + std::string(to_string(t));
  }
  return list;
}

}  // namespace

MessageDecoder::MessageDecoder(std::vector<std::shared_ptr<const compat::RequestTranslator>> translators,
                               RequestLimits limits, std::string default_model)
    : translators_(std::move(translators)), limits_(limits), default_model_(std::move(default_model)) {}

DecodeResult MessageDecoder::decode_line(std::string_view line) const {
  nlohmann::json value;
  std::string request_id;
  try {
    value = parse_protocol_line(line, kMaxJsonDepth, &request_id);
  } catch (const Error& e) {
    DecodeResult result;
    result.request_id = request_id;
    result.error = e;
    return result;
  }
  return decode_checked(value);  // the line's depth was checked while parsing
}

DecodeResult MessageDecoder::decode(const nlohmann::json& value) const {
  try {
    check_json_depth(value);  // before anything copies it: a host may pass a value it built
  } catch (const Error& e) {
    DecodeResult result;
    result.error = e;
    return result;
  }
  return decode_checked(value);
}

DecodeResult MessageDecoder::decode_checked(const nlohmann::json& value) const {
  DecodeResult result;
  std::map<std::string, std::string> origin;
  try {
    if (!value.is_object()) {
      throw Error(ErrorCode::kInvalidRequest, "a message must be a JSON object, got " + json_type_name(value));
    }
    result.request_id = read_id(value, "request_id");
    nlohmann::json canonical = value;
    std::string format = "canonical";
    // Each translator decides: the C# host sends an EnhancedSDXLRequest beside a message_type.
    for (const auto& t : translators_) {
      if (!t->recognizes(value)) continue;
      auto translated = t->translate(value);
      canonical = std::move(translated.message);
      origin = std::move(translated.field_origin);
      result.warnings = std::move(translated.warnings);
      format = std::string(t->format());
      break;
    }
    if (result.request_id.empty()) result.request_id = "auto-" + std::to_string(next_id_++);
    canonical["request_id"] = result.request_id;
    if (auto type = canonical.find("message_type"); type != canonical.end() && type->is_string()) {
      if (auto known = message_type_from(type->get<std::string>())) result.response_type = response_type(*known);
    }
    Message message = build(canonical, result.warnings);
    message.format = format;
    message.warnings = result.warnings;
    result.message = std::move(message);
  } catch (const Error& e) {
    if (auto original = original_field(origin, e.field())) {
      std::string text = e.what();
      if (text.rfind(e.field() + ":", 0) == 0) text = *original + text.substr(e.field().size());
      result.error = Error(e.code(), text, *original);
    } else {
      result.error = e;
    }
  } catch (const nlohmann::json::exception& e) {
    // A value no check anticipated (fuzzing finds these): still an answer, never a crash.
    result.error = Error(ErrorCode::kInvalidRequest, std::string("malformed message: ") + e.what());
  } catch (const std::exception& e) {
    result.error = Error(ErrorCode::kInternalError, std::string("cannot decode the message: ") + e.what());
  }
  return result;
}

Message MessageDecoder::build(const nlohmann::json& canonical, std::vector<std::string>& warnings) const {
  FieldReader r(canonical, "");
  auto type_name = r.string("message_type");
  if (!type_name) {
    r.fail("message_type", "is missing; expected one of " + known_types() +
                               " (or a legacy format: flat seed, envelope, EnhancedSDXLRequest)");
  }
  auto type = message_type_from(*type_name);
  if (!type) r.fail("message_type", "unknown type \"" + *type_name + "\"; expected one of " + known_types());

  Message m;
  m.type = *type;
  m.request_id = canonical["request_id"].get<std::string>();
  switch (*type) {
    case MessageType::kInference: {
      GenerationRequest g = parse_generation_request(canonical, warnings);
      g.request_id = m.request_id;
      if (g.model.base.empty() && !default_model_.empty()) g.model.base = default_model_;
      validate(g, limits_);
      m.generation = std::move(g);
      return m;
    }
    case MessageType::kPostprocess: {
      GenerationRequest g = parse_postprocess_request(canonical, warnings);
      g.request_id = m.request_id;
      validate_postprocess_only(g, limits_);
      m.generation = std::move(g);
      return m;
    }
    case MessageType::kModelLoad:
    case MessageType::kModelUnload: {
      r.raw("request_id");
      m.model.model = r.string("model").value_or("");
      if (m.model.model.empty()) r.fail("model", "is required (a model name or path)");
      m.model.component = r.string("component").value_or("base");
      static const char* kComponents[] = {"base", "refiner", "vae", "lora", "controlnet"};
      bool known = false;
      for (const char* c : kComponents) known = known || m.model.component == c;
      if (!known) r.fail("component", "must be base, refiner, vae, lora or controlnet");
      break;
    }
    case MessageType::kCancel:
      r.raw("request_id");
      r.raw("target_request_id");
      m.cancel_target = read_id(canonical, "target_request_id");
      if (m.cancel_target.empty()) r.fail("target_request_id", "is required (the request_id to cancel)");
      break;
    case MessageType::kStatus:
    case MessageType::kShutdown:
      r.raw("request_id");
      break;
  }
  for (const auto& field : r.unread()) warnings.push_back("unknown field ignored: " + field);
  return m;
}

}  // namespace workers
