// The memory planner on full-size SDXL: facts read from a sparse full-size single-file
// checkpoint (real key names and shapes, zero pages) through the ComponentLoader, the job shape
// the memory manager derives from them, then plan choices for 512², 1024² and 2048², batches 1
// and 4, budgets from 4 to 64 GiB. Also the pressure levels and the manager's evictions.
#include <unistd.h>

#include <filesystem>
#include <map>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "inference/managers/memory_manager.h"
#include "inference/managers/memory_planner.h"
#include "models/managers/component_loader.h"
#include "support/errors.h"
#include "support/sdxl_shapes.h"
#include "utilities/error.h"

namespace workers {
namespace {

namespace fs = std::filesystem;
constexpr std::uint64_t GiB = 1ull << 30;

// One sparse full-size SDXL base for the whole suite (writing it takes milliseconds).
class FullSizeSdxl : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One per process: CTest runs the suite's tests as separate processes, in parallel.
    dir_ = new fs::path(fs::path(::testing::TempDir()) / ("memory_planner_full_sdxl_" + std::to_string(::getpid())));
    fs::create_directories(*dir_);
    testing_support::write_checkpoint((*dir_ / "sdxl-base.safetensors").string(),
                                      testing_support::sdxl_base_checkpoint_shapes(), false);
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }

  FullSizeSdxl() {
    ModelConfig config;
    config.model_roots = {dir_->string()};
    cache_ = std::make_shared<ModelCache>(nullptr);
    loader_ = std::make_shared<ComponentLoader>(config, "cpu", "float32", SDXL_DATA_DIR, cache_);
    MemorySettings settings;
    settings.overhead = 512ull << 20;
    memory_ = std::make_shared<PlanningMemoryManager>(cache_, settings);
    memory_->attach(loader_);
  }

  MemoryJob shape(int size, int batch) const {
    JobPlan plan;
    plan.request.width = plan.request.height = size;
    plan.request.batch_size = batch;
    plan.request.guidance_scale = 5.0;
    plan.chunks = {{0, 0, batch, batch}};
    ResolvedModels models;
    models.base = loader_->open("sdxl-base", "model.base");
    models.vae = models.base;
    plan.models = models;
    return memory_->job_shape(plan);
  }

  static fs::path* dir_;
  std::shared_ptr<ModelCache> cache_;
  std::shared_ptr<ComponentLoader> loader_;
  std::shared_ptr<PlanningMemoryManager> memory_;
};
fs::path* FullSizeSdxl::dir_ = nullptr;

MemoryRoom room(std::uint64_t budget) {
  MemoryRoom r;
  r.budget = budget;
  r.overhead = 512ull << 20;
  return r;
}

TEST_F(FullSizeSdxl, FactsAreThePublishedParameterCountsAndTheLargestUnitIsAnUpBlockResnet) {
  const MemoryJob job = shape(1024, 1);
  EXPECT_EQ(job.unet_size.parameters, 2567463684u);  // param_counts.json
  EXPECT_EQ(job.vae_size.parameters, 83653863u);
  EXPECT_EQ(job.text_size.parameters, 123060480u + 694659840u);
  // up_blocks.0.resnets.0: conv1 2560->1280 3x3, conv2 1280->1280 3x3, the 1x1 shortcut, time
  // projection and norms: 47.5 M parameters, the largest unit of the SDXL UNet.
  EXPECT_EQ(job.unet_size.largest_unit, 29491200u + 1280u + 14745600u + 1280u + 3276800u + 1280u + 1638400u +
                                            1280u + 2u * 2560u + 2u * 1280u);
  EXPECT_LT(job.unet_size.root, job.unet_size.parameters / 50);  // conv_in/out, embeddings: small
  EXPECT_EQ(job.unet.block_out_channels, (std::vector<std::int64_t>{320, 640, 1280}));
}

