// The C# host's EnhancedSDXLRequest (action "generate_sdxl_enhanced"): PascalCase sections
// Model{Base,Refiner,Vae}, Scheduler{Type,Steps}, Hyperparameters{...}, Conditioning{...}, Output{...}.
#pragma once

#include "compat/request_translator.h"

namespace workers::compat {

class EnhancedSdxlFormat : public RequestTranslator {
 public:
  std::string_view format() const override { return "enhanced_sdxl"; }
  bool recognizes(const nlohmann::json& message) const override;
  TranslatedMessage translate(const nlohmann::json& message) const override;
};

}  // namespace workers::compat
