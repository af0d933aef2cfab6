#include "communication/message.h"

namespace workers {
namespace {
struct TypeName {
  MessageType type;
  std::string_view name;
};
constexpr TypeName kTypes[] = {
    {MessageType::kInference, "inference_request"},
    {MessageType::kPostprocess, "postprocess_request"},
    {MessageType::kModelLoad, "model_load_request"},
    {MessageType::kModelUnload, "model_unload_request"},
    {MessageType::kStatus, "status_request"},
    {MessageType::kCancel, "cancel_request"},
    {MessageType::kShutdown, "shutdown"},
};
}  // namespace

std::string_view to_string(MessageType type) {
  for (const auto& t : kTypes) {
    if (t.type == type) return t.name;
  }
  return "unknown";
}

std::optional<MessageType> message_type_from(std::string_view name) {
  for (const auto& t : kTypes) {
    if (t.name == name) return t.type;
  }
  return std::nullopt;
}

std::string response_type(MessageType type) {
  std::string name(to_string(type));
  const std::string suffix = "_request";
  if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    name.resize(name.size() - suffix.size());
  }
  return name + "_response";
}

}  // namespace workers
