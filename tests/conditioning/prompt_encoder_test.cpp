// Prompt chunking and the SDXL prompt encoder. Parity: for prompts without syntax the
// conditioning equals diffusers' encode_prompt (text_encoders.safetensors: both encoders'
// penultimate states concatenated, pooled text embeds of encoder 2), max abs ≤ 1e-4 (fp32;
// measured ~1e-6, the same forward as ClipTextParity).
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "conditioning/clip_skip.h"
#include "conditioning/prompt_chunks.h"
#include "conditioning/prompt_encoder.h"
#include "models/nn/networks.h"
#include "support/errors.h"
#include "support/tensor_checks.h"

namespace workers {
namespace {

using testing_support::catch_error;
using testing_support::fixture;
using testing_support::max_abs_diff;
using testing_support::Reference;

SdxlTextEncoders& encoders() {
  static SdxlTextEncoders e = [] {
    SdxlTextEncoders out;
    out.text_encoder = build_clip_text(component_source(fixture("tiny-sdxl"), "text_encoder"));
    out.text_encoder_2 = build_clip_text(component_source(fixture("tiny-sdxl"), "text_encoder_2"));
    out.tokenizer = ClipTokenizer::load(fixture("tiny-sdxl/tokenizer"));
    out.tokenizer_2 = ClipTokenizer::load(fixture("tiny-sdxl/tokenizer_2"));
    return out;
  }();
  return e;
}

// The texts behind text_encoders.safetensors' p0–p3: pipelines.json's prompts, its negative, "".
std::vector<std::string> reference_prompts() {
  std::ifstream in(fixture("pipelines.json"));
  auto j = nlohmann::json::parse(in);
  return {j["prompts"][0], j["prompts"][1], j["negative"], ""};
}

std::string words(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += (i ? " " : "") + std::string(i % 2 ? "cat" : "dog");
  return text;
}

TEST(PromptChunks, ShortPromptEqualsTheTokenizersMaxLengthIds) {
  const auto& e = encoders();
  for (const auto& text : reference_prompts()) {
    auto chunks = chunk_prompt(parse_prompt_attention(text), *e.tokenizer_2);
    ASSERT_EQ(chunks.size(), 1u);
    EXPECT_EQ(chunks[0].ids, e.tokenizer_2->encode(text, 77));
    EXPECT_EQ(chunk_prompt(parse_prompt_attention(text), *e.tokenizer)[0].ids, e.tokenizer->encode(text, 77));
  }
}

TEST(PromptChunks, LongPromptsSplitInto75TokenChunks) {
  const auto& tok = *encoders().tokenizer;
  for (auto [tokens, expected] : std::vector<std::pair<int, std::size_t>>{{80, 2}, {150, 2}, {151, 3}, {300, 4}}) {
    auto chunks = chunk_prompt(parse_prompt_attention(words(tokens)), tok);
    ASSERT_EQ(chunks.size(), expected) << tokens;
    for (const auto& c : chunks) {
      ASSERT_EQ(c.ids.size(), 77u);
      EXPECT_EQ(c.ids.front(), tok.bos_id());
      EXPECT_EQ(c.weights.size(), 77u);
    }
    EXPECT_EQ(chunks[0].ids[76], tok.eos_id());  // a full chunk: 75 tokens then EOS
  }
}

TEST(PromptChunks, BreakStartsANewChunkAndWeightsFollowTheirTokens) {
  const auto& tok = *encoders().tokenizer;
  auto chunks = chunk_prompt(parse_prompt_attention("a (red:1.5) cat BREAK a dog"), tok);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].ids[2], tok.encode_tokens("red")[0]);
  EXPECT_FLOAT_EQ(chunks[0].weights[2], 1.5f);
  EXPECT_FLOAT_EQ(chunks[0].weights[1], 1.0f);
  EXPECT_EQ(chunks[0].ids[4], tok.eos_id());
  EXPECT_EQ(chunks[1].ids[1], tok.encode_tokens("a")[0]);
}

TEST(PromptEncoderParity, PlainPromptsEqualDiffusersEncodePrompt) {
  c10::InferenceMode inference;
  Reference ref("text_encoders.safetensors");
  const auto prompts = reference_prompts();
  const auto& e = encoders();
  for (int i : {0, 1}) {
    SCOPED_TRACE(prompts[i]);
    const std::string p = "p" + std::to_string(i);
    auto out = encode_prompts(e, prompts[i], prompts[2]);
    auto expected = torch::cat({ref[p + ".te1.penultimate"], ref[p + ".te2.penultimate"]}, -1);
    EXPECT_EQ(out.positive.embeds.sizes(), (std::vector<std::int64_t>{1, 77, 32}));
    EXPECT_LE(max_abs_diff(out.positive.embeds, expected), 1e-4);
    EXPECT_LE(max_abs_diff(out.positive.pooled, ref[p + ".te2.text_embeds"]), 1e-4);
    auto negative = torch::cat({ref["p2.te1.penultimate"], ref["p2.te2.penultimate"]}, -1);
    EXPECT_LE(max_abs_diff(out.negative.embeds, negative), 1e-4);
    EXPECT_LE(max_abs_diff(out.negative.pooled, ref["p2.te2.text_embeds"]), 1e-4);
  }
}

