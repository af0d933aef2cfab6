// SDXL prompt conditioning: both CLIP encoders (or text_encoder_2 alone for the refiner) over
// A1111-style weighted 75-token chunks, clip skip, pooled text embeds from encoder 2's first
// chunk, and diffusers' force_zeros_for_empty_prompt for an absent negative prompt.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/nn/sdxl_text_encoders.h"

namespace workers {

struct PromptOptions {
  // Negative index into the CLIP hidden states, as the conditioning manager decided it from the
  // request's clip_skip (conditioning/clip_skip.h); -2 = penultimate, SDXL's default.
  int hidden_state_index = -2;
  bool force_zeros_for_empty_prompt = true;  // model_index.json's flag
  bool emphasis = true;                      // parse (text:1.2) / [text] / BREAK
};

struct PromptEmbeddings {
  at::Tensor embeds;  // [1, 77·chunks, 768 + 1280] (refiner: 1280)
  at::Tensor pooled;  // [1, projection_dim]
};

struct EncodedPrompts {
  PromptEmbeddings positive;
  PromptEmbeddings negative;
  std::vector<std::string> warnings;  // unbalanced brackets, ...
};

// The texts of one request as diffusers' encode_prompt takes them: `prompt_2` / `negative_2` go to
// text_encoder_2 (nullopt: the same as `prompt` / `negative`). A refiner (text_encoder_2 only)
// reads `prompt` / `negative`, as diffusers' zip of prompts with the refiner's one tokenizer does.
struct PromptTexts {
  std::string prompt;
  std::optional<std::string> prompt_2;
  std::optional<std::string> negative;
  std::optional<std::string> negative_2;
};

// `negative`: nullopt = no negative prompt (zeros when force_zeros_for_empty_prompt, as
// diffusers' SDXL pipelines). Positive and negative get the same chunk count (the shorter is
// padded with empty-prompt chunks). Errors: INVALID_PROMPT (weights), INVALID_REQUEST (field
// clip_skip: hidden_state_index deeper than the encoder).
EncodedPrompts encode_prompts(const SdxlTextEncoders& encoders, const PromptTexts& texts,
                              const PromptOptions& options = {});
// The same prompt for both encoders.
EncodedPrompts encode_prompts(const SdxlTextEncoders& encoders, const std::string& prompt,
                              const std::optional<std::string>& negative, const PromptOptions& options = {});

}  // namespace workers
