#include "conditioning/prompt_parser.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "utilities/error.h"

namespace workers {
namespace {

constexpr double kRoundMultiplier = 1.1;
constexpr double kSquareMultiplier = 1.0 / 1.1;

struct Piece {
  std::string text;
  double weight = 1.0;
  bool is_break = false;
  bool bracket = false;  // an opening bracket: dropped once closed, literal text if never closed
  bool open = false;
};

bool is_space(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_'; }

// Splits plain text on A1111's `\s*\bBREAK\b\s*`.
void append_text(std::vector<Piece>& out, const std::string& text) {
  std::size_t start = 0;
  for (std::size_t at = text.find("BREAK"); at != std::string::npos; at = text.find("BREAK", at + 1)) {
    const bool left = at == 0 || !is_word(text[at - 1]);
    const bool right = at + 5 >= text.size() || !is_word(text[at + 5]);
    if (!left || !right) continue;
    std::size_t end = at;
    while (end > start && is_space(text[end - 1])) --end;
    if (end > start) out.push_back({text.substr(start, end - start)});
    out.push_back({"", -1.0, true});
    std::size_t next = at + 5;
    while (next < text.size() && is_space(text[next])) ++next;
    start = next;
    at = next - 1;
  }
  if (start < text.size()) out.push_back({text.substr(start)});
}

// At `i` (a ':'): matches `:\s*([+-]?[.\d]+)\s*\)` and returns the end index (past ')'), or 0.
std::size_t match_weight(const std::string& s, std::size_t i, std::string& number) {
  std::size_t j = i + 1;
  while (j < s.size() && is_space(s[j])) ++j;
  const std::size_t begin = j;
  if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
  while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '.')) ++j;
  if (j == begin || (j == begin + 1 && (s[begin] == '+' || s[begin] == '-'))) return 0;
  number = s.substr(begin, j - begin);
  while (j < s.size() && is_space(s[j])) ++j;
  return j < s.size() && s[j] == ')' ? j + 1 : 0;
}

double parse_weight(const std::string& number, const std::string& field, std::size_t position) {
  char* end = nullptr;
  const double w = std::strtod(number.c_str(), &end);
  if (number.empty() || end != number.c_str() + number.size() || !std::isfinite(w)) {
    throw Error(ErrorCode::kInvalidPrompt,
                field + ": weight \"" + number + "\" at character " + std::to_string(position) + " is not a number",
                field);
  }
  if (std::fabs(w) > kMaxPromptWeight) {
    throw Error(ErrorCode::kInvalidPrompt,
                field + ": weight " + number + " at character " + std::to_string(position) + " is outside [-" +
                    std::to_string(static_cast<int>(kMaxPromptWeight)) + ", " +
                    std::to_string(static_cast<int>(kMaxPromptWeight)) + "]",
                field);
  }
  return w;
}

}  // namespace

std::vector<PromptSegment> parse_prompt_attention(const std::string& s, const std::string& field,
                                                  std::vector<std::string>* warnings) {
  std::vector<Piece> pieces;
  std::vector<std::size_t> round, square;  // indices of open '(' / '[' pieces
  auto multiply_from = [&](std::size_t start, double m) {
    for (std::size_t p = start; p < pieces.size(); ++p) {
      if (!pieces[p].is_break) pieces[p].weight *= m;
    }
  };
  auto warn = [&](const std::string& message) {
    if (warnings) warnings->push_back(field + ": " + message);
  };
  std::string text;
  auto flush_text = [&] {
    if (!text.empty()) append_text(pieces, text);
    text.clear();
  };
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    if (c == '\\') {
      const bool escape = i + 1 < s.size() && (s[i + 1] == '(' || s[i + 1] == ')' || s[i + 1] == '[' ||
                                               s[i + 1] == ']' || s[i + 1] == '\\');
      text += escape ? s[i + 1] : '\\';
      i += escape ? 2 : 1;
    } else if (c == '(' || c == '[') {
      flush_text();
      (c == '(' ? round : square).push_back(pieces.size());
      pieces.push_back({std::string(1, c), 1.0, false, true, true});
      ++i;
    } else if (c == ':') {
      std::string number;
      const std::size_t end = round.empty() ? 0 : match_weight(s, i, number);
      if (end == 0) {
        text += c;
        ++i;
        continue;
      }
      flush_text();
      const double w = parse_weight(number, field, i);
      pieces[round.back()].open = false;
      multiply_from(round.back() + 1, w);
      round.pop_back();
      i = end;
    } else if (c == ')' || c == ']') {
      auto& stack = c == ')' ? round : square;
      if (stack.empty()) {
        warn(std::string("unmatched '") + c + "' at character " + std::to_string(i) + " kept as text");
        text += c;
      } else {
        flush_text();
        pieces[stack.back()].open = false;
        multiply_from(stack.back() + 1, c == ')' ? kRoundMultiplier : kSquareMultiplier);
        stack.pop_back();
      }
      ++i;
    } else {
      text += c;
      ++i;
    }
  }
  flush_text();
  for (std::size_t n = 0; n < round.size(); ++n) warn("unclosed '(' kept as text (weights not applied)");
  for (std::size_t n = 0; n < square.size(); ++n) warn("unclosed '[' kept as text (weights not applied)");

  std::vector<PromptSegment> out;
  for (const auto& p : pieces) {
    if (p.is_break) {
      out.push_back({"", -1.0, true});
      continue;
    }
    if ((p.bracket && !p.open) || p.text.empty()) continue;
    if (!out.empty() && !out.back().is_break && out.back().weight == p.weight) {
      out.back().text += p.text;
    } else {
      out.push_back({p.text, p.weight, false});
    }
  }
  if (out.empty()) out.push_back({"", 1.0, false});
  return out;
}

bool has_prompt_syntax(const std::string& text) {
  auto segments = parse_prompt_attention(text);
  return segments.size() != 1 || segments[0].weight != 1.0 || segments[0].is_break || segments[0].text != text;
}

}  // namespace workers
