// libFuzzer target: any bytes as a prompt go through the A1111 emphasis parser, the CLIP
// tokenizer (ICU cleaning, regex, BPE) and chunking; the result is either an INVALID_PROMPT
// error or 77-id chunks of in-vocabulary ids with finite weights. Never a crash or a hang.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "conditioning/prompt_chunks.h"
#include "models/tokenizer/clip_tokenizer.h"
#include "utilities/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto tokenizer = workers::ClipTokenizer::load(SDXL_FIXTURES_DIR "/tiny-sdxl/tokenizer_2");
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const auto chunks = workers::chunk_prompt(workers::parse_prompt_attention(text), *tokenizer);
    if (chunks.empty()) __builtin_trap();
    for (const auto& chunk : chunks) {
      if (chunk.ids.size() != 77 || chunk.weights.size() != 77) __builtin_trap();
      for (auto id : chunk.ids) {
        if (id < 0 || static_cast<std::size_t>(id) >= tokenizer->vocab_size()) __builtin_trap();
      }
      for (float w : chunk.weights) {
        if (!std::isfinite(w)) __builtin_trap();
      }
    }
  } catch (const workers::Error& e) {
    if (e.code() != workers::ErrorCode::kInvalidPrompt) __builtin_trap();
  }
  return 0;
}
