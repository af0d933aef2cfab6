#include "models/managers/model_cache.h"

#include <gtest/gtest.h>

namespace workers {
namespace {

ModelCache::Loader sized(std::uint64_t bytes, int* loads) {
  return [bytes, loads] {
    ++*loads;
    return ModelCache::Loaded{std::make_shared<int>(static_cast<int>(bytes)), bytes};
  };
}

TEST(ModelCache, LoadsOnceAndEvictsTheLeastRecentlyUsedIdleEntry) {
  ModelCache cache(std::make_shared<LruBudgetEviction>(100));
  int loads = 0;
  cache.get("a", "m1", "unet", sized(40, &loads));
  cache.get("b", "m1", "vae", sized(40, &loads));
  cache.get("a", "m1", "unet", sized(40, &loads));  // hit: a becomes most recent
  EXPECT_EQ(loads, 2);
  cache.get("c", "m2", "unet", sized(40, &loads));  // 120 > 100: b (least recent) goes
  EXPECT_EQ(cache.bytes(), 80u);
  std::vector<std::string> keys;
  for (const auto& e : cache.entries()) keys.push_back(e.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"c", "a"}));
}

TEST(ModelCache, EntriesHeldByAJobAreNotEvicted) {
  ModelCache cache(std::make_shared<LruBudgetEviction>(50));
  int loads = 0;
  auto held = cache.get("a", "m1", "unet", sized(40, &loads));
  cache.get("b", "m2", "unet", sized(40, &loads));  // over budget, but a is in use and b is new
  EXPECT_EQ(cache.entries().size(), 2u);
  EXPECT_TRUE(cache.entries().back().in_use);
  held.reset();
  cache.get("c", "m3", "unet", sized(10, &loads));  // now a and b are idle: evicted oldest first
  EXPECT_LE(cache.bytes(), 50u);
  EXPECT_EQ(cache.entries().front().key, "c");
}

TEST(ModelCache, EraseModelDropsItsComponentsAndFailedLoadsCacheNothing) {
  ModelCache cache(nullptr);  // no limit
  int loads = 0;
  cache.get("a", "m1", "unet", sized(1000, &loads));
  cache.get("b", "m1", "vae", sized(1000, &loads));
  cache.get("c", "m2", "unet", sized(1000, &loads));
  EXPECT_EQ(cache.erase_model("m1"), 2u);
  EXPECT_EQ(cache.bytes(), 1000u);
  EXPECT_THROW(cache.get("d", "m3", "unet", [] () -> ModelCache::Loaded { throw std::runtime_error("bad file"); }),
               std::runtime_error);
  EXPECT_EQ(cache.entries().size(), 1u);
}

}  // namespace
}  // namespace workers
