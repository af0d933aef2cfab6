// Behaviour of the SDXL pipeline pieces beyond the fixtures: micro-conditioning layouts, request
// combinations the models cannot run, seeds, and what the pipeline manager refuses.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "conditioning/micro_conditioning.h"
#include "inference/planned_pipeline.h"
#include "inference/workers/latents.h"
#include "inference/workers/sdxl_pipeline.h"
#include "schedulers/managers/scheduler_factory.h"
#include "schedulers/managers/scheduler_name_table.h"
#include "support/errors.h"

namespace workers {
namespace {

using testing_support::catch_error;
using testing_support::PlannedPipeline;
using testing_support::PlannedPipelineOptions;

const TorchModelManagers& fixture_models() {
  static const auto models = [] {
    ModelConfig config;
    config.model_roots = {SDXL_FIXTURES_DIR};
    return make_torch_model_managers(config, "cpu", "float32", SDXL_DATA_DIR, std::make_shared<ModelCache>(nullptr));
  }();
  return models;
}

SdxlStage stage(const std::string& name) {
  const auto& models = fixture_models();
  const auto handle = models.loader->open(name, "model");
  SdxlStage s;
  s.unet = *models.unet->unet(handle);
  s.encoders = *models.text_encoders->text_encoders(handle);
  s.scheduler = SchedulerFactory().create("EulerDiscreteScheduler", models.loader->scheduler_config(handle));
  return s;
}

// The options of a planned pipeline over the fixtures' models.
PlannedPipelineOptions fixture_options() {
  PlannedPipelineOptions options;
  options.model.model_roots = {SDXL_FIXTURES_DIR};
  return options;
}

SdxlRun tiny_run() {
  SdxlRun run;
  run.prompts.prompt = "a cat";
  run.width = run.height = 64;
  run.steps = 2;
  run.micro = micro_conditioning(GenerationRequest{}, 64, 64);
  return run;
}

// A 64×64 request on the tiny base model.
GenerationRequest tiny_request(int steps) {
  GenerationRequest r;
  r.model.base = "tiny-sdxl";
  r.width = r.height = 64;
  r.steps = steps;
  return r;
}

TEST(MicroConditioning, SixIdsForTheBaseFiveWithAestheticsForTheRefiner) {
  GenerationRequest r;
  r.original_size = SizePair{96, 80};
  r.crops_coords_top_left = {4, 8};
  r.negative_target_size = SizePair{32, 32};
  r.aesthetic_score = 7.5;
  const auto m = micro_conditioning(r, 64, 48);
  EXPECT_EQ(m.target_size, (SizePair{64, 48}));
  EXPECT_EQ(m.negative_original_size, (SizePair{96, 80}));
  UNetConfig base;
  base.addition_time_embed_dim = 8;
  base.projection_class_embeddings_input_dim = 8 * 6 + 64;
  auto ids = sdxl_time_ids(base, 64, m);
  EXPECT_TRUE(torch::equal(ids.positive, torch::tensor({{96.f, 80.f, 4.f, 8.f, 64.f, 48.f}})));
  EXPECT_TRUE(torch::equal(ids.negative, torch::tensor({{96.f, 80.f, 4.f, 8.f, 32.f, 32.f}})));
  UNetConfig refiner = base;
  refiner.projection_class_embeddings_input_dim = 8 * 5 + 64;
  ids = sdxl_time_ids(refiner, 64, m);
  EXPECT_TRUE(torch::equal(ids.positive, torch::tensor({{96.f, 80.f, 4.f, 8.f, 7.5f}})));
  EXPECT_TRUE(torch::equal(ids.negative, torch::tensor({{96.f, 80.f, 4.f, 8.f, 2.5f}})));
  refiner.projection_class_embeddings_input_dim = 999;
  EXPECT_EQ(catch_error([&] { sdxl_time_ids(refiner, 64, m); }).code, ErrorCode::kModelLoadError);
}

TEST(SdxlPipeline, RefusesCombinationsTheModelsCannotRun) {
  c10::InferenceMode guard;
  auto base = stage("tiny-sdxl");
  auto inpaint = stage("tiny-sdxl-inpaint");
  auto vae = fixture_models().vae->vae(fixture_models().loader->open("tiny-sdxl", "model"));
  auto generator = at::make_generator<at::CPUGeneratorImpl>(1);
  auto run = tiny_run();
  EXPECT_EQ(catch_error([&] { run_sdxl(inpaint, nullptr, *vae, run, generator, nullptr); }).field, "mask_image");
  run.denoising_end = 0.5;
  EXPECT_EQ(catch_error([&] { run_sdxl(base, nullptr, *vae, run, generator, nullptr); }).field, "denoising_end");
  auto refiner = stage("tiny-sdxl-refiner");
  run.init_image = torch::zeros({1, 3, 64, 64});
  run.mask = torch::ones({1, 1, 64, 64});
  EXPECT_EQ(catch_error([&] { run_sdxl(base, &refiner, *vae, run, generator, nullptr); }).field, "model.refiner");
}

TEST(SdxlPipeline, SameSeedSameImageAndProgressCountsEveryModelCall) {
  c10::InferenceMode guard;
  auto vae = fixture_models().vae->vae(fixture_models().loader->open("tiny-sdxl", "model"));
  at::Tensor first;
  for (int i = 0; i < 2; ++i) {
    auto base = stage("tiny-sdxl");
    auto generator = at::make_generator<at::CPUGeneratorImpl>(123);
    std::vector<std::pair<int, int>> steps;
    auto out = run_sdxl(base, nullptr, *vae, tiny_run(), generator, [&](int done, int total) {
      steps.emplace_back(done, total);
    });
    EXPECT_EQ(steps, (std::vector<std::pair<int, int>>{{1, 2}, {2, 2}}));
    if (i == 0) first = out.images;
    else EXPECT_TRUE(torch::equal(first, out.images));
  }
  auto base = stage("tiny-sdxl");
  auto other = at::make_generator<at::CPUGeneratorImpl>(124);
  EXPECT_FALSE(torch::equal(first, run_sdxl(base, nullptr, *vae, tiny_run(), other, nullptr).images));
}

TEST(SdxlPipeline, PromptTwoReachesOnlyTheSecondEncoder) {
  c10::InferenceMode guard;
  auto base = stage("tiny-sdxl");
  auto same = encode_prompts(base.encoders, PromptTexts{"a cat", std::nullopt, std::nullopt, std::nullopt});
  auto split = encode_prompts(base.encoders, PromptTexts{"a cat", std::string("a dog"), std::nullopt, std::nullopt});
  const auto width_1 = base.encoders.text_encoder->config().hidden_size;
  EXPECT_TRUE(torch::equal(same.positive.embeds.narrow(-1, 0, width_1), split.positive.embeds.narrow(-1, 0, width_1)));
  EXPECT_FALSE(torch::equal(same.positive.embeds.narrow(-1, width_1, same.positive.embeds.size(-1) - width_1),
                            split.positive.embeds.narrow(-1, width_1, split.positive.embeds.size(-1) - width_1)));
  EXPECT_FALSE(torch::equal(same.positive.pooled, split.positive.pooled));  // pooled comes from encoder 2
}

TEST(SdxlFamilyPipeline, RefusesUnresolvableAdaptersAndUnreadableImagesWithTheField) {
  PlannedPipeline manager(fixture_options());
  CancellationToken token;
  JobContext context(token, nullptr);
  GenerationRequest r = tiny_request(1);
  r.loras = {LoraSpec{"style", 0.8, true}};  // no LoRA roots configured
  auto e = catch_error([&] { manager.generate(r, context); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "loras[0].name");
  EXPECT_NE(e.message.find("lora_roots"), std::string::npos) << e.message;
  r.loras[0].enabled = false;  // a disabled adapter is not even looked up
  r.controlnets = {ControlNetSpec{"depth", "", "control.png", "", std::nullopt, std::nullopt, 1.0, 0.0, 1.0}};
  e = catch_error([&] { manager.generate(r, context); });
  EXPECT_EQ(e.field, "controlnets[0].type");  // no model configured for the type
  EXPECT_NE(e.message.find("controlnet_models"), std::string::npos) << e.message;
  r.controlnets.clear();
  r.init_image = "input.png";  // no image roots configured
  e = catch_error([&] { manager.generate(r, context); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "init_image");
  r.init_image.clear();
  r.model.base = "tiny-sdxl-refiner";
  EXPECT_EQ(catch_error([&] { manager.generate(r, context); }).field, "model.base");
  r.model.base = "tiny-sdxl";
  token.cancel(ErrorCode::kCancelled);
  EXPECT_EQ(catch_error([&] { manager.generate(r, context); }).code, ErrorCode::kCancelled);
}

TEST(SdxlFamilyPipeline, ProducesEightBitImagesAndMetadata) {
  auto options = fixture_options();
  options.conditioning.image_roots = {std::string(SDXL_FIXTURES_DIR) + "/pipeline-inputs"};
  PlannedPipeline manager(options);
  CancellationToken token;
  std::vector<ProgressUpdate> updates;
  JobContext context(token, [&](const ProgressUpdate& u) { updates.push_back(u); });
  GenerationRequest r;
  r.model.base = "tiny-sdxl";
  r.width = 64;
  r.height = 48;  // the 64×64 init image is resized
  r.steps = 4;
  r.batch_size = 2;
  r.seed = 9;
  r.scheduler = "Euler a";
  r.init_image = "input.png";
  auto result = manager.generate(r, context);
  ASSERT_EQ(result.images.size(), 2u);
  EXPECT_EQ(result.images[0].width, 64);
  EXPECT_EQ(result.images[0].height, 48);
  EXPECT_EQ(result.images[0].pixels.size(), 64u * 48u * 3u);
  EXPECT_EQ(result.metadata["pipeline"], "img2img");
  EXPECT_EQ(result.metadata["strength"], 0.75);
  EXPECT_EQ(result.metadata["scheduler"], "Euler a");
  EXPECT_EQ(result.metadata["seed"], 9);
  // What A1111 and ComfyUI call what ran (the fixture's config: leading spacing), and the batch.
  EXPECT_EQ(result.metadata["sampler"], "Euler a");
  EXPECT_EQ(result.metadata["schedule_type"], "DDIM");
  EXPECT_EQ(result.metadata["comfyui_sampler"], "euler_ancestral");
  EXPECT_EQ(result.metadata["comfyui_scheduler"], "ddim_uniform");
  EXPECT_EQ(result.metadata["batch_size"], 2);
  EXPECT_EQ(result.metadata["model_format"], "diffusers");
  EXPECT_FALSE(result.metadata.contains("model_hash"));  // a folder has no A1111 hash
  EXPECT_EQ(result.metadata["init_image"], "input.png");
  ASSERT_GE(updates.size(), 4u);
  EXPECT_EQ(updates.front().stage, "loading");
  EXPECT_EQ(updates.back().stage, "decoding");
  EXPECT_EQ(updates[updates.size() - 2].step, 3);  // 4 steps · 0.75 strength = 3 model calls
  EXPECT_EQ(updates[updates.size() - 2].total, 3);
}

// A1111's batches: image i is seeded seed + i, so each reproduces alone from its own seed.
TEST(SdxlFamilyPipeline, PerImageSeedsMakeEachImageOfABatchItsOwnSeedsImage) {
  PlannedPipeline manager(fixture_options());
  CancellationToken token;
  std::vector<ProgressUpdate> updates;
  JobContext context(token, [&](const ProgressUpdate& u) { updates.push_back(u); });
  GenerationRequest r = tiny_request(3);
  r.scheduler = "Euler a";  // draws noise at every step too
  r.batch_size = 2;
  r.seed = 41;
  r.batch_seeds = "per_image";
  const auto batch = manager.generate(r, context);
  ASSERT_EQ(batch.images.size(), 2u);
  EXPECT_EQ(batch.metadata["seeds"], nlohmann::json({41, 42}));
  EXPECT_EQ(updates[updates.size() - 2].step, 6);  // both runs' model calls, counted as one job
  EXPECT_EQ(updates[updates.size() - 2].total, 6);
  r.batch_size = 1;
  for (std::uint64_t i = 0; i < 2; ++i) {
    r.seed = 41 + i;
    const auto single = manager.generate(r, context);
    EXPECT_EQ(single.images[0].pixels, batch.images[i].pixels) << "image " << i;
  }
  // The shared mode's second image is not seed 42's image.
  r.batch_size = 2;
  r.seed = 41;
  r.batch_seeds = "shared";
  EXPECT_NE(manager.generate(r, context).images[1].pixels, batch.images[1].pixels);
}

TEST(SdxlFamilyPipeline, ComponentsOfARunningJobAreHeldAgainstEviction) {
  std::uint64_t all = 0;  // what the job's components take together
  {
    PlannedPipeline probe(fixture_options());
    CancellationToken token;
    probe.generate(tiny_request(1), JobContext(token, nullptr));
    for (const auto& e : probe.cache().entries()) all += e.bytes;
  }
  auto options = fixture_options();
  options.model.cache_bytes = all;  // room for the job's components and nothing else
  PlannedPipeline manager(options);
  // An idle component of another model: loading the job's components must evict it, and only it.
  manager.models().unet->unet(manager.models().loader->open("tiny-sdxl-refiner", "model"));
  CancellationToken token;
  std::vector<CacheEntryInfo> during;
  JobContext context(token, [&](const ProgressUpdate& u) {
    if (u.stage == "denoising") during = manager.cache().entries();
  });
  manager.generate(tiny_request(1), context);
  ASSERT_EQ(during.size(), 3u);  // unet, text encoders and VAE all stayed
  for (const auto& e : during) EXPECT_TRUE(e.in_use) << e.key;
}

// A pipeline manager over `models` with a job context for its runs.
struct ManagerUnderTest {
  explicit ManagerUnderTest(PlannedPipelineOptions options) : manager(std::move(options)) {}
  GenerationResult generate(const GenerationRequest& r) { return manager.generate(r, context); }
  PlannedPipeline manager;
  CancellationToken token;
  JobContext context{token, nullptr};
};

TEST(SdxlFamilyPipeline, VaeOverrideDecodesWithTheNamedModelsVae) {
  ManagerUnderTest m(fixture_options());
  GenerationRequest r = tiny_request(2);
  r.seed = 3;
  const auto plain = m.generate(r);
  r.model.vae = "tiny-sdxl-inpaint";  // its vae/ is tiny-sdxl's: the same pixels, through the override path
  const auto overridden = m.generate(r);
  EXPECT_EQ(overridden.metadata["vae"], "tiny-sdxl-inpaint");
  EXPECT_EQ(plain.images[0].pixels, overridden.images[0].pixels);
  r.model.vae = "no-such-vae";
  EXPECT_EQ(catch_error([&] { m.generate(r); }).field, "model.vae");
}

// Its own model managers: the LoRA stacks merged here never reach the other tests' models.
PlannedPipelineOptions adapter_options() {
  auto options = fixture_options();
  options.model.lora_roots = {std::string(SDXL_FIXTURES_DIR) + "/loras"};
  options.model.controlnet_roots = {SDXL_FIXTURES_DIR};
  return options;
}

int max_pixel_difference(const Image& a, const Image& b) {
  int worst = a.pixels.size() == b.pixels.size() ? 0 : 255;
  for (std::size_t i = 0; i < a.pixels.size() && i < b.pixels.size(); ++i) {
    worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  }
  return worst;
}

TEST(SdxlFamilyPipeline, LoraStackChangesTheImageAndIsTakenOutForTheNextRequest) {
  ManagerUnderTest m(adapter_options());
  GenerationRequest r = tiny_request(2);
  r.seed = 5;
  const auto plain = m.generate(r);
  r.loras = {LoraSpec{"tiny_lora_kohya", 0.8, true}};
  const auto adapted = m.generate(r);
  EXPECT_NE(adapted.images[0].pixels, plain.images[0].pixels);
  EXPECT_TRUE(adapted.warnings.empty());
  // hash: A1111's LoRA hash (sha256 of the tensor data after the header, 12 hex digits), checked
  // with Python's hashlib on the fixture.
  EXPECT_EQ(adapted.metadata["loras"],
            nlohmann::json::parse(R"([{"name": "tiny_lora_kohya", "weight": 0.8,
                                       "file": "tiny_lora_kohya.safetensors", "hash": "630f6671895a"}])"));
  // The same adapter in peft naming at weight 1.6 under a global lora_scale of 0.5.
  r.loras = {LoraSpec{"tiny_lora_peft", 1.6, true}, LoraSpec{"tiny_lora_kohya", 3.0, false}};
  r.lora_scale = 0.5;
  const auto peft = m.generate(r);
  EXPECT_LE(max_pixel_difference(peft.images[0], adapted.images[0]), 1);
  r.loras.clear();
  const auto again = m.generate(r);
  EXPECT_EQ(again.images[0].pixels, plain.images[0].pixels);  // unmerged bitwise
  EXPECT_FALSE(again.metadata.contains("loras"));
}

TEST(SdxlFamilyPipeline, ControlNetTypeShorthandRunsTheConfiguredModelOnAPreprocessedImage) {
  auto options = adapter_options();
  options.conditioning.image_roots = {std::string(SDXL_FIXTURES_DIR) + "/pipeline-inputs"};
  options.model.controlnet_models = {{"canny", "tiny-controlnet"}};
  ManagerUnderTest m(options);
  GenerationRequest r = tiny_request(2);
  r.seed = 5;
  const auto plain = m.generate(r);
  // The fixture's control map is OpenCV's Canny 50/150 of input.png: computing it here must give
  // the same image as passing the map itself.
  ControlNetSpec computed{"canny", "", "input.png", "canny", 50.0, 150.0, 0.7, 0.0, 0.8};
  ControlNetSpec given{"", "tiny-controlnet", "control.png", "", std::nullopt, std::nullopt, 0.7, 0.0, 0.8};
  r.controlnets = {computed};
  const auto from_input = m.generate(r);
  r.controlnets = {given};
  const auto from_map = m.generate(r);
  EXPECT_NE(from_map.images[0].pixels, plain.images[0].pixels);
  EXPECT_EQ(from_input.images[0].pixels, from_map.images[0].pixels);
  EXPECT_EQ(from_map.metadata["controlnets"][0]["model"], "tiny-controlnet");
  EXPECT_EQ(from_input.metadata["controlnets"][0]["preprocess"], "canny");
  // Two nets: the residuals add up, so scales 0.3 + 0.4 of one net equal 0.7 of it.
  given.scale = 0.3;
  r.controlnets = {given, given};
  r.controlnets[1].scale = 0.4;
  EXPECT_LE(max_pixel_difference(m.generate(r).images[0], from_map.images[0]), 1);
  // A type whose map needs a network, with no image of its own, is refused with the field.
  r.init_image = "input.png";
  r.controlnets = {ControlNetSpec{"depth", "tiny-controlnet", "", "", std::nullopt, std::nullopt, 1.0, 0.0, 1.0}};
  const auto e = catch_error([&] { m.generate(r); });
  EXPECT_EQ(e.field, "controlnets[0].image");
  EXPECT_NE(e.message.find("neural network"), std::string::npos) << e.message;
  // With a refiner: refused, not silently dropped.
  r.init_image.clear();
  r.controlnets = {given};
  r.model.refiner = "tiny-sdxl-refiner";
  EXPECT_EQ(catch_error([&] { m.generate(r); }).field, "controlnets");
}

// The batch manager's chunks: a batch run one image at a time (a device that holds one) gives
// exactly the images of the whole batch in one run, with a sampler that draws at every step.
TEST(SdxlFamilyPipeline, ABatchRunInChunksGivesTheImagesOfOneRun) {
  auto chunked_options = fixture_options();
  chunked_options.max_batch_chunk = 2;
  ManagerUnderTest whole(fixture_options());
  ManagerUnderTest chunked(chunked_options);
  GenerationRequest r = tiny_request(3);
  r.scheduler = "Euler a";
  r.batch_size = 3;
  r.seed = 17;
  const auto one_run = whole.generate(r);
  ASSERT_EQ(chunked.manager.plan(r).chunks.size(), 2u);  // images 0-1, then 2
  const auto in_chunks = chunked.generate(r);
  ASSERT_EQ(in_chunks.images.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    // The draws are the same; the UNet's batched arithmetic rounds differently per batch size
    // (below 1e-5 in the latents, next test), which can move a pixel by one 8-bit level.
    EXPECT_LE(max_pixel_difference(in_chunks.images[i], one_run.images[i]), 1) << "image " << i;
  }
  EXPECT_NE(in_chunks.images[0].pixels, in_chunks.images[1].pixels);
}

// The denoising worker's draw window: image 2 of a batch of 3, run alone, draws what the batch
// draws (initial noise and every ancestral step's noise) and keeps its own share.
TEST(SdxlPipeline, ADrawWindowRunGivesItsImageOfTheWholeBatch) {
  c10::InferenceMode guard;
  auto vae = fixture_models().vae->vae(fixture_models().loader->open("tiny-sdxl", "model"));
  auto run_with = [&](std::int64_t batch, std::int64_t draw_batch, std::int64_t offset) {
    SdxlStage base = stage("tiny-sdxl");
    base.scheduler = SchedulerFactory().create_named("Euler a", fixture_models().loader->scheduler_config(
                                                                    fixture_models().loader->open("tiny-sdxl", "model")));
    SdxlRun run = tiny_run();
    run.steps = 3;
    run.batch = batch;
    run.noise_window = {offset, draw_batch};
    auto generator = at::make_generator<at::CPUGeneratorImpl>(23);
    return run_sdxl(base, nullptr, *vae, run, generator, nullptr).latents;
  };
  const auto whole = run_with(3, 0, 0);
  const auto third = run_with(1, 3, 2);
  EXPECT_LE((third[0] - whole[2]).abs().max().item<double>(), 1e-5);
  EXPECT_GT((third[0] - whole[1]).abs().max().item<double>(), 1e-2);  // not some other image's
}

}  // namespace
}  // namespace workers

namespace workers {
namespace {

// The hires fix is A1111's second pass: the first pass's latents enlarged (here nearest), then
// img2img from them at hires_strength with a generator seeded as the first pass's, running
// exactly hires_steps denoising steps (steps / strength scheduled).
TEST(SdxlFamilyPipeline, HiresFixIsImg2ImgFromTheEnlargedLatentsWithTheSameSeed) {
  PlannedPipeline manager(fixture_options());
  CancellationToken token;
  std::vector<ProgressUpdate> updates;
  JobContext context(token, [&](const ProgressUpdate& u) { updates.push_back(u); });
  GenerationRequest r = tiny_request(2);
  r.prompt = "a cat";
  r.scheduler = "Euler";
  r.seed = 5;
  r.hires = HiresFix{};
  r.hires->scale = 2;
  r.hires->steps = 3;
  r.hires->strength = 0.5;
  r.hires->upscaler = "Latent (nearest)";
  const auto result = manager.generate(r, context);
  ASSERT_EQ(result.images.size(), 1u);
  EXPECT_EQ(result.images[0].width, 128);
  EXPECT_EQ(result.metadata["hires"]["size"], nlohmann::json({128, 128}));
  EXPECT_EQ(result.metadata["size"], nlohmann::json({64, 64}));
  int hires_steps = 0;
  for (const auto& u : updates) hires_steps += u.stage == "hires" ? 1 : 0;
  EXPECT_EQ(hires_steps, 3);  // one event per model call of the second pass

  c10::InferenceMode inference_mode;
  auto base = stage("tiny-sdxl");
  auto vae = fixture_models().vae->vae(fixture_models().loader->open("tiny-sdxl", "model"));
  SdxlRun first = tiny_run();
  first.decode = false;
  auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto latents = run_sdxl(base, nullptr, *vae, first, generator, nullptr).latents;
  SdxlRun second = tiny_run();
  second.width = second.height = 128;
  second.micro = micro_conditioning(GenerationRequest{}, 128, 128);
  second.steps = 6;  // 3 / 0.5
  second.strength = 0.5;
  second.init_latents = torch::nn::functional::interpolate(
      latents, torch::nn::functional::InterpolateFuncOptions().size(std::vector<std::int64_t>{16, 16}).mode(torch::kNearest));
  auto again = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto expected = to_images(run_sdxl(base, nullptr, *vae, second, again, nullptr).images);
  EXPECT_EQ(result.images[0].pixels, expected[0].pixels);
}

}  // namespace
}  // namespace workers
