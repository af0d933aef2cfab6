// CommunicationInstructor: turns wire messages into typed Messages (through MessageDecoder and the
// compat translators) and typed outcomes back into protocol envelopes and progress events.
#pragma once

#include <memory>
#include <string_view>

#include "communication/envelope.h"
#include "communication/message_decoder.h"
#include "utilities/config.h"

namespace workers {

class CommunicationInstructor {
 public:
  CommunicationInstructor(std::shared_ptr<const MessageDecoder> decoder, CommunicationConfig config);

  DecodeResult decode_line(std::string_view line) const { return decoder_->decode_line(line); }
  DecodeResult decode(const nlohmann::json& value) const { return decoder_->decode(value); }

  nlohmann::json success(const ResponseMeta& meta, nlohmann::json data) const;
  nlohmann::json failure(const ResponseMeta& meta, const Error& error) const;
  // Empty (null) when progress events are switched off in config.
  nlohmann::json progress(const std::string& request_id, const ProgressUpdate& update, double elapsed) const;
  // The error answered for a line longer than max_line_bytes.
  Error overflow_error(std::size_t bytes) const;
  const CommunicationConfig& config() const { return config_; }

 private:
  std::shared_ptr<const MessageDecoder> decoder_;
  CommunicationConfig config_;
};

}  // namespace workers
