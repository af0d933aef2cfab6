#include "models/tokenizer/clip_tokenizer.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>
#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/regex.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "utilities/error.h"

namespace workers {
namespace {

// CLIP's pre-tokenization pattern (transformers' CLIPTokenizer, case-insensitive).
constexpr const char* kClipPattern =
    R"(<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+)";

// Python's str.isspace(): bidi class WS, B or S, or category Zs.
bool is_python_space(UChar32 c) {
  if (u_charType(c) == U_SPACE_SEPARATOR) return true;
  const auto bidi = u_charDirection(c);
  return bidi == U_WHITE_SPACE_NEUTRAL || bidi == U_BLOCK_SEPARATOR || bidi == U_SEGMENT_SEPARATOR;
}

// BasicTokenizer._is_control: categories C* except tab/newline/carriage return.
bool is_control(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  switch (u_charType(c)) {
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_UNASSIGNED:
    case U_PRIVATE_USE_CHAR:
    case U_SURROGATE:
      return true;
    default:
      return false;
  }
}

bool is_cjk(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// Splits on Python whitespace and joins with single spaces, lower-casing each piece when asked.
icu::UnicodeString split_join(const icu::UnicodeString& text, bool lower) {
  icu::UnicodeString out, piece;
  auto flush = [&] {
    if (piece.isEmpty()) return;
    if (lower) piece.toLower(icu::Locale::getRoot());
    if (!out.isEmpty()) out.append(static_cast<UChar>(' '));
    out.append(piece);
    piece.remove();
  };
  for (int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    const UChar32 c = text.char32At(i);
    if (is_python_space(c)) {
      flush();
    } else {
      piece.append(c);
    }
  }
  flush();
  return out;
}

std::string to_utf8(const icu::UnicodeString& text) {
  std::string out;
  text.toUTF8String(out);
  return out;
}

// GPT-2/CLIP bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onwards.
const std::array<std::string, 256>& byte_symbols() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const UChar32 cp = printable ? b : 256 + extra++;
      t[static_cast<std::size_t>(b)] = to_utf8(icu::UnicodeString(cp));
    }
    return t;
  }();
  return table;
}

std::vector<std::string> utf8_symbols(const std::string& word) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < word.size();) {
    const auto lead = static_cast<unsigned char>(word[i]);
    const std::size_t n = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    out.push_back(word.substr(i, n));
    i += n;
  }
  return out;
}

nlohmann::json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kModelLoadError, path.string() + ": cannot be read");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kModelLoadError, path.string() + ": not valid JSON: " + e.what());
  }
}

// A special token entry is either "text" or {"content": "text", ...}.
std::string token_text(const nlohmann::json& entry) {
  if (entry.is_string()) return entry.get<std::string>();
  if (entry.is_object() && entry.contains("content") && entry["content"].is_string()) return entry["content"];
  return {};
}

}  // namespace

std::string clean_clip_text(const std::string& text) {
  const auto input = icu::UnicodeString::fromUTF8(text);
  icu::UnicodeString cleaned;
  for (int32_t i = 0; i < input.length(); i = input.moveIndex32(i, 1)) {
    const UChar32 c = input.char32At(i);
    if (c == 0 || c == 0xFFFD || is_control(c)) continue;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || u_charType(c) == U_SPACE_SEPARATOR) {
      cleaned.append(static_cast<UChar>(' '));
    } else if (is_cjk(c)) {
      cleaned.append(static_cast<UChar>(' ')).append(c).append(static_cast<UChar>(' '));
    } else {
      cleaned.append(c);
    }
  }
  UErrorCode status = U_ZERO_ERROR;
  const auto* nfc = icu::Normalizer2::getNFCInstance(status);
  auto normalized = U_SUCCESS(status) ? nfc->normalize(cleaned, status) : cleaned;
  if (U_FAILURE(status)) throw Error(ErrorCode::kInternalError, "ICU NFC normalization failed");
  // BasicTokenizer lower-cases each whitespace token; CLIPTokenizer then collapses whitespace
  // and lower-cases the whole text once more.
  auto joined = split_join(split_join(normalized, true), false);
  joined.toLower(icu::Locale::getRoot());
  return to_utf8(joined);
}

