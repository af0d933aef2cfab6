// SDXL prompt conditioning: both CLIP encoders (or text_encoder_2 alone for the refiner) over
// A1111-style weighted 75-token chunks, clip skip, pooled text embeds from encoder 2's first
// chunk, and diffusers' force_zeros_for_empty_prompt for an absent negative prompt.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "models/nn/clip_text_model.h"
#include "models/tokenizer/clip_tokenizer.h"

namespace workers {

struct SdxlTextEncoders {
  ClipTextModel text_encoder{nullptr};  // CLIP-L; null for a refiner
  ClipTextModel text_encoder_2{nullptr};
  std::shared_ptr<const ClipTokenizer> tokenizer, tokenizer_2;
};

struct PromptOptions {
  std::optional<int> clip_skip;                // see conditioning/clip_skip.h
  std::string clip_skip_style = "diffusers";   // or "a1111"
  bool force_zeros_for_empty_prompt = true;    // model_index.json's flag
  bool emphasis = true;                        // parse (text:1.2) / [text] / BREAK
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

// `negative`: nullopt = no negative prompt (zeros when force_zeros_for_empty_prompt, as
// diffusers' SDXL pipelines). Positive and negative get the same chunk count (the shorter is
// padded with empty-prompt chunks). Errors: INVALID_PROMPT (weights), INVALID_REQUEST (clip_skip).
EncodedPrompts encode_prompts(const SdxlTextEncoders& encoders, const std::string& prompt,
                              const std::optional<std::string>& negative, const PromptOptions& options = {});

}  // namespace workers
