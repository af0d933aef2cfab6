// A1111 emphasis syntax: the examples from AUTOMATIC1111's parse_prompt_attention docstring
// (balanced ones), nesting, escapes, BREAK, and this engine's stricter handling of unbalanced
// brackets and bad weights.
#include <gtest/gtest.h>

#include "conditioning/prompt_parser.h"
#include "support/errors.h"

namespace workers {
namespace {

using testing_support::catch_error;

std::vector<PromptSegment> parse(const std::string& text, std::vector<std::string>* warnings = nullptr) {
  return parse_prompt_attention(text, "prompt", warnings);
}

void expect_segments(const std::vector<PromptSegment>& got, const std::vector<std::pair<std::string, double>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].text, want[i].first) << i;
    EXPECT_NEAR(got[i].weight, want[i].second, 1e-12) << i;
    EXPECT_FALSE(got[i].is_break);
  }
}

TEST(PromptParser, A1111DocstringExamples) {
  expect_segments(parse("normal text"), {{"normal text", 1.0}});
  expect_segments(parse("an (important) word"), {{"an ", 1.0}, {"important", 1.1}, {" word", 1.0}});
  expect_segments(parse("\\(literal\\]"), {{"(literal]", 1.0}});
  expect_segments(parse("(unnecessary)(parens)"), {{"unnecessaryparens", 1.1}});
  expect_segments(parse("a ((house:1.3)) [on] a (hill:0.5), sun, (((sky)))."),
                  {{"a ", 1.0}, {"house", 1.3 * 1.1}, {" ", 1.0}, {"on", 1.0 / 1.1}, {" a ", 1.0}, {"hill", 0.5},
                   {", sun, ", 1.0}, {"sky", 1.1 * 1.1 * 1.1}, {".", 1.0}});
}

TEST(PromptParser, NestedWeightsMultiply) {
  expect_segments(parse("(a (b:2) c)"), {{"a ", 1.1}, {"b", 2.2}, {" c", 1.1}});
  expect_segments(parse("[[x]]"), {{"x", 1.0 / 1.21}});
  expect_segments(parse("( spaced : 0.8 )"), {{" spaced ", 0.8}});
}

TEST(PromptParser, ColonWithoutBracketIsText) {
  expect_segments(parse("ratio 16:9, style: anime"), {{"ratio 16:9, style: anime", 1.0}});
  expect_segments(parse("(time: noon)"), {{"time: noon", 1.1}});
}

TEST(PromptParser, BreakSplitsOnlyTheWholeWord) {
  auto got = parse("a cat BREAK (a dog) BREAKFAST");
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].text, "a cat");
  EXPECT_TRUE(got[1].is_break);
  EXPECT_EQ(got[2].text, "a dog");
  EXPECT_NEAR(got[2].weight, 1.1, 1e-12);
  EXPECT_EQ(got[3].text, " BREAKFAST");
}

TEST(PromptParser, UnbalancedBracketsStayLiteralWithAWarning) {
  std::vector<std::string> warnings;
  expect_segments(parse("a (cat", &warnings), {{"a (cat", 1.0}});
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("unclosed '('"), std::string::npos);
  warnings.clear();
  expect_segments(parse("smile :) ok]", &warnings), {{"smile :) ok]", 1.0}});
  EXPECT_EQ(warnings.size(), 2u);
  warnings.clear();
  expect_segments(parse("((a) b", &warnings), {{"(", 1.0}, {"a", 1.1}, {" b", 1.0}});
  EXPECT_EQ(warnings.size(), 1u);
}

TEST(PromptParser, BadWeightsAreClearErrors) {
  auto too_big = catch_error([] { parse("(cat:11)"); });
  EXPECT_EQ(too_big.code, ErrorCode::kInvalidPrompt);
  EXPECT_EQ(too_big.field, "prompt");
  EXPECT_NE(too_big.message.find("outside"), std::string::npos);
  auto not_number = catch_error([] { parse_prompt_attention("(cat:1.2.3)", "negative_prompt"); });
  EXPECT_EQ(not_number.field, "negative_prompt");
  EXPECT_NE(not_number.message.find("not a number"), std::string::npos);
  expect_segments(parse("(cat:-0.5)"), {{"cat", -0.5}});
}

TEST(PromptParser, EmptyPromptIsOneEmptySegment) {
  expect_segments(parse(""), {{"", 1.0}});
  expect_segments(parse("()"), {{"", 1.0}});
}

TEST(PromptParser, SyntaxDetection) {
  EXPECT_FALSE(has_prompt_syntax("a photo of an astronaut, 4k"));
  EXPECT_TRUE(has_prompt_syntax("a (photo)"));
  EXPECT_TRUE(has_prompt_syntax("a BREAK b"));
  EXPECT_TRUE(has_prompt_syntax("\\(x\\)"));
}

// Fuzz-style robustness: arbitrary bytes never crash; they parse or throw workers::Error.
TEST(PromptParser, RandomBytesNeverCrash) {
  std::uint32_t state = 12345;
  const std::string alphabet = "ab ()[]:\\.0123456789+-BREAK\t\xc3\xa9";
  for (int i = 0; i < 5000; ++i) {
    std::string text;
    const int length = static_cast<int>((state = state * 1664525u + 1013904223u) % 40);
    for (int k = 0; k < length; ++k) {
      state = state * 1664525u + 1013904223u;
      text += alphabet[(state >> 8) % alphabet.size()];
    }
    try {
      auto segments = parse_prompt_attention(text);
      EXPECT_FALSE(segments.empty());
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidPrompt);
    }
  }
}

}  // namespace
}  // namespace workers
