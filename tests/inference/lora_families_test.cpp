// The LoRA namings and module kinds ComfyUI loads (issue 14, item 10), merged into the tiny SDXL
// model and checked against formulas computed here by hand: the lycoris_ / lora_te_ /
// diffusion_model. / text_encoders.clip_l|clip_g / peft adapter-name spellings, full differences
// (.diff, .diff_b, w_norm, b_norm), DoRA, GLoRA, OFT and BOFT. Tolerances: fp32, 1e-5 absolute
// (1e-4 where a 3×3 conv or a matrix inverse adds rounding).
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <limits>

#include "lora_fixture.h"
#include "support/errors.h"
#include "support/tensor_checks.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

using namespace testing_support;

const std::string kBlock = "down_blocks.1.attentions.0.transformer_blocks.0.";
const std::string kBlockKohya = "lora_unet_input_blocks_4_1_transformer_blocks_0_";
const std::string kTeQ =
    "text_model.encoder.layers.0.self_attn.q_proj.weight";  // [16, 16] in both encoders

class LoraFamiliesTest : public TinyLoraModel {
 protected:
  LoraFamiliesTest() : TinyLoraModel("lora_families") {}

  at::Tensor param(const std::string& name, const std::string& component = "unet") const {
    return modules_.at(component)->named_parameters()[name].detach().clone();
  }
};

at::Tensor randn(std::vector<std::int64_t> shape) { return torch::randn(shape, torch::kFloat); }

bool near(const at::Tensor& a, const at::Tensor& b, double tolerance = 1e-5) {
  return testing_support::max_abs_diff(a, b) <= tolerance;
}

