// ClipTokenizer: CLIP's byte-level BPE as transformers' CLIPTokenizer runs it without ftfy —
// added-token splitting, BasicTokenizer cleaning (control characters, whitespace, CJK spacing, NFC, lower case), the
// CLIP pre-tokenization regex over Unicode letters/numbers (ICU), byte-to-unicode, ranked merges.
// Torch-free; thread-safe (the merge cache is guarded).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace workers {

class ClipTokenizer {
 public:
  // From a tokenizer folder (vocab.json, merges.txt, and special_tokens_map.json /
  // tokenizer_config.json for the pad token and model_max_length). Throws Error(MODEL_LOAD_ERROR).
  static std::shared_ptr<const ClipTokenizer> load(const std::string& folder);

  // BPE token strings (no BOS/EOS), e.g. "photo</w>".
  std::vector<std::string> tokenize(const std::string& text) const;
  // Ids of tokenize(text), no BOS/EOS, no length limit.
  std::vector<std::int64_t> encode_tokens(const std::string& text) const;
  // BOS + ids + EOS. max_length > 0: truncated to max_length (EOS kept), padded with pad_id();
  // 0: neither (transformers' tokenizer(text) without padding/truncation).
  std::vector<std::int64_t> encode(const std::string& text, std::size_t max_length) const;

  const std::string& token(std::int64_t id) const;  // throws Error(INVALID_PROMPT) when out of range
  std::int64_t bos_id() const { return bos_id_; }
  std::int64_t eos_id() const { return eos_id_; }
  std::int64_t pad_id() const { return pad_id_; }
  std::size_t model_max_length() const { return model_max_length_; }
  std::size_t vocab_size() const { return id_to_token_.size(); }

 private:
  ClipTokenizer() = default;
  std::string bpe(const std::string& word) const;  // space-separated merged symbols
  void tokenize_piece(const std::string& text, std::vector<std::string>& out) const;
  std::int64_t id_of(const std::string& token) const;

  std::unordered_map<std::string, std::int64_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int> merge_ranks_;  // "a b" -> rank
  // transformers splits raw text on added tokens (the special tokens, and "!" where it is
  // tokenizer_2's pad token) before cleaning; longest first.
  std::vector<std::string> added_tokens_;
  std::int64_t bos_id_ = 0, eos_id_ = 0, pad_id_ = 0, unk_id_ = 0;
  std::size_t model_max_length_ = 77;
  mutable std::mutex cache_mutex_;
  mutable std::unordered_map<std::string, std::string> cache_;
};

// transformers' BasicTokenizer + whitespace_clean + lower(): the text the regex splits.
std::string clean_clip_text(const std::string& text);

}  // namespace workers
