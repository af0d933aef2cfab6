// The model tier's pieces with their collaborators mocked: the cache drops what its eviction
// policy names (never a component a job holds), and the text-encoder manager takes its
// tokenizers from the TokenizerManager role.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mocks/mock_eviction_policy.h"
#include "mocks/mock_model_managers.h"
#include "models/managers/torch_model_managers.h"
#include "models/nn/sdxl_text_encoders.h"

namespace workers {
namespace {

using ::testing::_;
using ::testing::AnyNumber;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::Return;
using ::testing::StrictMock;

ModelCache::Loader sized(std::uint64_t bytes) {
  return [bytes] { return ModelCache::Loaded{std::make_shared<int>(0), bytes}; };
}

TEST(ModelCache, DropsWhatTheEvictionPolicyNamesButNeverAHeldComponent) {
  auto policy = std::make_shared<StrictMock<MockEvictionPolicy>>();
  EXPECT_CALL(*policy, budget()).Times(AnyNumber());
  ModelCache cache(policy);
  EXPECT_CALL(*policy, victims(_, 10u, "a")).WillOnce(Return(std::vector<std::string>{}));
  auto held = cache.get("a", "m1", "unet", sized(10));
  EXPECT_CALL(*policy, victims(_, 30u, "b")).WillOnce(Return(std::vector<std::string>{}));
  cache.get("b", "m2", "vae", sized(20));
  // The policy sees the entries most recent first, with the held one marked; the cache drops
  // what it names, except a component a job holds.
  EXPECT_CALL(*policy, victims(ElementsAre(Field(&CacheEntryInfo::key, "c"), Field(&CacheEntryInfo::key, "b"),
                                           Field(&CacheEntryInfo::in_use, true)),
                               35u, "c"))
      .WillOnce(Return(std::vector<std::string>{"b", "a"}));
  cache.get("c", "m3", "unet", sized(5));
  const auto left = cache.entries();
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].key, "c");
  EXPECT_EQ(left[1].key, "a");
  EXPECT_EQ(cache.bytes(), 15u);
}

TEST(TorchTextEncoderManager, TakesItsTokenizersFromTheTokenizerManager) {
  ModelConfig config;
  config.model_roots = {SDXL_FIXTURES_DIR};
  auto cache = std::make_shared<ModelCache>(nullptr);
  auto loader = std::make_shared<ComponentLoader>(config, "cpu", "float32", SDXL_DATA_DIR, cache);
  auto tokenizers = std::make_shared<StrictMock<MockTokenizerManager>>();
  const auto model = loader->open("tiny-sdxl", "model.base");
  SdxlTokenizers given;
  given.tokenizer = ClipTokenizer::load(std::string(SDXL_FIXTURES_DIR) + "/tiny-sdxl/tokenizer");
  given.tokenizer_2 = ClipTokenizer::load(std::string(SDXL_FIXTURES_DIR) + "/tiny-sdxl/tokenizer_2");
  EXPECT_CALL(*tokenizers, tokenizers(Field(&ModelHandle::path, model.path))).WillOnce(Return(given));
  TorchTextEncoderManager manager(loader, tokenizers);
  const auto encoders = manager.text_encoders(model);
  EXPECT_EQ(encoders->tokenizer, given.tokenizer);
  EXPECT_EQ(encoders->tokenizer_2, given.tokenizer_2);
  EXPECT_EQ(manager.text_encoders(model), encoders);  // cached: the tokenizers are not asked again
}

}  // namespace
}  // namespace workers
