#include "conditioning/prompt_chunks.h"

#include "models/tokenizer/clip_tokenizer.h"

namespace workers {
namespace {

TokenChunk close_chunk(std::vector<std::int64_t> ids, std::vector<float> weights, const ClipTokenizer& tokenizer) {
  TokenChunk chunk;
  chunk.ids.reserve(kChunkTokens + 2);
  chunk.ids.push_back(tokenizer.bos_id());
  chunk.ids.insert(chunk.ids.end(), ids.begin(), ids.end());
  chunk.ids.push_back(tokenizer.eos_id());
  chunk.ids.resize(kChunkTokens + 2, tokenizer.pad_id());
  chunk.weights.push_back(1.0f);
  chunk.weights.insert(chunk.weights.end(), weights.begin(), weights.end());
  chunk.weights.resize(kChunkTokens + 2, 1.0f);
  return chunk;
}

}  // namespace

std::vector<TokenChunk> chunk_prompt(const std::vector<PromptSegment>& segments, const ClipTokenizer& tokenizer) {
  std::vector<TokenChunk> chunks;
  std::vector<std::int64_t> ids;
  std::vector<float> weights;
  auto next_chunk = [&] {
    chunks.push_back(close_chunk(std::move(ids), std::move(weights), tokenizer));
    ids.clear();
    weights.clear();
  };
  for (const auto& segment : segments) {
    if (segment.is_break) {
      next_chunk();
      continue;
    }
    for (auto id : tokenizer.encode_tokens(segment.text)) {
      if (ids.size() == kChunkTokens) next_chunk();
      ids.push_back(id);
      weights.push_back(static_cast<float>(segment.weight));
    }
  }
  if (!ids.empty() || chunks.empty()) next_chunk();
  return chunks;
}

TokenChunk empty_chunk(const ClipTokenizer& tokenizer) { return close_chunk({}, {}, tokenizer); }

}  // namespace workers
