// Streamed weights on the tiny SDXL (fp16 on disk, fp32 compute): the streamed UNet and text
// encoders compute the resident networks' numbers bit for bit, their weights are parked again
// after every call, a Hold keeps them converted, and a lean construction allocates no weights.
#include <gtest/gtest.h>

#include "models/managers/torch_model_managers.h"
#include "models/nn/layers.h"
#include "models/nn/sdxl_text_encoders.h"
#include "models/nn/weight_stream.h"

namespace workers {
namespace {

struct TinyModels {
  TinyModels() {
    ModelConfig config;
    config.model_roots = {SDXL_FIXTURES_DIR};
    cache = std::make_shared<ModelCache>(nullptr);
    m = make_torch_model_managers(config, "cpu", "float32", SDXL_DATA_DIR, cache);
    handle = m.loader->open("tiny-sdxl", "model");
  }
  std::shared_ptr<ModelCache> cache;
  TorchModelManagers m;
  ModelHandle handle;
};

bool all_params(const torch::nn::Module& module, c10::ScalarType dtype) {
  for (const auto& p : module.parameters()) {
    if (p.scalar_type() != dtype) return false;
  }
  return true;
}

TEST(WeightStream, StreamedUnetEqualsTheResidentOneBitForBitAndParksAfterEachCall) {
  TinyModels t;
  auto resident = t.m.unet->unet(t.handle, Residency::kResident);
  auto streamed = t.m.unet->unet(t.handle, Residency::kStreamed);
  ASSERT_NE(resident.get(), streamed.get());  // two cache entries
  EXPECT_TRUE(all_params(**resident, torch::kFloat));
  EXPECT_TRUE(all_params(**streamed, torch::kHalf));  // parked as stored
  EXPECT_EQ(compute_options(**streamed).dtype(), torch::kFloat);
  std::size_t unit = 0;
  const WeightStream* stream = WeightStream::find(streamed->ptr().get(), &unit);
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(unit, 0u);
  EXPECT_GT(stream->units(), 10u);
  EXPECT_LT(stream->largest_unit_bytes(), stream->compute_bytes() / 4);

  c10::InferenceMode inference;
  const auto& c = (*resident)->config();
  torch::manual_seed(0);
  const auto sample = torch::randn({2, 4, 8, 8});
  const auto timestep = torch::full({2}, 500.0);
  const auto context = torch::randn({2, 77, c.cross_attention_dim.front()});
  const auto pooled = c.projection_class_embeddings_input_dim - 6 * c.addition_time_embed_dim;
  const auto text_embeds = torch::randn({2, pooled});
  const auto time_ids = torch::tensor({64.0, 64.0, 0.0, 0.0, 64.0, 64.0}).repeat({2, 1});
  const auto expected = (*resident)->forward(sample, timestep, context, text_embeds, time_ids);
  const auto got = (*streamed)->forward(sample, timestep, context, text_embeds, time_ids);
  EXPECT_TRUE(torch::equal(expected, got));
  EXPECT_TRUE(all_params(**streamed, torch::kHalf));  // parked again
  {
    const auto hold = WeightStream::hold(**streamed);
    EXPECT_TRUE(all_params(**streamed, torch::kFloat));  // offload: whole while held
    EXPECT_TRUE(torch::equal(expected, (*streamed)->forward(sample, timestep, context, text_embeds, time_ids)));
  }
  EXPECT_TRUE(all_params(**streamed, torch::kHalf));
  // Attention slicing (what the memory plan's attention_slicing rung sets) changes no bit either.
  set_attention_slice(*resident->ptr(), 1);
  EXPECT_TRUE(torch::equal(expected, (*resident)->forward(sample, timestep, context, text_embeds, time_ids)));
  set_attention_slice(*resident->ptr(), 0);

  const auto entries = t.cache->entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].residency, "streamed");
  EXPECT_EQ(entries[1].residency, "resident");
  EXPECT_LT(entries[0].bytes, entries[1].bytes / 10);  // parked views of the mapped file cost nothing at rest
}

TEST(WeightStream, StreamedTextEncodersEqualTheResidentOnes) {
  TinyModels t;
  auto resident = t.m.text_encoders->text_encoders(t.handle, Residency::kResident);
  auto streamed = t.m.text_encoders->text_encoders(t.handle, Residency::kStreamed);
  c10::InferenceMode inference;
  const auto ids = torch::randint(0, 1000, {1, 77}, torch::kLong);
  for (auto pair : {std::make_pair(resident->text_encoder, streamed->text_encoder),
                    std::make_pair(resident->text_encoder_2, streamed->text_encoder_2)}) {
    const auto a = pair.first->forward(ids);
    const auto b = pair.second->forward(ids);
    ASSERT_EQ(a.hidden_states.size(), b.hidden_states.size());
    for (std::size_t i = 0; i < a.hidden_states.size(); ++i) {
      EXPECT_TRUE(torch::equal(a.hidden_states[i], b.hidden_states[i])) << i;
    }
    EXPECT_TRUE(torch::equal(a.last_hidden_state, b.last_hidden_state));
    EXPECT_TRUE(torch::equal(a.pooler_output, b.pooler_output));
    if (a.text_embeds.defined()) EXPECT_TRUE(torch::equal(a.text_embeds, b.text_embeds));
    EXPECT_TRUE(all_params(*pair.second, torch::kHalf));
  }
}

TEST(WeightStream, LeanConstructionAllocatesNoWeightsForUnits) {
  ResnetBlock2DOptions options{640, 640, 1280};
  const LeanConstruction lean;
  ResnetBlock2D block(options);
  for (const auto& p : block->parameters()) {
    if (p.numel() <= 1) continue;
    EXPECT_FALSE(p.is_contiguous());  // a zero-stride placeholder of the right shape
    EXPECT_EQ(p.storage().nbytes(), sizeof(float));
  }
  EXPECT_EQ(block->conv1->weight.sizes(), (std::vector<std::int64_t>{640, 640, 3, 3}));
}

}  // namespace
}  // namespace workers
