#include "utilities/error.h"

namespace workers {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidRequest: return "INVALID_REQUEST";
    case ErrorCode::kInvalidPrompt: return "INVALID_PROMPT";
    case ErrorCode::kModelNotFound: return "MODEL_NOT_FOUND";
    case ErrorCode::kModelLoadError: return "MODEL_LOAD_ERROR";
    case ErrorCode::kOomError: return "OOM_ERROR";
    case ErrorCode::kTimeoutError: return "TIMEOUT_ERROR";
    case ErrorCode::kCancelled: return "CANCELLED";
    case ErrorCode::kWorkerUnavailable: return "WORKER_UNAVAILABLE";
    case ErrorCode::kI2iPipelineError: return "I2I_PIPELINE_ERROR";
    case ErrorCode::kConfigError: return "CONFIG_ERROR";
    case ErrorCode::kQueueFull: return "QUEUE_FULL";
    case ErrorCode::kInternalError: return "INTERNAL_ERROR";
  }
  return "INTERNAL_ERROR";
}

namespace {
// what() is a C string: a NUL from a request (a model name, a key) would cut the message there.
std::string without_nul(std::string text) {
  for (std::size_t at = text.find('\0'); at != std::string::npos; at = text.find('\0', at)) {
    text.replace(at, 1, "\\u0000");
  }
  return text;
}
}  // namespace

Error::Error(ErrorCode code, const std::string& message, std::string field)
    : std::runtime_error(without_nul(message)), code_(code), field_(without_nul(std::move(field))) {}

Error Error::with_field(std::string field) const { return Error(code_, what(), std::move(field)); }

bool is_out_of_memory_message(std::string_view what) {
  for (std::string_view marker : {"out of memory", "DefaultCPUAllocator", "not enough memory", "can't allocate memory",
                                  "bad_alloc", "std::bad_alloc"}) {
    if (what.find(marker) != std::string_view::npos) return true;
  }
  return false;
}

void throw_invalid(const std::string& field, const std::string& message) {
  throw Error(ErrorCode::kInvalidRequest, field.empty() ? message : field + ": " + message, field);
}

}  // namespace workers