std::shared_ptr<const ClipTokenizer> ClipTokenizer::load(const std::string& folder) {
  namespace fs = std::filesystem;
  const fs::path root(folder);
  std::shared_ptr<ClipTokenizer> t(new ClipTokenizer());
  const auto vocab = read_json_file(root / "vocab.json");
  if (!vocab.is_object() || vocab.empty()) {
    throw Error(ErrorCode::kModelLoadError, (root / "vocab.json").string() + ": expected a token -> id object");
  }
  t->id_to_token_.resize(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0 ||
        it->get<std::int64_t>() >= static_cast<std::int64_t>(vocab.size())) {
      throw Error(ErrorCode::kModelLoadError,
                  (root / "vocab.json").string() + ": id of \"" + it.key() + "\" is not in [0, vocab size)");
    }
    t->vocab_[it.key()] = it->get<std::int64_t>();
    t->id_to_token_[static_cast<std::size_t>(it->get<std::int64_t>())] = it.key();
  }

  std::ifstream merges(root / "merges.txt");
  if (!merges) throw Error(ErrorCode::kModelLoadError, (root / "merges.txt").string() + ": cannot be read");
  std::string line;
  std::getline(merges, line);  // "#version: 0.2"
  // CLIPTokenizer keeps the first 49152 - 256 - 2 merges, whatever the file holds.
  const int max_merges = 49152 - 256 - 2;
  for (int rank = 0; rank < max_merges && std::getline(merges, line);) {
    if (line.empty()) continue;
    if (line.find(' ') == std::string::npos) {
      throw Error(ErrorCode::kModelLoadError, (root / "merges.txt").string() + ": bad merge line \"" + line + "\"");
    }
    t->merge_ranks_.emplace(line, rank++);
  }

  nlohmann::json specials = nlohmann::json::object();
  for (const char* name : {"special_tokens_map.json", "tokenizer_config.json"}) {
    if (!fs::exists(root / name)) continue;
    auto json = read_json_file(root / name);
    if (json.contains("added_tokens_decoder") && json["added_tokens_decoder"].is_object()) {
      for (const auto& entry : json["added_tokens_decoder"]) {
        if (!token_text(entry).empty()) t->added_tokens_.push_back(token_text(entry));
      }
    }
    for (const char* key : {"bos_token", "eos_token", "pad_token", "unk_token"}) {
      if (json.contains(key) && !specials.contains(key) && !token_text(json[key]).empty()) {
        specials[key] = token_text(json[key]);
      }
    }
    if (json.contains("model_max_length") && json["model_max_length"].is_number_integer()) {
      const auto n = json["model_max_length"].get<std::int64_t>();
      if (n > 2 && n < 100000) t->model_max_length_ = static_cast<std::size_t>(n);
    }
  }
  auto special_id = [&](const char* key, const char* fallback) {
    const std::string text = specials.contains(key) ? specials[key].get<std::string>() : fallback;
    auto it = t->vocab_.find(text);
    if (it == t->vocab_.end()) {
      throw Error(ErrorCode::kModelLoadError, folder + ": " + key + " \"" + text + "\" is not in vocab.json");
    }
    return it->second;
  };
  t->bos_id_ = special_id("bos_token", "<|startoftext|>");
  t->eos_id_ = special_id("eos_token", "<|endoftext|>");
  t->unk_id_ = special_id("unk_token", "<|endoftext|>");
  t->pad_id_ = special_id("pad_token", "<|endoftext|>");
  for (auto it = specials.begin(); it != specials.end(); ++it) t->added_tokens_.push_back(it.value());
  std::sort(t->added_tokens_.begin(), t->added_tokens_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  t->added_tokens_.erase(std::unique(t->added_tokens_.begin(), t->added_tokens_.end()), t->added_tokens_.end());
  t->cache_["<|startoftext|>"] = "<|startoftext|>";
  t->cache_["<|endoftext|>"] = "<|endoftext|>";
  return t;
}

