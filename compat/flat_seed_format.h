// The seed-era flat request: {model_id, prompt, negative_prompt, width, height,
// num_inference_steps, guidance_scale, scheduler, seed, lora: {enabled, adapters: [...]}}.
#pragma once

#include "compat/request_translator.h"

namespace workers::compat {

class FlatSeedFormat : public RequestTranslator {
 public:
  std::string_view format() const override { return "flat_seed"; }
  bool recognizes(const nlohmann::json& message) const override;
  TranslatedMessage translate(const nlohmann::json& message) const override;

  // Translates a flat parameter object found at `prefix` (e.g. "data." inside an envelope).
  static TranslatedMessage translate_at(const nlohmann::json& params, const std::string& prefix);
};

}  // namespace workers::compat
