// MessageDecoder: one protocol line or JSON value -> a typed Message, translating legacy formats
// through the injected compat translators and validating every field. Never throws: a failure
// comes back as an Error with whatever request_id could be read, so it can be answered.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "communication/message.h"
#include "compat/request_translator.h"
#include "utilities/error.h"

namespace workers {

struct DecodeResult {
  std::string request_id;          // as sent, or generated ("auto-N") when absent; "" if unreadable
  std::string response_type;       // "<type>_response" once the message type is known, else ""
  std::optional<Message> message;  // set on success
  std::optional<Error> error;      // set on failure
  std::vector<std::string> warnings;
};

class MessageDecoder {
 public:
  // `default_model`: the base model of an inference request that names none ("" : required).
  MessageDecoder(std::vector<std::shared_ptr<const compat::RequestTranslator>> translators,
                 RequestLimits limits, std::string default_model = "");

  DecodeResult decode_line(std::string_view line) const;
  DecodeResult decode(const nlohmann::json& value) const;

 private:
  // decode() for a value whose depth is known to be within kMaxJsonDepth.
  DecodeResult decode_checked(const nlohmann::json& value) const;
  Message build(const nlohmann::json& canonical, std::vector<std::string>& warnings) const;

  std::vector<std::shared_ptr<const compat::RequestTranslator>> translators_;
  RequestLimits limits_;
  std::string default_model_;
  mutable std::atomic<unsigned long long> next_id_{1};
};

}  // namespace workers
