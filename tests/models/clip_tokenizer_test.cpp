// CLIP tokenizer parity with transformers' CLIPTokenizer (slow, without ftfy): every case of
// tokenizer_cases.json must give exactly the same tokens and ids (ids are exact, no tolerance).
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/tokenizer/clip_tokenizer.h"
#include "support/errors.h"

namespace workers {
namespace {

using testing_support::catch_error;

const std::string kFixtures = SDXL_FIXTURES_DIR;

std::shared_ptr<const ClipTokenizer> tokenizer(int which) {
  static auto one = ClipTokenizer::load(kFixtures + "/tiny-sdxl/tokenizer");
  static auto two = ClipTokenizer::load(kFixtures + "/tiny-sdxl/tokenizer_2");
  return which == 1 ? one : two;
}

nlohmann::json cases() {
  std::ifstream in(kFixtures + "/tokenizer_cases.json");
  return nlohmann::json::parse(in);
}

TEST(ClipTokenizerParity, EveryCaseGivesTransformersTokensAndIds) {
  const auto all = cases();
  ASSERT_EQ(all.size(), 16u);
  for (const auto& c : all) {
    const std::string text = c["text"];
    SCOPED_TRACE(text);
    EXPECT_EQ(tokenizer(1)->tokenize(text), c["tokens"].get<std::vector<std::string>>());
    EXPECT_EQ(tokenizer(1)->encode(text, 0), c["ids"].get<std::vector<std::int64_t>>());
    EXPECT_EQ(tokenizer(1)->encode(text, 77), c["ids_77_tokenizer"].get<std::vector<std::int64_t>>());
    EXPECT_EQ(tokenizer(2)->encode(text, 77), c["ids_77_tokenizer_2"].get<std::vector<std::int64_t>>());
  }
}

TEST(ClipTokenizer, SpecialIdsComeFromTheTokenizerFiles) {
  EXPECT_EQ(tokenizer(1)->bos_id(), 49406);
  EXPECT_EQ(tokenizer(1)->eos_id(), 49407);
  EXPECT_EQ(tokenizer(1)->pad_id(), 49407);  // tokenizer pads with <|endoftext|>
  EXPECT_EQ(tokenizer(2)->pad_id(), 0);      // tokenizer_2 pads with "!"
  EXPECT_EQ(tokenizer(1)->model_max_length(), 77u);
  EXPECT_EQ(tokenizer(1)->vocab_size(), 49408u);
  EXPECT_EQ(tokenizer(1)->token(49406), "<|startoftext|>");
}

TEST(ClipTokenizer, TruncationKeepsBosAndEos) {
  std::string long_text;
  for (int i = 0; i < 100; ++i) long_text += "cat ";
  auto ids = tokenizer(1)->encode(long_text, 77);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids.front(), 49406);
  EXPECT_EQ(ids.back(), 49407);
  EXPECT_EQ(tokenizer(1)->encode(long_text, 0).size(), 102u);
}

TEST(ClipTokenizer, CleaningDropsControlsAndSpacesCjk) {
  EXPECT_EQ(clean_clip_text("A\x01" "b\u00a0C\u200b  d\n"), "ab c d");  // control, NBSP, ZWSP (Cf)
  EXPECT_EQ(clean_clip_text("\u6771\u4eacX"), "\u6771 \u4eac x");
  EXPECT_EQ(clean_clip_text("Cafe\u0301"), "caf\u00e9");  // NFC composes
  EXPECT_EQ(clean_clip_text(""), "");
}

TEST(ClipTokenizer, InvalidUtf8IsDroppedNotFatal) {
  EXPECT_EQ(tokenizer(1)->tokenize("a\xff\xfe" "b"), tokenizer(1)->tokenize("ab"));
}

TEST(ClipTokenizer, ConcurrentCallsAgree) {
  const std::string text = "a photograph of an astronaut riding a horse, highly detailed, 8k";
  const auto expected = tokenizer(1)->encode(text, 77);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        if (tokenizer(1)->encode(text + std::to_string(i % 3), 77).size() != expected.size()) ++mismatches;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, 0);
}

TEST(ClipTokenizer, MissingFilesAreALoadError) {
  auto caught = catch_error([] { ClipTokenizer::load(kFixtures + "/tiny-sdxl/unet"); });
  EXPECT_EQ(caught.code, ErrorCode::kModelLoadError);
  EXPECT_NE(caught.message.find("vocab.json"), std::string::npos);
}

}  // namespace
}  // namespace workers
