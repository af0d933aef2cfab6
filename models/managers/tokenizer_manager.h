// TokenizerManager: the role that gives a model's CLIP tokenizers: its own tokenizer/ and
// tokenizer_2/ folders, or this build's copies (data/tokenizers) for single-file checkpoints.
#pragma once

#include <memory>

#include "models/managers/model_handle.h"
#include "models/tokenizer/clip_tokenizer.h"

namespace workers {

struct SdxlTokenizers {
  std::shared_ptr<const ClipTokenizer> tokenizer;  // null for a refiner (no CLIP-L)
  std::shared_ptr<const ClipTokenizer> tokenizer_2;
};

class TokenizerManager {
 public:
  virtual ~TokenizerManager() = default;
  // Throws Error(MODEL_LOAD_ERROR) when a vocabulary cannot be read.
  virtual SdxlTokenizers tokenizers(const ModelHandle& model) = 0;
};

}  // namespace workers
