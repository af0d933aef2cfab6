// LoRA stacks on the tiny SDXL model: LoHa, LoKr and LoCon deltas against the formulas computed
// here by hand, every file naming reaching the same weights, exact (bitwise) unmerging through
// the LoraGate, and the errors and warnings a user sees for files that do not fit the model.
#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>

#include <gtest/gtest.h>

#include "inference/managers/lora_gate.h"
#include "lora_fixture.h"
#include "support/errors.h"
#include "support/tensor_checks.h"

namespace workers {
namespace {

namespace fs = std::filesystem;
using namespace testing_support;

class LoraTest : public TinyLoraModel {
 protected:
  LoraTest() : TinyLoraModel("loras", {fixture("loras")}) {}

  at::Tensor weight(const std::string& name) const {
    return unet_->ptr()->named_parameters()[name].detach().clone();
  }

  // Every UNet and text-encoder tensor, copied.
  std::map<std::string, at::Tensor> snapshot() const {
    std::map<std::string, at::Tensor> out;
    for (const auto& [component, module] : modules_) {
      for (const auto& p : module->named_parameters()) out[component + "/" + p.key()] = p.value().detach().clone();
      for (const auto& b : module->named_buffers()) out[component + "/" + b.key()] = b.value().detach().clone();
    }
    return out;
  }
};

ErrorCode code_of(const std::function<void()>& f, std::string* message) {
  const auto caught = testing_support::catch_error(f);
  *message = caught.message + " [field " + caught.field + "]";
  return caught.code;
}

at::Tensor randn(std::vector<std::int64_t> shape) { return torch::randn(shape, torch::kFloat); }

TEST_F(LoraTest, LohaDeltaIsTheHadamardProductOfTwoLowRankPairsTimesAlphaOverRank) {
  torch::manual_seed(1);
  const auto w1a = randn({32, 4}), w1b = randn({4, 32}), w2a = randn({32, 4}), w2b = randn({4, 32});
  // Conv 3×3: the b factors span in·k·k.
  const auto c1a = randn({32, 2}), c1b = randn({2, 16 * 9}), c2a = randn({32, 2}), c2b = randn({2, 16 * 9});
  write("loha", {{kToQKohya + ".hada_w1_a", w1a}, {kToQKohya + ".hada_w1_b", w1b},
                 {kToQKohya + ".hada_w2_a", w2a}, {kToQKohya + ".hada_w2_b", w2b},
                 {kToQKohya + ".alpha", torch::tensor(2.0)},
                 {kConvKohya + ".hada_w1_a", c1a}, {kConvKohya + ".hada_w1_b", c1b},
                 {kConvKohya + ".hada_w2_a", c2a}, {kConvKohya + ".hada_w2_b", c2b},
                 {kConvKohya + ".alpha", torch::tensor(1.0)}});
  const auto q0 = weight(kToQ), conv0 = weight(kConv);
  merge("loha", 0.5);
  const auto expected_q = (w1a.mm(w1b) * w2a.mm(w2b)) * (2.0 / 4.0);
  const auto expected_conv = ((c1a.mm(c1b) * c2a.mm(c2b)) * (1.0 / 2.0)).reshape({32, 16, 3, 3});
  EXPECT_TRUE(torch::allclose(weight(kToQ) - q0, 0.5 * expected_q, 1e-5, 1e-5));
  EXPECT_TRUE(torch::allclose(weight(kConv) - conv0, 0.5 * expected_conv, 1e-5, 1e-5));
  merged_.restore(modules_);
  EXPECT_TRUE(torch::equal(weight(kToQ), q0));
}

TEST_F(LoraTest, LohaTuckerCoreRebuildsTheConvFactors) {
  torch::manual_seed(2);
  const auto t1 = randn({2, 2, 3, 3}), a1 = randn({2, 32}), b1 = randn({2, 16});
  const auto t2 = randn({2, 2, 3, 3}), a2 = randn({2, 32}), b2 = randn({2, 16});
  write("loha_tucker", {{kConvKohya + ".hada_t1", t1}, {kConvKohya + ".hada_w1_a", a1}, {kConvKohya + ".hada_w1_b", b1},
                        {kConvKohya + ".hada_t2", t2}, {kConvKohya + ".hada_w2_a", a2}, {kConvKohya + ".hada_w2_b", b2}});
  const auto conv0 = weight(kConv);
  merge("loha_tucker", 1.0);
  // ΔW1[p, r, k, l] = Σ_ij t1[i, j, k, l] · b1[j, r] · a1[i, p] (no alpha: scale 1), by loops.
  auto rebuild = [](const at::Tensor& t, const at::Tensor& a, const at::Tensor& b) {
    auto out = torch::zeros({32, 16, 3, 3});
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        out += a[i].view({32, 1, 1, 1}) * b[j].view({1, 16, 1, 1}) * t[i][j].view({1, 1, 3, 3});
      }
    }
    return out;
  };
  EXPECT_TRUE(torch::allclose(weight(kConv) - conv0, rebuild(t1, a1, b1) * rebuild(t2, a2, b2), 1e-4, 1e-4));
}

