// Message: one decoded protocol request, typed, with its request_id and the warnings found while
// decoding (unknown fields, legacy format notes). Produced by MessageDecoder only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "utilities/generation_request.h"

namespace workers {

enum class MessageType { kInference, kPostprocess, kModelLoad, kModelUnload, kStatus, kCancel, kShutdown };

std::string_view to_string(MessageType type);                      // "inference_request", ...
std::optional<MessageType> message_type_from(std::string_view name);
std::string response_type(MessageType type);                      // "inference_response", ...

struct Message {
  std::string request_id;
  MessageType type = MessageType::kStatus;
  std::string format = "canonical";  // or the legacy format it was translated from
  std::optional<GenerationRequest> generation;  // kInference; kPostprocess (source_image, postprocess)
  ModelReference model;                         // kModelLoad / kModelUnload
  std::string cancel_target;                    // kCancel: the request_id to cancel
  std::vector<std::string> warnings;
};

}  // namespace workers
