// Clip skip: which CLIP hidden state conditions the UNet, in both conventions users bring.
// diffusers (SDXL): none -> hidden_states[-2], N -> hidden_states[-(N + 2)].
// AUTOMATIC1111: "Clip skip N" -> hidden_states[-N] (1 = last layer, 2 = penultimate, SDXL's default).
#pragma once

#include <optional>
#include <string>

namespace workers {

// Negative index into the encoder's hidden states. Throws Error(INVALID_REQUEST, "clip_skip").
int clip_hidden_state_index(std::optional<int> clip_skip, const std::string& style);

}  // namespace workers
