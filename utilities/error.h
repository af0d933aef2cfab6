// workers::Error: the one exception type that crosses layers, carrying a protocol error code,
// a message for people and the request field at fault (a JSON path such as "loras[1].weight").
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace workers {

enum class ErrorCode {
  kInvalidRequest,
  kInvalidPrompt,
  kModelNotFound,
  kModelLoadError,
  kOomError,
  kTimeoutError,
  kCancelled,
  kWorkerUnavailable,
  kI2iPipelineError,
  kConfigError,
  kQueueFull,
  kInternalError,
};

// Protocol spelling of a code, e.g. "INVALID_REQUEST".
std::string_view to_string(ErrorCode code);

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message, std::string field = {});

  ErrorCode code() const { return code_; }
  const std::string& field() const { return field_; }
  // A copy whose field is replaced, used when a legacy format renames the canonical field.
  Error with_field(std::string field) const;

 private:
  ErrorCode code_;
  std::string field_;
};

// True for what allocators say when memory runs out: CUDA's "out of memory", libtorch's CPU
// allocator's "DefaultCPUAllocator: not enough memory" / "can't allocate memory", std::bad_alloc's.
bool is_out_of_memory_message(std::string_view what);

// Shorthand for the most common failure: a request field with a bad value.
[[noreturn]] void throw_invalid(const std::string& field, const std::string& message);

}  // namespace workers