TEST_F(FullSizeSdxl, EstimatesAtFullSizeAreWeightsPlusThePeakPhase) {
  const MemoryJob job = shape(1024, 1);
  const auto resident = plan_at(job, room(0), MemoryRung::kResident);
  // fp32 weights: 4 bytes x (2.567 G + 0.818 G + 0.084 G) = 13.9 GB, plus activations.
  const std::uint64_t weights = 4 * (2567463684ull + 817720320ull + 83653863ull);
  EXPECT_EQ(resident.breakdown["weights_resident"].get<std::uint64_t>(), weights);
  EXPECT_GT(resident.estimate, weights + (512ull << 20));
  // Unsliced attention at 64x64 tokens (level 1, 10 heads, CFG batch 2): 2 x 2 x 10 x 4096² x 4 B.
  EXPECT_GE(resident.breakdown["unet_activations"].get<std::uint64_t>(), 2ull * 2 * 10 * 4096 * 4096 * 4);
  const auto sliced = plan_at(job, room(0), MemoryRung::kAttentionSlicing);
  const auto offload = plan_at(job, room(0), MemoryRung::kOffload);
  const auto streamed = plan_at(job, room(0), MemoryRung::kStreamed);
  EXPECT_LT(sliced.estimate, resident.estimate);
  EXPECT_LT(offload.estimate, sliced.estimate);
  EXPECT_LT(streamed.estimate, offload.estimate);
  // Offload keeps the UNet whole (10.3 GB); streamed, two of its largest units (0.4 GB).
  EXPECT_GT(offload.estimate, 4 * 2567463684ull);
  EXPECT_LT(streamed.estimate, 6 * GiB);
}

TEST_F(FullSizeSdxl, ChoosesTheCheapestRungThatFitsForEverySizeBatchAndBudget) {
  std::map<std::tuple<int, int, std::uint64_t>, std::string> chosen;
  for (int size : {512, 1024, 2048}) {
    for (int batch : {1, 4}) {
      const MemoryJob job = shape(size, batch);
      for (std::uint64_t budget : {4 * GiB, 6 * GiB, 8 * GiB, 12 * GiB, 16 * GiB, 24 * GiB, 32 * GiB, 64 * GiB}) {
        SCOPED_TRACE(std::to_string(size) + "² batch " + std::to_string(batch) + " in " + std::to_string(budget / GiB) +
                     " GiB");
        try {
          const MemoryPlan plan = choose_plan(job, room(budget));
          EXPECT_LE(plan.estimate, budget);
          // Every cheaper rung would not have fitted.
          for (int r = 0; r < static_cast<int>(plan.rung); ++r) {
            EXPECT_GT(plan_at(job, room(budget), static_cast<MemoryRung>(r)).estimate, budget) << r;
          }
          chosen[{size, batch, budget / GiB}] = std::string(to_string(plan.rung));
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), ErrorCode::kOomError);
          EXPECT_THAT(e.what(), ::testing::HasSubstr("even at its cheapest plan"));
          // Refused only when even the last rung is over the budget.
          EXPECT_GT(plan_at(job, room(budget), MemoryRung::kStreamedTiled).estimate, budget);
          chosen[{size, batch, budget / GiB}] = "refused";
        }
      }
    }
  }
  // The table the architecture doc quotes.
  EXPECT_EQ((chosen[{1024, 1, 64}]), "resident");
  EXPECT_EQ((chosen[{1024, 1, 24}]), "resident");
  EXPECT_EQ((chosen[{1024, 1, 16}]), "vae_tiling");  // 13.9 GB of weights leave too little for the VAE
  EXPECT_EQ((chosen[{1024, 1, 12}]), "offload");
  EXPECT_EQ((chosen[{1024, 1, 8}]), "streamed");
  EXPECT_EQ((chosen[{1024, 1, 6}]), "streamed");
  EXPECT_EQ((chosen[{1024, 4, 16}]), "batch_split");
  EXPECT_EQ((chosen[{1024, 4, 8}]), "streamed_tiled");
  EXPECT_EQ((chosen[{512, 1, 16}]), "resident");
  EXPECT_EQ((chosen[{512, 1, 12}]), "offload");
  EXPECT_EQ((chosen[{512, 1, 4}]), "streamed");
  EXPECT_EQ((chosen[{512, 4, 8}]), "streamed");
  EXPECT_EQ((chosen[{2048, 1, 24}]), "vae_tiling");
  EXPECT_EQ((chosen[{2048, 1, 8}]), "streamed_tiled");
  EXPECT_EQ((chosen[{2048, 4, 4}]), "refused");
  for (const auto& [key, rung] : chosen) {
    std::printf("  %4d² x%d %2llu GiB: %s\n", std::get<0>(key), std::get<1>(key),
                static_cast<unsigned long long>(std::get<2>(key)), rung.c_str());
  }
}

