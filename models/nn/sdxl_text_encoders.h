// The text side of an SDXL model: both CLIP encoders and their tokenizers (a refiner has only the
// second pair). Loaded by the model managers, read by the prompt encoder.
#pragma once

#include <memory>

#include "models/nn/clip_text_model.h"
#include "models/tokenizer/clip_tokenizer.h"

namespace workers {

struct SdxlTextEncoders {
  ClipTextModel text_encoder{nullptr};  // CLIP-L; null for a refiner
  ClipTextModel text_encoder_2{nullptr};
  std::shared_ptr<const ClipTokenizer> tokenizer, tokenizer_2;
};

}  // namespace workers