std::string ClipTokenizer::bpe(const std::string& word) const {
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    if (auto it = cache_.find(word); it != cache_.end()) return it->second;
  }
  auto symbols = utf8_symbols(word);
  symbols.back() += "</w>";
  while (symbols.size() > 1) {
    int best_rank = std::numeric_limits<int>::max();
    std::string best_first, best_second;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merge_ranks_.find(symbols[i] + " " + symbols[i + 1]);
      if (it != merge_ranks_.end() && it->second < best_rank) {
        best_rank = it->second;
        best_first = symbols[i];
        best_second = symbols[i + 1];
      }
    }
    if (best_rank == std::numeric_limits<int>::max()) break;
    std::vector<std::string> merged;
    for (std::size_t i = 0; i < symbols.size();) {
      if (i + 1 < symbols.size() && symbols[i] == best_first && symbols[i + 1] == best_second) {
        merged.push_back(best_first + best_second);
        i += 2;
      } else {
        merged.push_back(symbols[i++]);
      }
    }
    symbols = std::move(merged);
  }
  std::string out;
  for (const auto& s : symbols) out += (out.empty() ? "" : " ") + s;
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() > 100000) cache_.clear();  // bound memory on adversarial inputs
  cache_.emplace(word, out);
  return out;
}

std::vector<std::string> ClipTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> tokens;
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size();) {
    const std::string* added = nullptr;
    for (const auto& a : added_tokens_) {
      if (text.compare(i, a.size(), a) == 0) {
        added = &a;
        break;
      }
    }
    if (!added) {
      ++i;
      continue;
    }
    if (i > start) tokenize_piece(text.substr(start, i - start), tokens);
    tokens.push_back(*added);
    i += added->size();
    start = i;
  }
  if (start < text.size()) tokenize_piece(text.substr(start), tokens);
  return tokens;
}

void ClipTokenizer::tokenize_piece(const std::string& text, std::vector<std::string>& tokens) const {
  thread_local std::unique_ptr<icu::RegexPattern> pattern;
  UErrorCode status = U_ZERO_ERROR;
  if (!pattern) {
    UParseError parse_error;
    pattern.reset(icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(kClipPattern), UREGEX_CASE_INSENSITIVE,
                                             parse_error, status));
    if (U_FAILURE(status)) throw Error(ErrorCode::kInternalError, "ICU rejected the CLIP pattern");
  }
  const auto cleaned = icu::UnicodeString::fromUTF8(clean_clip_text(text));
  std::unique_ptr<icu::RegexMatcher> matcher(pattern->matcher(cleaned, status));
  const auto& symbols = byte_symbols();
  while (U_SUCCESS(status) && matcher->find(status)) {
    std::string bytes, word;
    matcher->group(status).toUTF8String(bytes);
    for (unsigned char b : bytes) word += symbols[b];
    std::istringstream merged(bpe(word));
    for (std::string token; merged >> token;) tokens.push_back(token);
  }
  if (U_FAILURE(status)) throw Error(ErrorCode::kInternalError, "ICU regex failed while tokenizing");
}

std::int64_t ClipTokenizer::id_of(const std::string& token) const {
  auto it = vocab_.find(token);
  return it == vocab_.end() ? unk_id_ : it->second;
}

std::vector<std::int64_t> ClipTokenizer::encode_tokens(const std::string& text) const {
  std::vector<std::int64_t> ids;
  for (const auto& token : tokenize(text)) ids.push_back(id_of(token));
  return ids;
}

std::vector<std::int64_t> ClipTokenizer::encode(const std::string& text, std::size_t max_length) const {
  auto body = encode_tokens(text);
  if (max_length > 0 && max_length < 2) {
    throw Error(ErrorCode::kInvalidRequest, "max_length must be 0 or at least 2", "max_length");
  }
  if (max_length > 0 && body.size() > max_length - 2) body.resize(max_length - 2);
  std::vector<std::int64_t> ids{bos_id_};
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(eos_id_);
  if (max_length > 0) ids.resize(max_length, pad_id_);
  return ids;
}

const std::string& ClipTokenizer::token(std::int64_t id) const {
  if (id < 0 || id >= static_cast<std::int64_t>(id_to_token_.size())) {
    throw Error(ErrorCode::kInvalidPrompt, "token id " + std::to_string(id) + " is outside the vocabulary");
  }
  return id_to_token_[static_cast<std::size_t>(id)];
}

}  // namespace workers