TEST_F(LoraTest, LokrDeltaIsTheKroneckerProduct) {
  torch::manual_seed(3);
  // Both factors full: ΔW = kron(w1, w2), no alpha scale (LyCORIS scales only factorised ones).
  const auto w1 = randn({4, 8}), w2 = randn({8, 4});
  // Conv: w1 [2, 4] and w2 factorised [16, r=2]·[2, 4·9], alpha 1 over dim 2.
  const auto c1 = randn({2, 4}), c2a = randn({16, 2}), c2b = randn({2, 4 * 9});
  write("lokr", {{kToQKohya + ".lokr_w1", w1}, {kToQKohya + ".lokr_w2", w2}, {kToQKohya + ".alpha", torch::tensor(3.0)},
                 {kConvKohya + ".lokr_w1", c1}, {kConvKohya + ".lokr_w2_a", c2a}, {kConvKohya + ".lokr_w2_b", c2b},
                 {kConvKohya + ".alpha", torch::tensor(1.0)}});
  const auto q0 = weight(kToQ), conv0 = weight(kConv);
  merge("lokr", 1.0);
  // kron by hand: block (i, j) of ΔW is w1[i, j] · w2.
  auto expected_q = torch::zeros({32, 32});
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 8; ++j) expected_q.slice(0, i * 8, i * 8 + 8).slice(1, j * 4, j * 4 + 4) += w1[i][j] * w2;
  }
  EXPECT_TRUE(torch::allclose(weight(kToQ) - q0, expected_q, 1e-5, 1e-5));
  const auto w2_conv = c2a.mm(c2b).reshape({16, 4, 3, 3});
  auto expected_conv = torch::zeros({32, 16, 3, 3});
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 4; ++j) {
      expected_conv.slice(0, i * 16, i * 16 + 16).slice(1, j * 4, j * 4 + 4) += c1[i][j] * w2_conv * 0.5;
    }
  }
  EXPECT_TRUE(torch::allclose(weight(kConv) - conv0, expected_conv, 1e-4, 1e-4));
}

