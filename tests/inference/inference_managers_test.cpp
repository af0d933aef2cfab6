// The inference managers with their workers mocked: the pipeline registry by model family, the
// batch manager's chunks, the memory manager's residency and eviction decisions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "inference/managers/batch_manager.h"
#include "inference/managers/family_pipeline_manager.h"
#include "inference/managers/memory_manager.h"
#include "mocks/mock_pipeline_manager.h"
#include "support/errors.h"

namespace workers {
namespace {

using ::testing::_;
using ::testing::Field;
using ::testing::Return;
using ::testing::StrictMock;
using testing_support::catch_error;

JobPlan plan_for(ModelKind kind) {
  JobPlan plan;
  plan.request.model.base = "m";
  plan.models = ResolvedModels{};
  plan.models->base.kind = kind;
  return plan;
}

TEST(FamilyPipelineManager, RunsThePipelineRegisteredForTheBaseModelsKind) {
  auto sdxl = std::make_shared<StrictMock<MockPipeline>>();
  auto inpaint = std::make_shared<StrictMock<MockPipeline>>();
  FamilyPipelineManager manager;
  manager.register_pipeline(ModelKind::kSdxlBase, sdxl);
  manager.register_pipeline(ModelKind::kSdxlInpaint, inpaint);
  CancellationToken token;
  JobContext context(token, nullptr);
  GenerationResult out;
  out.data = {{"from", "inpaint"}};
  EXPECT_CALL(*inpaint, run(_, _)).WillOnce(Return(out));
  EXPECT_EQ(manager.generate(plan_for(ModelKind::kSdxlInpaint), context).data["from"], "inpaint");
  // No pipeline for a refiner as a base model: refused with the field, nothing runs.
  const auto e = catch_error([&] { manager.generate(plan_for(ModelKind::kSdxlRefiner), context); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "model.base");
  EXPECT_THROW(manager.register_pipeline(ModelKind::kSdxlBase, sdxl), std::invalid_argument);
}

TEST(FamilyPipelineManager, MapsAnAllocationFailureToOomError) {
  auto sdxl = std::make_shared<StrictMock<MockPipeline>>();
  FamilyPipelineManager manager;
  manager.register_pipeline(ModelKind::kSdxlBase, sdxl);
  EXPECT_CALL(*sdxl, run(_, _)).WillOnce([](const JobPlan&, const JobContext&) -> GenerationResult {
    throw std::bad_alloc();
  });
  CancellationToken token;
  JobContext context(token, nullptr);
  EXPECT_EQ(catch_error([&] { manager.generate(plan_for(ModelKind::kSdxlBase), context); }).code,
            ErrorCode::kOomError);
  JobPlan unresolved;
  EXPECT_EQ(catch_error([&] { manager.generate(unresolved, context); }).code, ErrorCode::kInternalError);
}

GenerationRequest batch_of(int n, const std::string& seeds = "shared") {
  GenerationRequest r;
  r.batch_size = n;
  r.seed = 7;
  r.batch_seeds = seeds;
  return r;
}

TEST(ChunkingBatchManager, SharedSeedChunksDrawForTheWholeBatch) {
  const auto whole = ChunkingBatchManager(0).split(batch_of(5));
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0].size, 5);
  EXPECT_EQ(whole[0].draw_batch, 5);
  const auto chunks = ChunkingBatchManager(2).split(batch_of(5));
  ASSERT_EQ(chunks.size(), 3u);
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].seed, 7u);
    EXPECT_EQ(chunks[i].offset, static_cast<int>(2 * i));
    EXPECT_EQ(chunks[i].draw_batch, 5);  // every chunk replays the whole batch's draws
  }
  EXPECT_EQ(chunks[2].size, 1);
}

TEST(ChunkingBatchManager, PerImageSeedsAreOneRunPerImage) {
  const auto chunks = ChunkingBatchManager(0).split(batch_of(3, "per_image"));
  ASSERT_EQ(chunks.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(chunks[i].seed, 7u + i);
    EXPECT_EQ(chunks[i].size, 1);
    EXPECT_EQ(chunks[i].draw_batch, 1);
  }
  auto r = batch_of(2, "per_image");
  r.seed = ~std::uint64_t{0};  // wraps, as unsigned seeds do
  EXPECT_EQ(ChunkingBatchManager(0).split(r)[1].seed, 0u);
}

ModelCache::Loader sized(std::uint64_t bytes) {
  return [bytes] { return ModelCache::Loaded{std::make_shared<int>(0), bytes}; };
}

TEST(PlanningMemoryManager, ReportsResidentComponentsEvictsOverBudgetAndReleases) {
  MemorySettings settings;
  settings.budget = 100;
  auto parts = make_memory(100, settings);
  EXPECT_EQ(parts.memory->budget(), 100u);
  parts.cache->get("a#unet", "a", "unet", sized(60));
  auto held = parts.cache->get("b#vae", "b", "vae", sized(30));
  parts.cache->get("c#unet", "c", "unet", sized(50));  // over budget: a (idle, oldest) goes
  const auto resident = parts.memory->resident();
  ASSERT_EQ(resident.size(), 2u);
  EXPECT_EQ(resident[0].key, "c#unet");
  EXPECT_TRUE(resident[1].in_use);
  EXPECT_EQ(parts.memory->release("b"), 1u);
  EXPECT_EQ(parts.memory->release("b"), 0u);
}

TEST(LruBudgetEviction, NamesIdleLeastRecentlyUsedEntriesUntilTheTotalFits) {
  LruBudgetEviction policy(100);
  std::vector<CacheEntryInfo> entries{{"new", "m1", "unet", 50, false},
                                      {"held", "m2", "vae", 40, true},
                                      {"old", "m3", "unet", 40, false},
                                      {"oldest", "m4", "unet", 20, false}};
  EXPECT_EQ(policy.victims(entries, 150, "new"), (std::vector<std::string>{"oldest", "old"}));
  EXPECT_TRUE(policy.victims(entries, 90, "new").empty());
  EXPECT_TRUE(LruBudgetEviction(0).victims(entries, 1u << 30, "new").empty());  // no limit
}

}  // namespace
}  // namespace workers
