// "name:0.8" shorthand for LoRAs and ControlNets ("style_lora:0.8", "canny:0.8"), as users type
// them in A1111-style tools. Shared by the canonical parser and the legacy formats.
#pragma once

#include <string>

namespace workers::compat {

struct AdapterShorthand {
  std::string name;
  double weight = 1.0;
  bool has_weight = false;
};

// Splits at the last ':' only when what follows is a finite number, so Windows paths
// ("C:\\loras\\a.safetensors") and names with colons survive. Throws Error(INVALID_REQUEST, field)
// for an empty name.
AdapterShorthand parse_adapter_shorthand(const std::string& text, const std::string& field);

}  // namespace workers::compat