TEST_F(LoraTest, LoconConvAndTuckerMidComposeAsTheirConvolutions) {
  torch::manual_seed(4);
  const auto down = randn({4, 16, 3, 3}), up = randn({32, 4, 1, 1});
  write("locon", {{kConvKohya + ".lora_down.weight", down}, {kConvKohya + ".lora_up.weight", up},
                  {kConvKohya + ".alpha", torch::tensor(2.0)}});
  const auto conv0 = weight(kConv);
  merge("locon", 1.0);
  const auto expected = up.flatten(1).mm(down.flatten(1)).reshape({32, 16, 3, 3}) * 0.5;
  EXPECT_TRUE(torch::allclose(weight(kConv) - conv0, expected, 1e-5, 1e-5));
  merged_.restore(modules_);

  const auto mid = randn({4, 4, 3, 3}), down1 = randn({4, 16, 1, 1});
  write("locon_mid", {{kConvKohya + ".lora_down.weight", down1}, {kConvKohya + ".lora_mid.weight", mid},
                      {kConvKohya + ".lora_up.weight", up}});
  merge("locon_mid", 1.0);
  // 1×1 down, 3×3 mid, 1×1 up: ΔW[o, c] = Σ_ij up[o, i] · mid[i, j] · down[j, c].
  auto by_hand = torch::zeros({32, 16, 3, 3});
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      by_hand += up.flatten(1).select(1, i).view({32, 1, 1, 1}) * down1.flatten(1)[j].view({1, 16, 1, 1}) *
                 mid[i][j].view({1, 1, 3, 3});
    }
  }
  EXPECT_TRUE(torch::allclose(weight(kConv) - conv0, by_hand, 1e-4, 1e-4));
}

// The peft fixture rewritten in three more spellings must change exactly the same weights by
// exactly the same amounts.
TEST_F(LoraTest, EveryNamingOfTheSameAdapterMergesTheSameWeights) {
  const auto peft = SafetensorsFile::open(fixture("loras/tiny_lora_peft.safetensors"));
  NamedTensors old_diffusers, kohya_diffusers_paths, wrapped;
  for (const auto& key : peft->names()) {
    const auto tensor = peft->tensor(key);
    wrapped.emplace_back(key.rfind("unet.", 0) == 0 ? "base_model.model." + key.substr(5) : key, tensor);
    std::string name = key.substr(0, key.rfind(".lora_"));
    const bool down = key.find(".lora_A.") != std::string::npos;
    if (name.rfind("unet.", 0) != 0) {  // text encoders: keep peft naming in every variant
      old_diffusers.emplace_back(key, tensor);
      kohya_diffusers_paths.emplace_back(key, tensor);
      continue;
    }
    // unet.<attn>.to_out.0 -> unet.<attn>.processor.to_out_lora.down.weight
    std::string attention = name.substr(0, name.rfind(".to_"));
    std::string projection = name.substr(name.rfind(".to_") + 1);
    if (projection == "to_out.0") projection = "to_out";
    old_diffusers.emplace_back(attention + ".processor." + projection + "_lora." + (down ? "down" : "up") + ".weight",
                               tensor);
    std::string path = name.substr(5);
    std::replace(path.begin(), path.end(), '.', '_');
    kohya_diffusers_paths.emplace_back("lora_unet_" + path + (down ? ".lora_down.weight" : ".lora_up.weight"), tensor);
  }
  write("old_diffusers", old_diffusers);
  write("kohya_diffusers_paths", kohya_diffusers_paths);
  write("peft_wrapped", wrapped);

  merge("tiny_lora_peft", 0.8);
  const auto expected = snapshot();
  merged_.restore(modules_);
  for (const std::string name : {"old_diffusers", "kohya_diffusers_paths", "peft_wrapped"}) {
    const auto plan = merge(name, 0.8);
    EXPECT_TRUE(plan.warnings.empty()) << name << ": " << plan.warnings.front();
    EXPECT_EQ(plan.patches.size(), 136u + 12u + 6u) << name;
    const auto got = snapshot();
    for (const auto& [key, tensor] : expected) EXPECT_TRUE(torch::equal(got.at(key), tensor)) << name << " " << key;
    merged_.restore(modules_);
  }
}

