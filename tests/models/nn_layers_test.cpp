// Behaviour of the network building blocks beyond the fixtures: attention slicing and masking,
// timestep features, odd latent sizes, the inpainting UNet, the ControlNet wiring, weight-loading
// errors and reduced precision.
#include <map>

#include <gtest/gtest.h>

#include "models/nn/networks.h"
#include "support/errors.h"
#include "support/tensor_checks.h"

namespace workers {
namespace {

using testing_support::catch_error;
using testing_support::fixture;
using testing_support::max_abs_diff;
using testing_support::Reference;

TEST(Attention, SlicedEqualsUnsliced) {
  torch::manual_seed(1);
  auto q = torch::randn({2, 10, 12}), k = torch::randn({2, 7, 12}), v = torch::randn({2, 7, 12});
  auto whole = attention(q, k, v, 3);
  AttentionOptions sliced;
  sliced.slice_size = 4;  // 6 batch×head slices in chunks of 4 and 2
  EXPECT_LE(max_abs_diff(attention(q, k, v, 3, sliced), whole), 1e-6);
}

TEST(Attention, MatchesTheSoftmaxFormulaPerHead) {
  torch::manual_seed(2);
  auto q = torch::randn({1, 5, 8}), k = torch::randn({1, 6, 8}), v = torch::randn({1, 6, 8});
  auto out = attention(q, k, v, 2);
  for (int h = 0; h < 2; ++h) {
    auto qh = q.slice(2, 4 * h, 4 * h + 4), kh = k.slice(2, 4 * h, 4 * h + 4), vh = v.slice(2, 4 * h, 4 * h + 4);
    auto expected = torch::softmax(torch::matmul(qh, kh.transpose(1, 2)) / 2.0, -1).matmul(vh);
    EXPECT_LE(max_abs_diff(out.slice(2, 4 * h, 4 * h + 4), expected), 1e-6);
  }
}

TEST(Attention, CausalMaskHidesLaterTokens) {
  torch::manual_seed(3);
  auto x = torch::randn({1, 6, 8});
  AttentionOptions causal;
  causal.causal = true;
  auto before = attention(x, x, x, 2, causal);
  auto changed = x.clone();
  changed.slice(1, 4, 6).normal_();
  auto after = attention(changed, changed, changed, 2, causal);
  EXPECT_TRUE(torch::allclose(before.slice(1, 0, 4), after.slice(1, 0, 4)));
  EXPECT_FALSE(torch::allclose(before.slice(1, 4, 6), after.slice(1, 4, 6)));
  EXPECT_TRUE(torch::allclose(before.select(1, 0), x.select(1, 0)));  // the first token sees only itself
}

TEST(TimestepEmbedding, FollowsDiffusersFormulaWithFlipAndShift) {
  auto t = torch::tensor({0.0, 500.0});
  auto emb = timestep_embedding(t, 8, true, 1.0);
  // half = 4, freq_k = exp(-ln(10000) k / (4 - 1)); flip_sin_to_cos puts cos first.
  for (int k = 0; k < 4; ++k) {
    const double freq = std::exp(-std::log(10000.0) * k / 3.0);
    EXPECT_NEAR(emb[1][k].item<double>(), std::cos(500.0 * freq), 1e-5);
    EXPECT_NEAR(emb[1][4 + k].item<double>(), std::sin(500.0 * freq), 1e-5);
    EXPECT_EQ(emb[0][k].item<double>(), 1.0);
  }
  EXPECT_EQ(timestep_embedding(t, 7, false, 0.0).size(1), 7);  // odd dims are zero-padded
}

TEST(UNet2DConditionModel, OddLatentSizesUpsampleToTheSkipSizes) {
  c10::InferenceMode inference;
  auto unet = build_unet(component_source(fixture("tiny-sdxl"), "unet"));
  Reference ref("unet.safetensors");
  auto sample = torch::randn({2, 4, 9, 7});
  auto out = unet->forward(sample, torch::tensor(10.0), ref["encoder_hidden_states"], ref["text_embeds"], ref["time_ids"]);
  EXPECT_EQ(out.sizes(), sample.sizes());
}

TEST(UNet2DConditionModel, AttentionSlicingLeavesTheOutputUnchanged) {
  c10::InferenceMode inference;
  auto unet = build_unet(component_source(fixture("tiny-sdxl"), "unet"));
  Reference ref("unet.safetensors");
  auto run = [&] {
    return unet->forward(ref["sample"], torch::tensor(500.0), ref["encoder_hidden_states"], ref["text_embeds"],
                         ref["time_ids"]);
  };
  auto whole = run();
  set_attention_slice(*unet, 1);
  EXPECT_LE(max_abs_diff(run(), whole), 1e-6);
}

TEST(UNet2DConditionModel, InpaintingUNetTakesNineChannels) {
  c10::InferenceMode inference;
  auto unet = build_unet(component_folder_source(fixture("tiny-sdxl-inpaint-unet")));
  EXPECT_EQ(unet->config().in_channels, 9);
  Reference ref("unet.safetensors");
  auto out = unet->forward(torch::randn({2, 9, 8, 8}), torch::tensor(10.0), ref["encoder_hidden_states"],
                           ref["text_embeds"], ref["time_ids"]);
  EXPECT_EQ(out.sizes(), (std::vector<std::int64_t>{2, 4, 8, 8}));
}

TEST(UNet2DConditionModel, WrongTimeIdCountIsAClearError) {
  c10::InferenceMode inference;
  auto unet = build_unet(component_source(fixture("tiny-sdxl"), "unet"));
  Reference ref("unet.safetensors");
  auto caught = catch_error([&] {
    unet->forward(ref["sample"], torch::tensor(1.0), ref["encoder_hidden_states"], ref["text_embeds"],
                  ref["time_ids"].slice(1, 0, 5));  // refiner-style ids on a base UNet
  });
  EXPECT_EQ(caught.code, ErrorCode::kInvalidRequest);
  EXPECT_NE(caught.message.find("time_ids"), std::string::npos);
}

// The ControlNet recomputed from parts: the UNet encoder path (validated against diffusers by
// UNetParity) loaded with the ControlNet's encoder weights, the conditioning embedding and the
// zero convs applied with plain conv2d on the tensors of the file.
TEST(ControlNetModel, ResidualsEqualTheUNetEncoderPathPlusHintAndZeroConvs) {
  c10::InferenceMode inference;
  auto cn_source = component_folder_source(fixture("tiny-controlnet"));
  auto controlnet = build_controlnet(cn_source);
  std::map<std::string, at::Tensor> cn;
  for (const auto& [name, t] : cn_source.tensors) cn[name] = t.to(torch::kFloat32);

  auto unet_source = component_source(fixture("tiny-sdxl"), "unet");
  for (auto& [name, t] : unet_source.tensors) {
    for (const char* prefix : {"conv_in.", "time_embedding.", "add_embedding.", "down_blocks.", "mid_block."}) {
      if (name.rfind(prefix, 0) == 0) t = cn.at(name);
    }
  }
  auto unet = build_unet(unet_source);

  Reference ref("unet.safetensors");
  torch::manual_seed(4);
  auto hint = torch::rand({2, 3, 64, 64});
  const double scale = 0.7;
  auto t = torch::tensor(500.0);
  auto residuals = controlnet->forward(ref["sample"], t, ref["encoder_hidden_states"], hint, scale, ref["text_embeds"],
                                       ref["time_ids"]);

  auto conv = [&](const at::Tensor& x, const std::string& name, int stride) {
    return torch::conv2d(x, cn.at(name + ".weight"), cn.at(name + ".bias"), stride, cn.at(name + ".weight").size(-1) / 2);
  };
  auto e = torch::silu(conv(hint, "controlnet_cond_embedding.conv_in", 1));
  for (int i = 0; cn.count("controlnet_cond_embedding.blocks." + std::to_string(i) + ".weight"); ++i) {
    e = torch::silu(conv(e, "controlnet_cond_embedding.blocks." + std::to_string(i), i % 2 == 1 ? 2 : 1));
  }
  e = conv(e, "controlnet_cond_embedding.conv_out", 1);
  auto emb = unet->encoder.embed(t, 2, ref["text_embeds"], ref["time_ids"], torch::kFloat32);
  std::vector<at::Tensor> skips;
  auto mid = unet->encoder.down_and_mid(unet->encoder.conv_in(ref["sample"]) + e, emb, ref["encoder_hidden_states"], skips);

  ASSERT_EQ(residuals.down.size(), skips.size());
  ASSERT_EQ(skips.size(), controlnet->encoder.skip_count());
  for (std::size_t i = 0; i < skips.size(); ++i) {
    SCOPED_TRACE(i);
    auto expected = conv(skips[i], "controlnet_down_blocks." + std::to_string(i), 1) * scale;
    EXPECT_LE(max_abs_diff(residuals.down[i], expected), 1e-5);
  }
  EXPECT_LE(max_abs_diff(residuals.mid, conv(mid, "controlnet_mid_block", 1) * scale), 1e-5);
  EXPECT_GT(residuals.mid.abs().max().item<double>(), 0.0);  // perturbed zero convs: residuals matter

  auto plain = unet->forward(ref["sample"], t, ref["encoder_hidden_states"], ref["text_embeds"], ref["time_ids"]);
  auto controlled = unet->forward(ref["sample"], t, ref["encoder_hidden_states"], ref["text_embeds"], ref["time_ids"],
                                  &residuals);
  EXPECT_GT(max_abs_diff(plain, controlled), 1e-4);
  ControlResiduals short_list{{residuals.down.begin(), residuals.down.end() - 1}, residuals.mid};
  EXPECT_EQ(catch_error([&] {
              unet->forward(ref["sample"], t, ref["encoder_hidden_states"], ref["text_embeds"], ref["time_ids"],
                            &short_list);
            }).code,
            ErrorCode::kInvalidRequest);
}

TEST(LoadWeights, MissingUnexpectedAndMisshapenTensorsAreNamed) {
  auto source = component_source(fixture("tiny-sdxl"), "vae");
  auto config = VaeConfig::from_json(source.config, "vae");
  auto drop = source;
  drop.tensors.erase(drop.tensors.begin());
  auto missing = catch_error([&] { build_vae(drop); });
  EXPECT_EQ(missing.code, ErrorCode::kModelLoadError);
  EXPECT_NE(missing.message.find("Missing: " + source.tensors.front().first), std::string::npos);

  auto extra = source;
  extra.tensors.emplace_back("decoder.extra.weight", torch::zeros({1}));
  EXPECT_NE(catch_error([&] { build_vae(extra); }).message.find("Unexpected: decoder.extra.weight"), std::string::npos);

  auto misshapen = source;
  misshapen.tensors.front().second = torch::zeros({3});
  EXPECT_NE(catch_error([&] { build_vae(misshapen); }).message.find("model expects"), std::string::npos);
  EXPECT_EQ(config.latent_channels, 4);
}

TEST(LoadWeights, ConvertsToThePlacementDtype) {
  auto vae = build_vae(component_source(fixture("tiny-sdxl"), "vae"), Placement{torch::kFloat64});
  for (const auto& p : vae->parameters()) {
    EXPECT_EQ(p.scalar_type(), torch::kFloat64);
    EXPECT_FALSE(p.requires_grad());
  }
  EXPECT_EQ(module_bytes(*vae) % 8, 0);
}

TEST(ClipTextModel, TooManyTokensIsAPromptError) {
  c10::InferenceMode inference;
  auto te = build_clip_text(component_source(fixture("tiny-sdxl"), "text_encoder"));
  EXPECT_EQ(catch_error([&] { te->forward(torch::zeros({1, 78}, torch::kLong)); }).code, ErrorCode::kInvalidPrompt);
}

// bf16 is what CPUs without fp16 kernels run in reduced precision; its 8-bit mantissa gives
// ~1e-2 relative error, so this checks that the modules run and agree, not parity.
TEST(UNet2DConditionModel, RunsInBfloat16CloseToFloat32) {
  c10::InferenceMode inference;
  auto source = component_source(fixture("tiny-sdxl"), "unet");
  auto fp32 = build_unet(source);
  auto bf16 = build_unet(source, Placement{torch::kBFloat16});
  Reference ref("unet.safetensors");
  auto expected = fp32->forward(ref["sample"], torch::tensor(500.0), ref["encoder_hidden_states"], ref["text_embeds"],
                                ref["time_ids"]);
  auto got = bf16->forward(ref["sample"].to(torch::kBFloat16), torch::tensor(500.0),
                           ref["encoder_hidden_states"].to(torch::kBFloat16), ref["text_embeds"].to(torch::kBFloat16),
                           ref["time_ids"].to(torch::kBFloat16));
  EXPECT_EQ(got.scalar_type(), torch::kBFloat16);
  EXPECT_LE(max_abs_diff(got, expected) / expected.abs().max().item<double>(), 0.1);
}

}  // namespace
}  // namespace workers
