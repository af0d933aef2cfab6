// Parity of the networks with diffusers/transformers (fp32 CPU). The fixtures' weights are fp16
// and the references were computed in fp32 from those rounded weights, so an fp32 forward
// reproduces them to float rounding (~1e-6 here); 1e-4 max abs is the bound and leaves
// room for a different BLAS summation order.
#include <gtest/gtest.h>

#include "models/io/single_file_checkpoint.h"
#include "models/nn/networks.h"
#include "support/tensor_checks.h"

namespace workers {
namespace {

using testing_support::fixture;
using testing_support::max_abs_diff;
using testing_support::Reference;

constexpr double kParityTolerance = 1e-4;

TEST(ClipTextParity, BothEncodersMatchTransformersForEveryPrompt) {
  c10::InferenceMode inference;
  auto te1 = build_clip_text(component_source(fixture("tiny-sdxl"), "text_encoder"));
  auto te2 = build_clip_text(component_source(fixture("tiny-sdxl"), "text_encoder_2"));
  EXPECT_FALSE(te1->text_projection);
  EXPECT_TRUE(te2->text_projection);
  Reference ref("text_encoders.safetensors");
  for (const std::string p : {"p0", "p1", "p2", "p3"}) {
    SCOPED_TRACE(p);
    auto out1 = te1->forward(ref[p + ".ids1"]);
    ASSERT_EQ(out1.hidden_states.size(), 4u);  // embeddings + 3 layers
    EXPECT_LE(max_abs_diff(out1.last_hidden_state, ref[p + ".te1.last_hidden_state"]), kParityTolerance);
    EXPECT_LE(max_abs_diff(out1.hidden_states.end()[-2], ref[p + ".te1.penultimate"]), kParityTolerance);
    EXPECT_LE(max_abs_diff(out1.pooler_output, ref[p + ".te1.pooler_output"]), kParityTolerance);
    auto out2 = te2->forward(ref[p + ".ids2"]);
    EXPECT_LE(max_abs_diff(out2.last_hidden_state, ref[p + ".te2.last_hidden_state"]), kParityTolerance);
    EXPECT_LE(max_abs_diff(out2.hidden_states.end()[-2], ref[p + ".te2.penultimate"]), kParityTolerance);
    EXPECT_LE(max_abs_diff(out2.text_embeds, ref[p + ".te2.text_embeds"]), kParityTolerance);
  }
}

void expect_unet_parity(UNet2DConditionModel unet, const std::string& reference) {
  Reference ref(reference);
  for (int t : {999, 500, 1}) {
    SCOPED_TRACE("t=" + std::to_string(t));
    auto out = unet->forward(ref["sample"], torch::tensor(static_cast<double>(t)), ref["encoder_hidden_states"],
                             ref["text_embeds"], ref["time_ids"]);
    EXPECT_LE(max_abs_diff(out, ref["out.t" + std::to_string(t)]), kParityTolerance);
  }
}

TEST(UNetParity, BaseUNetMatchesDiffusersAtThreeTimesteps) {
  c10::InferenceMode inference;
  expect_unet_parity(build_unet(component_source(fixture("tiny-sdxl"), "unet")), "unet.safetensors");
}

TEST(UNetParity, RefinerUNetWithFiveTimeIdsMatchesDiffusers) {
  c10::InferenceMode inference;
  auto unet = build_unet(component_folder_source(fixture("tiny-sdxl-refiner-unet")));
  EXPECT_EQ(unet->config().num_time_ids(16), 5);
  expect_unet_parity(unet, "unet_refiner.safetensors");
}

TEST(UNetParity, SingleFileCheckpointGivesTheFolderResultBitwise) {
  c10::InferenceMode inference;
  auto checkpoint = load_single_file(fixture("tiny-sdxl-single-file.safetensors"), fixture("tiny-sdxl"));
  auto from_file = build_unet(component_source(*checkpoint.find("unet"), checkpoint.path));
  auto from_folder = build_unet(component_source(fixture("tiny-sdxl"), "unet"));
  Reference ref("unet.safetensors");
  auto a = from_file->forward(ref["sample"], torch::tensor(500.0), ref["encoder_hidden_states"], ref["text_embeds"],
                              ref["time_ids"]);
  auto b = from_folder->forward(ref["sample"], torch::tensor(500.0), ref["encoder_hidden_states"],
                                ref["text_embeds"], ref["time_ids"]);
  EXPECT_TRUE(torch::equal(a, b));
}

TEST(VaeParity, DecodeAndEncodeMatchDiffusers) {
  c10::InferenceMode inference;
  auto vae = build_vae(component_source(fixture("tiny-sdxl"), "vae"));
  Reference ref("vae.safetensors");
  EXPECT_LE(max_abs_diff(vae->decode(ref["latents"]), ref["decoded"]), kParityTolerance);
  auto moments = vae->encode(ref["image"]);
  EXPECT_LE(max_abs_diff(moments.mean, ref["encoded.mean"]), kParityTolerance);
  EXPECT_LE(max_abs_diff(moments.logvar, ref["encoded.logvar"]), kParityTolerance);
}

}  // namespace
}  // namespace workers
