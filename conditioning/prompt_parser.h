// AUTOMATIC1111's prompt emphasis syntax: (text) ×1.1, [text] ÷1.1, (text:1.3), nesting,
// escapes \( \) \[ \] \\, and BREAK (start a new 75-token chunk). Torch-free.
// Where A1111 silently applies an unclosed bracket to the rest of the prompt, brackets that
// do not pair up are kept as literal text and reported as warnings.
#pragma once

#include <string>
#include <vector>

namespace workers {

struct PromptSegment {
  std::string text;
  double weight = 1.0;
  bool is_break = false;  // a BREAK marker (text empty)
  bool operator==(const PromptSegment& o) const {
    return text == o.text && weight == o.weight && is_break == o.is_break;
  }
};

constexpr double kMaxPromptWeight = 10.0;  // |weight| above this is an INVALID_PROMPT error

// Segments in order; adjacent segments of equal weight are merged; never empty (an empty
// prompt is one empty segment). `field` names the request field in errors ("prompt",
// "negative_prompt"). Throws Error(INVALID_PROMPT) for a weight that is not a number or out of
// range. Unbalanced brackets are appended to `warnings` (when given).
std::vector<PromptSegment> parse_prompt_attention(const std::string& text, const std::string& field = "prompt",
                                                  std::vector<std::string>* warnings = nullptr);

// True when the text uses any emphasis syntax or BREAK (so the plain diffusers path differs).
bool has_prompt_syntax(const std::string& text);

}  // namespace workers