TEST(PromptEncoderParity, ReferenceIdsAreTheTokenizersIds) {
  Reference ref("text_encoders.safetensors");
  const auto prompts = reference_prompts();
  for (int i = 0; i < 4; ++i) {
    const std::string p = "p" + std::to_string(i);
    auto ids1 = ref[p + ".ids1"].flatten();
    auto ids2 = ref[p + ".ids2"].flatten();
    EXPECT_EQ(std::vector<std::int64_t>(ids1.data_ptr<std::int64_t>(), ids1.data_ptr<std::int64_t>() + 77),
              encoders().tokenizer->encode(prompts[i], 77));
    EXPECT_EQ(std::vector<std::int64_t>(ids2.data_ptr<std::int64_t>(), ids2.data_ptr<std::int64_t>() + 77),
              encoders().tokenizer_2->encode(prompts[i], 77));
  }
}

TEST(PromptEncoderParity, AbsentNegativeIsZerosAndEmptyNegativeIsEncoded) {
  c10::InferenceMode inference;
  Reference ref("text_encoders.safetensors");
  const auto prompts = reference_prompts();
  auto zeros = encode_prompts(encoders(), prompts[0], std::nullopt);
  EXPECT_EQ(zeros.negative.embeds.sizes(), zeros.positive.embeds.sizes());
  EXPECT_EQ(zeros.negative.embeds.abs().max().item<double>(), 0.0);
  EXPECT_EQ(zeros.negative.pooled.abs().max().item<double>(), 0.0);

  auto empty = encode_prompts(encoders(), prompts[0], std::string());
  EXPECT_LE(max_abs_diff(empty.negative.embeds, torch::cat({ref["p3.te1.penultimate"], ref["p3.te2.penultimate"]}, -1)),
            1e-4);
  EXPECT_LE(max_abs_diff(empty.negative.pooled, ref["p3.te2.text_embeds"]), 1e-4);

  PromptOptions no_zeros;
  no_zeros.force_zeros_for_empty_prompt = false;
  auto encoded = encode_prompts(encoders(), prompts[0], std::nullopt, no_zeros);
  EXPECT_LE(max_abs_diff(encoded.negative.embeds, empty.negative.embeds), 0.0);
}

TEST(PromptEncoder, LongPositiveAndShortNegativeGetTheSameChunkCount) {
  c10::InferenceMode inference;
  auto out = encode_prompts(encoders(), words(150), std::string("blurry"));
  EXPECT_EQ(out.positive.embeds.sizes(), (std::vector<std::int64_t>{1, 154, 32}));
  EXPECT_EQ(out.negative.embeds.sizes(), out.positive.embeds.sizes());
  // The negative's second chunk is the empty prompt's chunk.
  auto empty = encode_prompts(encoders(), "", std::string(""));
  EXPECT_LE(max_abs_diff(out.negative.embeds.slice(1, 77, 154), empty.positive.embeds), 1e-6);
}

TEST(PromptEncoder, WeightsScaleTokensAndRestoreTheMean) {
  c10::InferenceMode inference;
  auto plain = encode_prompts(encoders(), "a red cat", std::nullopt);
  auto weighted = encode_prompts(encoders(), "a (red:1.5) cat", std::nullopt);
  auto d = (weighted.positive.embeds - plain.positive.embeds).abs();
  EXPECT_GT(d.max().item<double>(), 1e-3);
  // Per encoder (te1: 16 features, te2: 16), the chunk's mean equals the unweighted one.
  for (auto [from, to] : {std::pair<int, int>{0, 16}, {16, 32}}) {
    EXPECT_NEAR(weighted.positive.embeds.slice(2, from, to).mean().item<double>(),
                plain.positive.embeds.slice(2, from, to).mean().item<double>(), 1e-5);
  }
  EXPECT_TRUE(torch::equal(weighted.positive.pooled, plain.positive.pooled));  // pooled is unweighted
}

TEST(PromptEncoder, ClipSkipSelectsEarlierHiddenStates) {
  c10::InferenceMode inference;
  PromptOptions skip;
  skip.hidden_state_index = clip_hidden_state_index(1, "diffusers");  // hidden_states[-3]
  auto out = encode_prompts(encoders(), "a cat", std::nullopt, skip);
  auto ids = torch::tensor(encoders().tokenizer->encode("a cat", 77), torch::kLong).unsqueeze(0);
  auto expected = encoders().text_encoder->forward(ids).hidden_states.end()[-3];
  EXPECT_LE(max_abs_diff(out.positive.embeds.slice(2, 0, 16), expected), 1e-6);
  PromptOptions a1111;
  a1111.hidden_state_index = clip_hidden_state_index(2, "a1111");  // penultimate = the default
  EXPECT_TRUE(torch::equal(encode_prompts(encoders(), "a cat", std::nullopt, a1111).positive.embeds,
                           encode_prompts(encoders(), "a cat", std::nullopt).positive.embeds));
  PromptOptions too_deep;
  too_deep.hidden_state_index = clip_hidden_state_index(5, "diffusers");
  EXPECT_EQ(catch_error([&] { encode_prompts(encoders(), "a cat", std::nullopt, too_deep); }).field, "clip_skip");
}

TEST(PromptEncoder, RefinerUsesTextEncoder2Only) {
  c10::InferenceMode inference;
  SdxlTextEncoders refiner;
  refiner.text_encoder_2 = encoders().text_encoder_2;
  refiner.tokenizer_2 = encoders().tokenizer_2;
  Reference ref("text_encoders.safetensors");
  auto out = encode_prompts(refiner, reference_prompts()[0], std::nullopt);
  EXPECT_LE(max_abs_diff(out.positive.embeds, ref["p0.te2.penultimate"]), 1e-4);
}

}  // namespace
}  // namespace workers