TEST_F(LoraTest, ApplyingAndRemovingAStackThroughTheGateRestoresEveryTensorBitwise) {
  const auto original = snapshot();
  std::vector<WeightedAdapter> stack = {
      {models_.loras->adapter("tiny_lora_kohya", "loras[0]"), 0.8, "loras[0]", "tiny_lora_kohya"},
      {models_.loras->adapter("tiny_lora_peft", "loras[1]"), -0.35, "loras[1]", "tiny_lora_peft"}};
  const auto plan = plan_lora_stack(stack, lora_target_index(modules_));
  AdaptableModules unet_part{{"unet", modules_.at("unet")}};
  AdaptableModules text_part{{"text_encoder", modules_.at("text_encoder")},
                             {"text_encoder_2", modules_.at("text_encoder_2")}};
  LoraGate gate;
  {
    auto lease = gate.acquire({{unet_, unet_part, "stack", &plan}, {encoders_, text_part, "stack", &plan}});
    std::size_t changed = 0;
    const auto now = snapshot();
    for (const auto& [key, tensor] : original) changed += torch::equal(now.at(key), tensor) ? 0 : 1;
    EXPECT_EQ(changed, 136u + 12u + 6u);  // every attention projection the files name, no other tensor
  }
  {
    auto lease = gate.acquire({{unet_, unet_part, "", nullptr}, {encoders_, text_part, "", nullptr}});
    const auto now = snapshot();
    for (const auto& [key, tensor] : original) EXPECT_TRUE(torch::equal(now.at(key), tensor)) << key;
  }
}