TEST_F(LoraFamiliesTest, ComfyUiAndPeftSpellingsReachTheirWeights) {
  torch::manual_seed(10);
  struct Case {
    std::string module, down, up, component, parameter;
  };
  const std::vector<Case> cases = {
      {"lycoris_down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q", ".lora_down.weight",
       ".lora_up.weight", "unet", kToQ},
      {"diffusion_model.input_blocks.4.1.transformer_blocks.0.attn1.to_q", ".lora_down.weight",
       ".lora_up.weight", "unet", kToQ},
      {"unet." + kToQ.substr(0, kToQ.size() - 7), ".lora_A.default.weight",
       ".lora_B.default.weight", "unet", kToQ},
      {"unet." + kToQ.substr(0, kToQ.size() - 7), ".lora_A", ".lora_B", "unet", kToQ},
      {"lora_te_text_model_encoder_layers_0_self_attn_q_proj", ".lora_down.weight",
       ".lora_up.weight", "text_encoder", kTeQ},
      {"text_encoders.clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj",
       ".lora_A.weight", ".lora_B.weight", "text_encoder", kTeQ},
      {"text_encoders.clip_g.transformer.text_model.encoder.layers.0.self_attn.q_proj",
       ".lora_down.weight", ".lora_up.weight", "text_encoder_2", kTeQ},
      {"text_encoders.clip_g.transformer.text_projection", ".lora_down.weight", ".lora_up.weight",
       "text_encoder_2", "text_projection.weight"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    const auto w0 = param(c.parameter, c.component);
    const auto down = randn({4, w0.size(1)}), up = randn({w0.size(0), 4});
    const auto name =
        write("spelling" + std::to_string(i), {{c.module + c.down, down},
                                               {c.module + c.up, up},
                                               {c.module + ".alpha", torch::tensor(2.0)}});
    const auto plan = merge(name, 0.7);
    EXPECT_TRUE(plan.warnings.empty()) << c.module << ": " << plan.warnings.front();
    ASSERT_EQ(plan.patches.size(), 1u) << c.module;
    // ΔW = up·down · alpha/rank (2/4), times the strength.
    EXPECT_TRUE(near(param(c.parameter, c.component) - w0, 0.7 * 0.5 * up.mm(down))) << c.module;
    merged_.restore(modules_);
    EXPECT_TRUE(torch::equal(param(c.parameter, c.component), w0)) << c.module;
  }
}

TEST_F(LoraFamiliesTest, FullDifferencesAddToTheWeightAndTheBias) {
  torch::manual_seed(11);
  const std::string out = kBlock + "attn1.to_out.0", norm = kBlock + "norm1";
  const auto diff = randn({32, 32}), diff_b = randn({32}), w_norm = randn({32}),
             b_norm = randn({32});
  const auto conv_diff = randn({32, 16, 3, 3});
  const auto q0 = param(kToQ), out_b0 = param(out + ".bias"), norm_w0 = param(norm + ".weight"),
             norm_b0 = param(norm + ".bias"), conv0 = param(kConv);
  write("diff", {{kToQKohya + ".diff", diff},
                 {kBlockKohya + "attn1_to_out_0.diff_b", diff_b},
                 {kBlockKohya + "norm1.w_norm", w_norm},
                 {kBlockKohya + "norm1.b_norm", b_norm},
                 {kConvKohya + ".diff", conv_diff}});
  const auto plan = merge("diff", -0.4);
  EXPECT_TRUE(plan.warnings.empty()) << plan.warnings.front();
  EXPECT_EQ(plan.patches.size(), 5u);
  EXPECT_TRUE(near(param(kToQ), q0 + -0.4 * diff));
  EXPECT_TRUE(near(param(out + ".bias"), out_b0 + -0.4 * diff_b));
  EXPECT_TRUE(near(param(norm + ".weight"), norm_w0 + -0.4 * w_norm));
  EXPECT_TRUE(near(param(norm + ".bias"), norm_b0 + -0.4 * b_norm));
  EXPECT_TRUE(near(param(kConv), conv0 + -0.4 * conv_diff));
  merged_.restore(modules_);
  EXPECT_TRUE(torch::equal(param(out + ".bias"), out_b0));
  EXPECT_TRUE(torch::equal(param(norm + ".weight"), norm_w0));

  // to_q has no bias: its .diff_b is a warning naming the key, the rest still merges.
  const auto warned = merge(
      write("diff_no_bias", {{kToQKohya + ".diff", diff}, {kToQKohya + ".diff_b", diff_b}}), 1.0);
  ASSERT_EQ(warned.warnings.size(), 1u);
  EXPECT_NE(warned.warnings[0].find(kToQKohya + ".diff_b"), std::string::npos)
      << warned.warnings[0];
  EXPECT_TRUE(near(param(kToQ), q0 + diff));
}

// DoRA by hand: V = W + ΔW (ΔW with alpha/rank, not the strength), F = m · V / (‖V‖ + ε) per
// output row (magnitude [out, 1] or peft's [out]) or per input column (magnitude [1, in]),
// W' = W + s · (F − W).
at::Tensor dora_by_hand(const at::Tensor& w, const at::Tensor& delta, const at::Tensor& m,
                        bool rows, double s) {
  const auto v = w + delta;
  const auto flat = v.reshape({v.size(0), v.size(1), -1});
  const auto eps = std::numeric_limits<float>::epsilon();
  auto f = torch::empty_like(flat);
  if (rows) {
    for (std::int64_t o = 0; o < v.size(0); ++o)
      f[o] = flat[o] * (m.flatten()[o] / (flat[o].pow(2).sum().sqrt() + eps));
  } else {
    for (std::int64_t i = 0; i < v.size(1); ++i) {
      const auto column = flat.select(1, i);
      f.select(1, i).copy_(column * (m.flatten()[i] / (column.pow(2).sum().sqrt() + eps)));
    }
  }
  return w + s * (f.reshape(w.sizes()) - w);
}

TEST_F(LoraFamiliesTest, DoraScalesTheAdaptedWeightToItsMagnitudePerChannel) {
  torch::manual_seed(12);
  const auto q0 = param(kToQ), proj0 = param(kBlock + "ff.net.0.proj.weight"), conv0 = param(kConv);
  const auto down = randn({4, 32}), up = randn({32, 4}), m_out = randn({32, 1}).abs() + 0.5;
  const auto m_in = randn({1, 32}).abs() + 0.5;
  const auto pdown = randn({2, 32}), pup = randn({256, 2}),
             pm = randn({256}).abs() + 0.5;  // peft, non-square
  const auto cdown = randn({2, 16, 3, 3}), cup = randn({32, 2, 1, 1}),
             cm = randn({32, 1, 1, 1}).abs() + 0.5;
  const std::string proj = "unet." + kBlock + "ff.net.0.proj";
  write("dora", {{kToQKohya + ".lora_down.weight", down},
                 {kToQKohya + ".lora_up.weight", up},
                 {kToQKohya + ".alpha", torch::tensor(2.0)},
                 {kToQKohya + ".dora_scale", m_out},
                 {proj + ".lora_A.weight", pdown},
                 {proj + ".lora_B.weight", pup},
                 {proj + ".lora_magnitude_vector", pm},
                 {kConvKohya + ".lora_down.weight", cdown},
                 {kConvKohya + ".lora_up.weight", cup},
                 {kConvKohya + ".dora_scale", cm}});
  for (const double s : {1.0, 0.5}) {
    const auto plan = merge("dora", s);
    EXPECT_TRUE(plan.warnings.empty()) << plan.warnings.front();
    EXPECT_TRUE(near(param(kToQ), dora_by_hand(q0, 0.5 * up.mm(down), m_out, true, s))) << s;
    EXPECT_TRUE(near(param(kBlock + "ff.net.0.proj.weight"),
                     dora_by_hand(proj0, pup.mm(pdown), pm, true, s)))
        << s;
    const auto conv_delta = cup.flatten(1).mm(cdown.flatten(1)).reshape({32, 16, 3, 3});
    EXPECT_TRUE(near(param(kConv), dora_by_hand(conv0, conv_delta, cm, true, s), 1e-4)) << s;
  }
  write("dora_in", {{kToQKohya + ".lora_down.weight", down},
                    {kToQKohya + ".lora_up.weight", up},
                    {kToQKohya + ".dora_scale", m_in}});
  merge("dora_in", 0.8);
  EXPECT_TRUE(near(param(kToQ), dora_by_hand(q0, up.mm(down), m_in, false, 0.8)));
  merged_.restore(modules_);
  EXPECT_TRUE(torch::equal(param(kToQ), q0));
}

TEST_F(LoraFamiliesTest, DoraOnAStackNormalisesTheWeightTheEarlierAdaptersLeft) {
  torch::manual_seed(13);
  const auto q0 = param(kToQ);
  const auto down = randn({4, 32}), up = randn({32, 4}), m = randn({32, 1}).abs() + 0.5;
  const auto first = randn({32, 32});
  write("first", {{kToQKohya + ".diff", first}});
  write("dora", {{kToQKohya + ".lora_down.weight", down},
                 {kToQKohya + ".lora_up.weight", up},
                 {kToQKohya + ".dora_scale", m}});
  const auto plan =
      plan_lora_stack({{models_.loras->adapter("first", "loras[0]"), 0.3, "loras[0]", "first"},
                       {models_.loras->adapter("dora", "loras[1]"), 0.9, "loras[1]", "dora"}},
                      lora_target_index(modules_));
  merged_.merge(plan, modules_);
  const auto after_first = q0 + 0.3 * first;
  EXPECT_TRUE(near(param(kToQ), dora_by_hand(after_first, up.mm(down), m, true, 0.9)));
}

TEST_F(LoraFamiliesTest, GloraAddsTheWeightThroughAPlusB) {
  torch::manual_seed(14);
  const auto q0 = param(kToQ), proj0 = param(kBlock + "ff.net.0.proj.weight"),
             k0 = param(kBlock + "attn1.to_k.weight");
  // New layout on to_q: a1 [in, r], a2 [r, in], b1 [out, r], b2 [r, in]; ΔW = W·a1·a2 + b1·b2.
  const auto a1 = randn({32, 4}), a2 = randn({4, 32}), b1 = randn({32, 4}), b2 = randn({4, 32});
  // Old layout on the non-square ff.net.0.proj [256, 32] and on the square to_k (where both
  // layouts fit, old wins because a2 has W's rows): ΔW = b2·b1 + W·a2·a1, rank = a1's rows.
  const auto oa1 = randn({3, 32}), oa2 = randn({32, 3}), ob1 = randn({3, 32}),
             ob2 = randn({256, 3});
  const auto ka1 = randn({2, 32}), ka2 = randn({32, 2}), kb1 = randn({2, 32}), kb2 = randn({32, 2});
  const std::string p = kBlockKohya + "ff_net_0_proj", k = kBlockKohya + "attn1_to_k";
  write("glora", {{kToQKohya + ".a1.weight", a1},
                  {kToQKohya + ".a2.weight", a2},
                  {kToQKohya + ".b1.weight", b1},
                  {kToQKohya + ".b2.weight", b2},
                  {kToQKohya + ".alpha", torch::tensor(2.0)},
                  {p + ".a1.weight", oa1},
                  {p + ".a2.weight", oa2},
                  {p + ".b1.weight", ob1},
                  {p + ".b2.weight", ob2},
                  {p + ".alpha", torch::tensor(1.5)},
                  {k + ".a1.weight", ka1},
                  {k + ".a2.weight", ka2},
                  {k + ".b1.weight", kb1},
                  {k + ".b2.weight", kb2}});
  merge("glora", 0.6);
  EXPECT_TRUE(near(param(kToQ), q0 + 0.6 * (2.0 / 4) * (q0.mm(a1).mm(a2) + b1.mm(b2)), 1e-4));
  EXPECT_TRUE(near(param(kBlock + "ff.net.0.proj.weight"),
                   proj0 + 0.6 * (1.5 / 3) * (ob2.mm(ob1) + proj0.mm(oa2).mm(oa1)), 1e-4));
  EXPECT_TRUE(near(param(kBlock + "attn1.to_k.weight"),
                   k0 + 0.6 * (kb2.mm(kb1) + k0.mm(ka2).mm(ka1)), 1e-4));
}

// R = (I − Q)⁻¹(I + Q) with Q = B − Bᵀ (the same matrix as (I + Q)(I − Q)⁻¹: they commute).
at::Tensor cayley_by_hand(const at::Tensor& block) {
  const auto q = block - block.t();
  const auto eye = torch::eye(block.size(0));
  return torch::inverse(eye - q).mm(eye + q);
}

TEST_F(LoraFamiliesTest, OftRotatesEachBlockOfOutputRows) {
  torch::manual_seed(15);
  const auto q0 = param(kToQ), conv0 = param(kConv);
  const auto blocks = randn({4, 8, 8}) * 0.1, rescale = randn({32, 1}).abs() + 0.5;
  const auto conv_blocks = randn({2, 16, 16}) * 0.05;
  write("oft", {{kToQKohya + ".oft_blocks", blocks},
                {kToQKohya + ".alpha", torch::tensor(100.0)},
                {kConvKohya + ".oft_blocks", conv_blocks}});
  merge("oft", 1.0);
  // Block j of rows becomes R_jᵀ · W_j (ComfyUI's einsum "k n m, k n ... -> k m ...").
  auto expected = torch::empty_like(q0);
  for (int j = 0; j < 4; ++j)
    expected.slice(0, 8 * j, 8 * j + 8) =
        cayley_by_hand(blocks[j]).t().mm(q0.slice(0, 8 * j, 8 * j + 8));
  EXPECT_TRUE(near(param(kToQ), expected, 1e-4));
  auto conv_expected = torch::empty_like(conv0);
  for (int j = 0; j < 2; ++j) {
    conv_expected.slice(0, 16 * j, 16 * j + 16) =
        cayley_by_hand(conv_blocks[j])
            .t()
            .mm(conv0.slice(0, 16 * j, 16 * j + 16).reshape({16, -1}))
            .reshape({16, 16, 3, 3});
  }
  EXPECT_TRUE(near(param(kConv), conv_expected, 1e-4));
  merge("oft", 0.25);  // strength interpolates: W + s · (R·W − W)
  EXPECT_TRUE(near(param(kToQ), q0 + 0.25 * (expected - q0), 1e-4));

  // alpha is a constraint: Q is scaled to Frobenius norm alpha when larger; rescale multiplies
  // rows.
  write("oft_constrained", {{kToQKohya + ".oft_blocks", blocks},
                            {kToQKohya + ".alpha", torch::tensor(0.05)},
                            {kToQKohya + ".rescale", rescale}});
  merge("oft_constrained", 1.0);
  const auto q_all = blocks - blocks.transpose(1, 2);
  const double scale = 0.05 / (q_all.norm().item<double>() + 1e-8);
  ASSERT_LT(scale, 1.0);
  for (int j = 0; j < 4; ++j) {
    const auto q = q_all[j] * scale, eye = torch::eye(8);
    const auto r = torch::inverse(eye - q).mm(eye + q);
    expected.slice(0, 8 * j, 8 * j + 8) = r.t().mm(q0.slice(0, 8 * j, 8 * j + 8));
  }
  EXPECT_TRUE(near(param(kToQ), expected * rescale, 1e-4));
}

// The permutation of BOFT's stage i as a matrix: row a·2s + 2c + g of P·x is row a·2s + g·s + c of
// x (unflatten(-1, 2, s), transpose(1, 2)).
at::Tensor butterfly(std::int64_t rows, std::int64_t s) {
  auto p = torch::zeros({rows, rows});
  for (std::int64_t a = 0; a < rows / (2 * s); ++a) {
    for (std::int64_t c = 0; c < s; ++c) {
      for (std::int64_t g = 0; g < 2; ++g) p[a * 2 * s + 2 * c + g][a * 2 * s + g * s + c] = 1;
    }
  }
  return p;
}

TEST_F(LoraFamiliesTest, BoftAppliesButterflyStagesOfBlockRotations) {
  torch::manual_seed(16);
  const auto q0 = param(kToQ);
  const auto blocks = randn({2, 8, 4, 4}) * 0.2;  // 2 stages, 8 blocks of 4 rows
  write("boft", {{kToQKohya + ".oft_blocks", blocks}});
  merge("boft", 1.0);
  auto x = q0;
  for (int i = 0; i < 2; ++i) {
    const auto p = butterfly(32, (1 << i) * 2);
    auto rotation = torch::zeros({32, 32});
    for (int j = 0; j < 8; ++j)
      rotation.slice(0, 4 * j, 4 * j + 4).slice(1, 4 * j, 4 * j + 4) = cayley_by_hand(blocks[i][j]);
    x = p.t().mm(rotation).mm(p).mm(x);  // R · x (not Rᵀ as OFT) between the permutations
  }
  EXPECT_TRUE(near(param(kToQ), x, 1e-4));
  merge("boft", -0.5);
  EXPECT_TRUE(near(param(kToQ), q0 - 0.5 * (x - q0), 1e-4));
}

TEST_F(LoraFamiliesTest, UndefinedCombinationsAreRefusedAndUnknownFamiliesWarned) {
  const auto code = [](const std::function<void()>& f, std::string* message) {
    const auto caught = testing_support::catch_error(f);
    *message = caught.message + " [field " + caught.field + "]";
    return caught.code;
  };
  std::string message;
  write("dora_oft", {{kToQKohya + ".oft_blocks", randn({4, 8, 8})},
                     {kToQKohya + ".dora_scale", randn({32, 1})}});
  EXPECT_EQ(code([&] { models_.loras->adapter("dora_oft", "loras[2]"); }, &message),
            ErrorCode::kInvalidRequest);
  EXPECT_NE(message.find("OFT"), std::string::npos) << message;
  EXPECT_NE(message.find("[field loras[2]]"), std::string::npos) << message;
  write("mixed", {{kToQKohya + ".lora_down.weight", randn({4, 32})},
                  {kToQKohya + ".lora_up.weight", randn({32, 4})},
                  {kToQKohya + ".hada_w1_a", randn({32, 2})}});
  EXPECT_EQ(code([&] { models_.loras->adapter("mixed", "loras[1]"); }, &message),
            ErrorCode::kInvalidRequest);
  EXPECT_NE(message.find("LoRA and LoHa"), std::string::npos) << message;
  write("oft_shape",
        {{kToQKohya + ".oft_blocks", randn({3, 8, 8})}});  // 24 rows for a 32-row weight
  EXPECT_EQ(code([&] { merge("oft_shape", 1.0); }, &message), ErrorCode::kInvalidRequest);
  EXPECT_NE(message.find("is not for this model"), std::string::npos) << message;

  // kohya's own OFT prefix, ComfyUI's "set" patches and a 2-D oft_blocks: warnings naming the keys.
  write("unknown",
        {{kToQKohya + ".diff", randn({32, 32})},
         {"oft_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_k.oft_blocks", randn({4, 8, 8})},
         {kBlockKohya + "attn1_to_v.set_weight", randn({32, 32})},
         {kBlockKohya + "attn1_to_k.oft_blocks", randn({8, 8})}});
  const auto plan = merge("unknown", 1.0);
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("3 keys"), std::string::npos) << plan.warnings[0];
  EXPECT_NE(plan.warnings[0].find("oft_unet_input_blocks_4_1"), std::string::npos)
      << plan.warnings[0];
  EXPECT_NE(plan.warnings[0].find("attn1_to_v.set_weight"), std::string::npos) << plan.warnings[0];
  EXPECT_EQ(plan.patches.size(), 1u);
}

}  // namespace
}  // namespace workers
