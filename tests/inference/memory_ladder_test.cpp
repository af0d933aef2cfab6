// The out-of-memory ladder on the tiny SDXL, driven by the allocation-fault hook: the first k
// attempts of a job fail as a real CPU out-of-memory does, and the job is retried one rung
// cheaper each time, until it succeeds with k warnings at the k-th rung of its ladder, with the
// images of the unconstrained run: bit for bit on the exact rungs, within one 8-bit level once
// the batch is split. Past the last rung the job fails with OOM_ERROR.
#include <algorithm>
#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "devices/allocation_fault.h"
#include "instructors/inference_instructor.h"
#include "planned_pipeline.h"
#include "support/errors.h"

namespace workers {
namespace {

using testing_support::PlannedPipeline;
using testing_support::PlannedPipelineOptions;

PlannedPipelineOptions ladder_options() {
  PlannedPipelineOptions options;
  options.model.model_roots = {SDXL_FIXTURES_DIR};
  options.memory.budget = 64ull << 30;
  return options;
}

GenerationRequest two_images() {
  GenerationRequest r;
  r.model.base = "tiny-sdxl";
  r.width = r.height = 64;
  r.steps = 2;
  r.batch_size = 2;
  r.seed = 7;
  r.prompt = "a lighthouse";
  return r;
}

int max_difference(const std::vector<Image>& a, const std::vector<Image>& b) {
  int worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    for (std::size_t j = 0; j < a[i].pixels.size(); ++j) worst = std::max(worst, std::abs(a[i].pixels[j] - b[i].pixels[j]));
  }
  return worst;
}

struct Disarm {
  ~Disarm() { disarm_allocation_fault(); }
};

TEST(MemoryLadder, EachOutOfMemoryRetriesOneRungCheaperWithTheSameImages) {
  PlannedPipeline p(ladder_options());
  CancellationToken token;
  JobContext context(token, nullptr);
  const auto reference = p.generate(two_images(), context).images;
  ASSERT_EQ(reference.size(), 2u);
  // This job's ladder: evict_cached is skipped (after the first failure the recovery has already
  // dropped every idle component), and so is vae_tiling (64-px images are smaller than a tile).
  const std::vector<std::string> ladder = {"resident", "attention_slicing", "batch_split",
                                           "offload",  "streamed",          "streamed_tiled"};
  const Disarm disarm;
  for (int failures = 0; failures < static_cast<int>(ladder.size()); ++failures) {
    SCOPED_TRACE(std::to_string(failures) + " injected failures");
    // An idle component of another model, for the evict_cached rung to evict.
    p.models().unet->unet(p.models().loader->open("tiny-sdxl-refiner", "model"));
    JobPlan plan = p.plan(two_images());
    arm_allocation_fault({4096, 1, failures});
    const auto result = generate_within_memory(p.pipeline(), &p.memory(), plan, context);
    disarm_allocation_fault();
    EXPECT_EQ(injected_allocation_faults(), failures);
    ASSERT_EQ(result.warnings.size(), static_cast<std::size_t>(failures));
    for (const auto& warning : result.warnings) {
      EXPECT_THAT(warning, ::testing::HasSubstr("out of memory at the"));
      EXPECT_THAT(warning, ::testing::HasSubstr("not enough memory"));
    }
    EXPECT_EQ(result.metadata["memory"]["plan"], ladder[static_cast<std::size_t>(failures)]);
    const bool split = result.metadata["memory"]["max_chunk"] == 1;
    EXPECT_LE(max_difference(result.images, reference), split ? 1 : 0);
  }
}

TEST(MemoryLadder, APlanThatNeedsRoomEvictsIdleModelsOfOthersFirst) {
  // What the job needs resident, and what an idle refiner UNet takes, measured on one pipeline...
  std::uint64_t estimate = 0, refiner = 0;
  {
    PlannedPipeline a(ladder_options());
    JobPlan plan = a.plan(two_images());
    MemoryRoom unlimited;
    unlimited.overhead = MemorySettings{}.overhead;
    estimate = plan_at(a.memory().job_shape(plan), unlimited, MemoryRung::kResident).estimate;
    a.models().unet->unet(a.models().loader->open("tiny-sdxl-refiner", "model"));
    refiner = a.cache().entries().front().bytes;
  }
  // ...then a budget where the job fits alone but not beside the idle refiner.
  auto options = ladder_options();
  options.memory.budget = estimate + refiner / 2;
  PlannedPipeline p(options);
  p.models().unet->unet(p.models().loader->open("tiny-sdxl-refiner", "model"));
  CancellationToken token;
  JobContext context(token, nullptr);
  JobPlan plan = p.plan(two_images());
  const auto result = generate_within_memory(p.pipeline(), &p.memory(), plan, context);
  EXPECT_EQ(result.metadata["memory"]["plan"], "evict_cached");
  EXPECT_TRUE(result.warnings.empty());
  for (const auto& e : p.cache().entries()) EXPECT_THAT(e.model, ::testing::Not(::testing::HasSubstr("refiner")));
  EXPECT_EQ(p.memory().status()["last_plan"]["plan"], "evict_cached");
}

TEST(MemoryLadder, PastTheLastRungTheJobFailsWithOomError) {
  PlannedPipeline p(ladder_options());
  CancellationToken token;
  JobContext context(token, nullptr);
  GenerationRequest r = two_images();
  r.batch_size = 1;  // ladder: resident, attention_slicing, offload, streamed
  JobPlan plan = p.plan(r);
  const Disarm disarm;
  arm_allocation_fault({4096, 1, 100});
  const auto error = testing_support::catch_error([&] { generate_within_memory(p.pipeline(), &p.memory(), plan, context); });
  disarm_allocation_fault();
  EXPECT_EQ(error.code, ErrorCode::kOomError);
  EXPECT_THAT(error.message, ::testing::HasSubstr("not enough memory"));
  EXPECT_THAT(error.message, ::testing::HasSubstr("streamed"));
  EXPECT_EQ(injected_allocation_faults(), 4);
}

TEST(MemoryLadder, AJobNoPlanFitsIsRefusedBeforeAnythingRuns) {
  auto options = ladder_options();
  options.memory.budget = 300ull << 20;  // below the process overhead the planner counts
  PlannedPipeline p(options);
  CancellationToken token;
  JobContext context(token, nullptr);
  JobPlan plan = p.plan(two_images());
  const auto error = testing_support::catch_error([&] { generate_within_memory(p.pipeline(), &p.memory(), plan, context); });
  EXPECT_EQ(error.code, ErrorCode::kOomError);
  EXPECT_THAT(error.message, ::testing::HasSubstr("nothing was started"));
  EXPECT_TRUE(p.cache().entries().empty());  // no network was loaded
}

}  // namespace
}  // namespace workers