TEST_F(LoraTest, GateMakesAnotherStackWaitForTheRunningJob) {
  const auto plan = plan_lora_stack({{models_.loras->adapter("tiny_lora_kohya", "loras[0]"), 1.0, "loras[0]", "k"}},
                                    lora_target_index(modules_));
  AdaptableModules unet_part{{"unet", modules_.at("unet")}};
  LoraGate gate;
  auto first = std::make_unique<LoraGate::Lease>(gate.acquire({{unet_, unet_part, "kohya", &plan}}));
  auto same = gate.acquire({{unet_, unet_part, "kohya", &plan}});  // the same stack shares at once
  auto other = std::async(std::launch::async, [&] { return gate.acquire({{unet_, unet_part, "", nullptr}}); });
  EXPECT_EQ(other.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  first.reset();
  { auto released = std::move(same); }
  ASSERT_EQ(other.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  other.get();
  EXPECT_EQ(merged_.size(), 0u);
}

TEST_F(LoraTest, AJobWaitingAtTheGateStopsWhenItsCheckThrows) {
  AdaptableModules unet_part{{"unet", modules_.at("unet")}};
  LoraGate gate;
  const auto running = gate.acquire({{unet_, unet_part, "", nullptr}});
  const auto plan = plan_lora_stack({{models_.loras->adapter("tiny_lora_kohya", "loras[0]"), 1.0, "loras[0]", "k"}},
                                    lora_target_index(modules_));
  std::atomic<bool> cancelled{false};
  auto waiting = std::async(std::launch::async, [&] {
    return gate.acquire({{unet_, unet_part, "kohya", &plan}}, [&] {
      if (cancelled) throw Error(ErrorCode::kCancelled, "cancelled");
    });
  });
  EXPECT_EQ(waiting.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  cancelled = true;
  ASSERT_EQ(waiting.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  std::string message;
  EXPECT_EQ(code_of([&] { waiting.get(); }, &message), ErrorCode::kCancelled);
}

TEST_F(LoraTest, UnknownKeysAreAWarningWithTheFirstFewAndTheCount) {
  auto tensors = NamedTensors{{kToQKohya + ".lora_down.weight", randn({4, 32})},
                              {kToQKohya + ".lora_up.weight", randn({32, 4})}};
  for (int i = 0; i < 7; ++i) {
    tensors.emplace_back("lora_unet_no_such_block_" + std::to_string(i) + ".lora_down.weight", randn({4, 8}));
  }
  tensors.emplace_back("lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.bias", randn({4}));
  write("partly_unknown", tensors);
  const auto plan = merge("partly_unknown", 1.0);
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_NE(plan.warnings[0].find("8 keys match no weight of this model"), std::string::npos) << plan.warnings[0];
  EXPECT_NE(plan.warnings[0].find("loras[0]"), std::string::npos);
  EXPECT_NE(plan.warnings[0].find(", …"), std::string::npos);  // more than the five listed
  EXPECT_EQ(plan.patches.size(), 1u);
}

TEST_F(LoraTest, FilesThatDoNotFitTheModelAreInvalidRequestsNamingTheItem) {
  std::string message;
  // No key names a weight of this model.
  write("sd15", {{"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", randn({4, 320})},
                 {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", randn({320, 4})}});
  EXPECT_EQ(code_of([&] { merge("sd15", 1.0); }, &message), ErrorCode::kInvalidRequest);
  EXPECT_NE(message.find("none of its 1 modules"), std::string::npos) << message;
  // Names that exist, shapes that do not: nothing may change.
  const auto before = snapshot();
  write("wrong_shape", {{kToQKohya + ".lora_down.weight", randn({4, 64})}, {kToQKohya + ".lora_up.weight", randn({64, 4})}});
  EXPECT_EQ(code_of([&] { merge("wrong_shape", 1.0); }, &message), ErrorCode::kInvalidRequest);
  EXPECT_NE(message.find("is not for this model"), std::string::npos) << message;
  const auto after = snapshot();
  for (const auto& [key, tensor] : before) EXPECT_TRUE(torch::equal(after.at(key), tensor)) << key;
  // A half LoRA, a bad alpha, no adapter tensor at all (DoRA is merged: lora_families_test).
  write("half", {{kToQKohya + ".lora_down.weight", randn({4, 32})}});
  EXPECT_EQ(code_of([&] { merge("half", 1.0); }, &message), ErrorCode::kInvalidRequest);
  EXPECT_NE(message.find("lora_up.weight"), std::string::npos) << message;
  write("bad_alpha", {{kToQKohya + ".lora_down.weight", randn({4, 32})}, {kToQKohya + ".lora_up.weight", randn({32, 4})},
                      {kToQKohya + ".alpha", randn({2})}});
  EXPECT_EQ(code_of([&] { models_.loras->adapter("bad_alpha", "loras[0]"); }, &message), ErrorCode::kInvalidRequest);
  EXPECT_NE(message.find("must hold one number"), std::string::npos) << message;
  write("not_a_lora", {{"model.diffusion_model.conv_in.weight", randn({4, 4})}});
  EXPECT_EQ(code_of([&] { models_.loras->adapter("not_a_lora", "loras[0]"); }, &message), ErrorCode::kInvalidRequest);
  EXPECT_NE(message.find("holds no LoRA"), std::string::npos) << message;
}

TEST_F(LoraTest, NamesAreFoundInSubfoldersAndTheFileIsReadOnce) {
  fs::create_directories(root_ / "styles" / "film");
  write_safetensors((root_ / "styles" / "film" / "grain.safetensors").string(),
                    {{kToQKohya + ".lora_down.weight", randn({4, 32})}, {kToQKohya + ".lora_up.weight", randn({32, 4})}});
  const auto a = models_.loras->adapter("grain", "loras[0]");
  const auto b = models_.loras->adapter("styles/film/grain", "loras[0]");
  EXPECT_EQ(a.get(), b.get());  // cached
  std::string message;
  EXPECT_EQ(code_of([&] { models_.loras->adapter("../grain", "loras[0]"); }, &message),
            ErrorCode::kInvalidRequest);
  EXPECT_EQ(code_of([&] { models_.loras->adapter("missing", "loras[3].name"); }, &message),
            ErrorCode::kModelNotFound);
  EXPECT_NE(message.find("loras[3].name"), std::string::npos) << message;
}

}  // namespace
}  // namespace workers
