// Turns parsed prompt segments into CLIP-sized chunks as AUTOMATIC1111 does: 75 tokens each,
// wrapped in BOS/EOS and padded to 77, one weight per token; BREAK starts a new chunk.
// Torch-free.
#pragma once

#include <cstdint>
#include <vector>

#include "conditioning/prompt_parser.h"

namespace workers {

class ClipTokenizer;

struct TokenChunk {
  std::vector<std::int64_t> ids;  // 77: BOS, up to 75 tokens, EOS, padding
  std::vector<float> weights;     // 77, 1.0 on BOS/EOS/padding
};

constexpr std::size_t kChunkTokens = 75;

// Never empty. Padding follows the tokenizer: EOS then its pad token (tokenizer_2: "!" = 0),
// so a prompt of ≤ 75 tokens without syntax gives exactly the tokenizer's max_length ids.
std::vector<TokenChunk> chunk_prompt(const std::vector<PromptSegment>& segments, const ClipTokenizer& tokenizer);

// A chunk of the empty prompt (what shorter prompts are padded with to match chunk counts).
TokenChunk empty_chunk(const ClipTokenizer& tokenizer);

}  // namespace workers
