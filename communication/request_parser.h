// Canonical inference_request fields -> GenerationRequest, with errors naming the field and
// warnings for fields it does not know. Validation of values is utilities' validate().
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "utilities/generation_request.h"

namespace workers {

// `message` is the whole canonical message (request_id and message_type are skipped).
// Throws Error(INVALID_REQUEST) naming the field; unknown fields are appended to `warnings`.
GenerationRequest parse_generation_request(const nlohmann::json& message, std::vector<std::string>& warnings);

// A postprocess_request: `image` (a path under an image root), `postprocess`, and the output
// fields (output_format, return_base64, priority, timeout).
GenerationRequest parse_postprocess_request(const nlohmann::json& message, std::vector<std::string>& warnings);

}  // namespace workers
