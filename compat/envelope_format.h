// The hierarchical envelope: {request_id, worker_type, operation, data}. `operation` picks the
// message type; `data` holds the parameters (canonical names or the flat seed names).
#pragma once

#include "compat/request_translator.h"

namespace workers::compat {

class EnvelopeFormat : public RequestTranslator {
 public:
  std::string_view format() const override { return "envelope"; }
  bool recognizes(const nlohmann::json& message) const override;
  TranslatedMessage translate(const nlohmann::json& message) const override;
};

}  // namespace workers::compat
