#include "instructors/communication_instructor.h"

namespace workers {

CommunicationInstructor::CommunicationInstructor(std::shared_ptr<const MessageDecoder> decoder,
                                                 CommunicationConfig config)
    : decoder_(std::move(decoder)), config_(config) {}

nlohmann::json CommunicationInstructor::success(const ResponseMeta& meta, nlohmann::json data) const {
  return make_success(meta, std::move(data));
}

nlohmann::json CommunicationInstructor::failure(const ResponseMeta& meta, const Error& error) const {
  return make_failure(meta, error);
}

nlohmann::json CommunicationInstructor::progress(const std::string& request_id, const ProgressUpdate& update,
                                                 double elapsed) const {
  if (!config_.progress_events) return nullptr;
  return make_progress(request_id, update, elapsed);
}

Error CommunicationInstructor::overflow_error(std::size_t bytes) const {
  return Error(ErrorCode::kInvalidRequest,
               "line exceeds max_line_bytes (" + std::to_string(config_.max_line_bytes) + " bytes; saw at least " +
                   std::to_string(bytes) + "); the line was dropped");
}

}  // namespace workers