TEST_F(FullSizeSdxl, ALoraStackIsNeverOffloadedOrStreamed) {
  MemoryJob job = shape(1024, 1);
  job.loras = true;
  EXPECT_EQ(choose_plan(job, room(16 * GiB)).rung, MemoryRung::kVaeTiling);
  const auto error = testing_support::catch_error([&] { choose_plan(job, room(8 * GiB)); });
  EXPECT_EQ(error.code, ErrorCode::kOomError);
  EXPECT_THAT(error.message, ::testing::HasSubstr("LoRA stack needs the networks resident"));
}

TEST_F(FullSizeSdxl, RungsThatChangeNothingAreSkippedAndTheLadderEnds) {
  const MemoryJob job = shape(512, 1);  // one image: no batch to split; 512 px: one VAE tile
  // Starting above attention slicing: vae_tiling and batch_split estimate the same, so offload.
  EXPECT_EQ(choose_plan(job, room(64 * GiB), MemoryRung::kVaeTiling).rung, MemoryRung::kOffload);
  EXPECT_EQ(choose_plan(job, room(64 * GiB), MemoryRung::kStreamed).rung, MemoryRung::kStreamed);
  // streamed_tiled is streamed for this job: nothing is left after streamed.
  const auto error = testing_support::catch_error(
      [&] { choose_plan(job, room(64 * GiB), MemoryRung::kStreamedTiled); });
  EXPECT_EQ(error.code, ErrorCode::kOomError);
  // Idle models of others are only evicted when the resident plan does not fit beside them.
  MemoryRoom crowded = room(24 * GiB);
  crowded.evictable = 12 * GiB;
  EXPECT_EQ(choose_plan(job, crowded).rung, MemoryRung::kEvictCached);
  crowded.evictable = 1 * GiB;
  EXPECT_EQ(choose_plan(job, crowded).rung, MemoryRung::kResident);
}

TEST_F(FullSizeSdxl, TheRefusalSaysWhatTheCheapestPlanNeedsAndWhatIsAvailable) {
  MemoryRoom r = room(4 * GiB);
  r.held_by_others = 1 * GiB;
  const auto error = testing_support::catch_error([&] { choose_plan(shape(2048, 4), r); });
  EXPECT_EQ(error.code, ErrorCode::kOomError);
  EXPECT_THAT(error.message, ::testing::HasSubstr("streamed_tiled"));
  EXPECT_THAT(error.message, ::testing::HasSubstr("3.00 GiB of the 4.00 GiB memory budget are available"));
  EXPECT_THAT(error.message, ::testing::HasSubstr("1.00 GiB held by running jobs"));
  EXPECT_THAT(error.message, ::testing::HasSubstr("nothing was started"));
}

TEST(MemoryEstimates, VaeAndUnetActivationsFollowTheirShapes) {
  VaeConfig vae;
  vae.block_out_channels = {128, 256, 512, 512};
  // 1024²: the 256-channel feature maps at full size dominate (3 live: 3 GiB), above the mid
  // attention's 128² x 128² scores (2 x 1 GiB).
  EXPECT_EQ(vae_decode_bytes(vae, 1024, 1024, 1, 0, 4), 3ull * 256 * 1024 * 1024 * 4);
  EXPECT_EQ(vae_decode_bytes(vae, 1024, 1024, 2, 0, 4), 2 * vae_decode_bytes(vae, 1024, 1024, 1, 0, 4));
  // Tiles bound it: a 512-px tile's peak plus the tiles kept and the blended image.
  EXPECT_LT(vae_decode_bytes(vae, 2048, 2048, 1, 512, 4), vae_decode_bytes(vae, 2048, 2048, 1, 0, 4) / 10);
  EXPECT_EQ(vae_decode_bytes(vae, 512, 512, 1, 512, 4), vae_decode_bytes(vae, 512, 512, 1, 0, 4));  // one tile
  UNetConfig unet;
  unet.block_out_channels = {320, 640, 1280};
  unet.down_block_types = {"DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"};
  unet.layers_per_block = {2, 2, 2};
  unet.num_attention_heads = {5, 10, 20};
  const auto whole = unet_activation_bytes(unet, 128, 128, 2, 0, 4);
  const auto sliced = unet_activation_bytes(unet, 128, 128, 2, 1, 4);
  EXPECT_LT(sliced, whole / 3);
  EXPECT_EQ(unet_activation_bytes(unet, 64, 64, 4, 0, 4), 2 * unet_activation_bytes(unet, 64, 64, 2, 0, 4));
}

// A probe that reports what the test sets.
class FakeProbe : public MemoryProbe {
 public:
  MemorySample sample() override { return now; }
  void release_caches() override { ++releases; }
  MemorySample now;
  int releases = 0;
};

TEST(MemoryPressure, LevelsFollowTheShareOfTheBudgetStillAvailable) {
  const auto at = [](std::uint64_t used, std::uint64_t system) {
    return pressure_of({used, used, system}, 100 * GiB).level;
  };
  EXPECT_EQ(at(10 * GiB, 500 * GiB), PressureLevel::kLow);
  EXPECT_EQ(at(71 * GiB, 500 * GiB), PressureLevel::kMedium);
  EXPECT_EQ(at(86 * GiB, 500 * GiB), PressureLevel::kHigh);
  EXPECT_EQ(at(96 * GiB, 500 * GiB), PressureLevel::kCritical);
  EXPECT_EQ(at(120 * GiB, 500 * GiB), PressureLevel::kCritical);  // over the budget
  // The system running short counts too: 10 GiB used of 100, but only 4 GiB left on the machine.
  EXPECT_EQ(at(10 * GiB, 4 * GiB), PressureLevel::kCritical);
  EXPECT_EQ(pressure_of({10 * GiB, 10 * GiB, 4 * GiB}, 100 * GiB).available, 4 * GiB);
}

ModelCache::Loader sized(std::uint64_t bytes) {
  return [bytes] { return ModelCache::Loaded{std::make_shared<int>(0), bytes}; };
}

TEST(PlanningMemoryManager, EvictsIdleModelsAtHighPressureAndRefusesJobsWhileCritical) {
  auto probe = std::make_shared<FakeProbe>();
  MemorySettings settings;
  settings.budget = 100 * GiB;
  auto parts = make_memory(100 * GiB, settings, probe);
  auto& memory = *parts.memory;
  parts.cache->get("idle#unet", "idle", "unet", sized(30 * GiB));
  auto held = parts.cache->get("busy#unet", "busy", "unet", sized(40 * GiB));
  probe->now = {20 * GiB, 20 * GiB, 500 * GiB};
  EXPECT_EQ(memory.pressure().level, PressureLevel::kLow);
  EXPECT_NO_THROW(memory.admit());
  EXPECT_EQ(parts.cache->entries().size(), 2u);  // low: nothing leaves
  probe->now.used = 90 * GiB;                     // high: the idle model goes, the held one stays
  EXPECT_EQ(memory.pressure().level, PressureLevel::kHigh);
  ASSERT_EQ(parts.cache->entries().size(), 1u);
  EXPECT_EQ(parts.cache->entries()[0].key, "busy#unet");
  probe->now.used = 99 * GiB;  // critical, and nothing idle to drop: refused, allocator caches released
  const auto error = testing_support::catch_error([&] { memory.admit(); });
  EXPECT_EQ(error.code, ErrorCode::kOomError);
  EXPECT_THAT(error.message, ::testing::HasSubstr("memory pressure is critical"));
  EXPECT_EQ(probe->releases, 1);
  probe->now.used = 50 * GiB;  // memory freed: accepted again
  EXPECT_NO_THROW(memory.admit());
  EXPECT_EQ(memory.status()["pressure"], "low");
  EXPECT_EQ(memory.status()["budget_bytes"], 100 * GiB);
}

TEST(ModelCache, PreLoadCheckEvictsIdleEntriesThenRefusesWhatCannotFitWithoutLoading) {
  ModelCache cache(std::make_shared<const LruBudgetEviction>(100));
  cache.get("a#unet", "a", "unet", sized(60));
  auto held = cache.get("b#vae", "b", "vae", sized(30));
  bool loaded = false;
  const auto error = testing_support::catch_error([&] {
    cache.get("c#unet", "c", "unet", [&] {
      loaded = true;
      return ModelCache::Loaded{std::make_shared<int>(0), 80};
    }, /*expected_bytes=*/80);
  });
  EXPECT_EQ(error.code, ErrorCode::kOomError);
  EXPECT_FALSE(loaded);  // refused before reading anything
  EXPECT_THAT(error.message, ::testing::HasSubstr("loading unet of c needs 80 B"));
  EXPECT_EQ(cache.entries().size(), 1u);  // the idle 60 left to make room; the held 30 stays
  cache.get("d#unet", "d", "unet", sized(70), /*expected_bytes=*/70);  // fits beside the held one
  EXPECT_EQ(cache.bytes(), 100u);
}

}  // namespace
}  // namespace workers
