// ModelInstructor over the real torch model managers: load/unload requests routed by component,
// what status lists, the cache budget, and what each manager builds from both checkpoint layouts.
#include "instructors/model_instructor.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "models/io/safetensors_file.h"
#include "models/io/sgm_key_map.h"
#include "models/io/single_file_checkpoint.h"
#include "models/managers/torch_model_managers.h"
#include "models/nn/sdxl_text_encoders.h"
#include "support/errors.h"
#include "utilities/error.h"

namespace workers {
namespace {

namespace fs = std::filesystem;

ModelConfig fixture_roots(std::uint64_t budget = 0) {
  ModelConfig c;
  c.model_roots = {SDXL_FIXTURES_DIR};
  c.cache_bytes = budget;
  return c;
}

ErrorCode code_of(const std::function<void()>& f) { return testing_support::catch_error(f).code; }

// The production model tier over one cache, and the instructor that routes requests to it.
struct Models {
  explicit Models(const ModelConfig& config)
      : memory(make_memory(config.cache_bytes)),
        m(make_torch_model_managers(config, "cpu", "float32", SDXL_DATA_DIR, memory.cache)),
        instructor(m.roles(), memory.memory, config) {}
  MemoryParts memory;
  TorchModelManagers m;
  ModelInstructor instructor;
};

TEST(ModelLoading, LoadsBothLayoutsOnceAndUnloads) {
  Models manager(fixture_roots());
  auto folder = manager.instructor.load({"tiny-sdxl", "base"});
  EXPECT_EQ(folder.layout, "diffusers");
  EXPECT_EQ(folder.kind, "sdxl-base");
  EXPECT_GT(folder.bytes, 1u << 20);
  EXPECT_EQ(manager.instructor.loaded().size(), 3u);  // unet, text encoders, vae
  auto again = manager.instructor.load({"tiny-sdxl", "base"});
  EXPECT_EQ(again.bytes, folder.bytes);  // cached, not loaded twice
  EXPECT_EQ(manager.instructor.loaded().size(), 3u);
  // The tiny checkpoint is not shaped like SDXL 1.0 (8 norm groups): its configs come from the folder.
  auto single = manager.m.loader->open("tiny-sdxl-single-file", "model", "tiny-sdxl");
  EXPECT_EQ(single.layout, ModelLayout::kSingleFile);
  manager.m.unet->unet(single);
  EXPECT_EQ(manager.instructor.loaded().size(), 4u);
  EXPECT_EQ(manager.instructor.loaded().front().layout, "single_file");
  EXPECT_EQ(code_of([&] { manager.m.unet->unet(manager.m.loader->open("tiny-sdxl-single-file", "model")); }),
            ErrorCode::kModelLoadError);  // without them, the shapes contradict SDXL's 32 groups
  EXPECT_TRUE(manager.instructor.unload({"tiny-sdxl", "base"}));
  EXPECT_FALSE(manager.instructor.unload({"tiny-sdxl", "base"}));
  EXPECT_EQ(manager.instructor.loaded().size(), 1u);  // the single file's UNet
}

TEST(ModelLoading, SingleFileComponentsEqualTheFolderOnesWithBundledTokenizers) {
  Models manager(fixture_roots());
  auto folder = manager.m.loader->open("tiny-sdxl", "model");
  auto single = manager.m.loader->open("tiny-sdxl-single-file", "model", "tiny-sdxl");
  auto a = manager.m.unet->unet(folder), b = manager.m.unet->unet(single);
  auto pa = (*a)->named_parameters(), pb = (*b)->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
  auto ta = manager.m.text_encoders->text_encoders(folder), tb = manager.m.text_encoders->text_encoders(single);
  EXPECT_EQ(ta->tokenizer->encode("a photo of a cat", 77), tb->tokenizer->encode("a photo of a cat", 77));
  EXPECT_EQ(ta->tokenizer_2->encode("a cat!", 77), tb->tokenizer_2->encode("a cat!", 77));
  EXPECT_EQ(manager.m.loader->scheduler_config(single)["_class_name"], "EulerDiscreteScheduler");
  EXPECT_EQ(manager.m.loader->scheduler_config(folder)["_class_name"], "EulerDiscreteScheduler");
}

TEST(ModelLoading, KindsRolesAndRefusals) {
  Models manager(fixture_roots());
  EXPECT_EQ(manager.m.loader->open("tiny-sdxl-refiner", "model").kind, ModelKind::kSdxlRefiner);
  EXPECT_FALSE(manager.m.loader->open("tiny-sdxl-refiner", "model").force_zeros_for_empty_prompt);
  EXPECT_EQ(manager.m.loader->open("tiny-sdxl-inpaint", "model").kind, ModelKind::kSdxlInpaint);
  EXPECT_FALSE(manager.m.text_encoders->text_encoders(manager.m.loader->open("tiny-sdxl-refiner", "model"))->text_encoder);
  EXPECT_EQ(code_of([&] { manager.instructor.load({"tiny-sdxl", "lora"}); }), ErrorCode::kInvalidRequest);  // no LoRA roots
  EXPECT_EQ(code_of([&] { manager.instructor.load({"tiny-sdxl", "controlnet"}); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(code_of([&] { manager.instructor.load({"tiny-sdxl", "refiner"}); }), ErrorCode::kInvalidRequest);
  EXPECT_EQ(code_of([&] { manager.instructor.load({"missing-model", "base"}); }), ErrorCode::kModelNotFound);
  EXPECT_EQ(code_of([&] { manager.instructor.load({"../fixtures/tiny-sdxl", "base"}); }), ErrorCode::kInvalidRequest);
}

TEST(ModelLoading, BareVaeFolderLoadsAsAVae) {
  const fs::path root = fs::path(testing::TempDir()) / ("vae_root_" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root);
  fs::copy(std::string(SDXL_FIXTURES_DIR) + "/tiny-sdxl/vae", root / "my-vae");
  ModelConfig config;
  config.model_roots = {root.string()};
  Models manager(config);
  auto vae = manager.m.loader->open_vae("my-vae", "model.vae");
  EXPECT_EQ(vae.kind, ModelKind::kVae);
  EXPECT_TRUE(manager.m.vae->vae(vae));
  EXPECT_EQ(manager.instructor.load({"my-vae", "vae"}).kind, "vae");
  ASSERT_EQ(manager.instructor.loaded().size(), 1u);
  EXPECT_EQ(manager.instructor.loaded()[0].kind, "vae");  // status names what a bare VAE folder is
  EXPECT_EQ(manager.instructor.loaded()[0].layout, "diffusers");
  EXPECT_EQ(testing_support::catch_error([&] { manager.m.unet->unet(vae); }).field, "model.vae");  // the field that named it
  fs::remove_all(root);
}

TEST(ModelLoading, BudgetEvictsIdleComponentsFirstAndRefusesWhatCannotFitBeforeLoading) {
  std::uint64_t all = 0;  // unet + text encoders + VAE, resident
  {
    Models probe(fixture_roots());
    probe.instructor.load({"tiny-sdxl", "base"});
    for (const auto& e : probe.instructor.loaded()) all += e.bytes;
  }
  Models manager(fixture_roots(all - 1));  // the three do not fit together
  auto model = manager.m.loader->open("tiny-sdxl", "model");
  auto unet = manager.m.unet->unet(model);
  auto vae = manager.m.vae->vae(model);
  EXPECT_EQ(manager.instructor.loaded().size(), 2u);
  unet.reset();  // idle now: the oldest, it makes room for the encoders
  auto encoders = manager.m.text_encoders->text_encoders(model);
  auto loaded = manager.instructor.loaded();
  ASSERT_EQ(loaded.size(), 2u);
  EXPECT_EQ(loaded[0].component, "text_encoders");
  EXPECT_EQ(loaded[1].component, "vae");
  // Both held by "a job": the UNet cannot fit beside them and is refused before it is read.
  const auto error = testing_support::catch_error([&] { manager.m.unet->unet(model); });
  EXPECT_EQ(error.code, ErrorCode::kOomError);
  EXPECT_NE(error.message.find("loading unet of"), std::string::npos) << error.message;
  EXPECT_EQ(manager.instructor.loaded().size(), 2u);
  // The same refusal answers a model_load_request.
  EXPECT_EQ(code_of([&] { manager.instructor.load({"tiny-sdxl", "base"}); }), ErrorCode::kOomError);
}

TEST(ModelLoading, CorruptCheckpointIsAModelLoadError) {
  const fs::path root = fs::path(testing::TempDir()) / "corrupt_root";
  fs::create_directories(root);
  std::ofstream(root / "broken.safetensors") << "definitely not safetensors";
  ModelConfig config;
  config.model_roots = {root.string()};
  Models manager(config);
  EXPECT_EQ(code_of([&] { manager.instructor.load({"broken", "base"}); }), ErrorCode::kModelLoadError);
  EXPECT_TRUE(manager.instructor.loaded().empty());
  fs::remove_all(root);
}

// tiny-controlnet written out in the original ControlNet layout (control_model.*), as hubs ship
// SDXL ControlNets, converted here with the SGM tables the other way.
std::string write_original_controlnet(const fs::path& path) {
  const auto source = component_folder_source(std::string(SDXL_FIXTURES_DIR) + "/tiny-controlnet");
  std::vector<std::string> names;
  for (const auto& [name, t] : source.tensors) names.push_back(name);
  const UnetKeyMap sgm(unet_layout_of(names));
  int blocks = 0;
  for (const auto& name : names) blocks += name.rfind("controlnet_cond_embedding.blocks.", 0) == 0 ? 1 : 0;
  blocks /= 2;  // weight and bias
  NamedTensors out;
  for (const auto& [name, tensor] : source.tensors) {
    const auto dot = name.rfind('.');
    const std::string module = name.substr(0, dot), kind = name.substr(dot + 1);
    std::string original;
    if (module == "controlnet_cond_embedding.conv_in") {
      original = "input_hint_block.0";
    } else if (module == "controlnet_cond_embedding.conv_out") {
      original = "input_hint_block." + std::to_string(2 * (blocks + 1));
    } else if (module.rfind("controlnet_cond_embedding.blocks.", 0) == 0) {
      original = "input_hint_block." + std::to_string(2 * (std::stoi(module.substr(33)) + 1));
    } else if (module.rfind("controlnet_down_blocks.", 0) == 0) {
      original = "zero_convs." + module.substr(23) + ".0";
    } else if (module == "controlnet_mid_block") {
      original = "middle_block_out.0";
    } else {
      original = sgm.to_sgm(name).value_or("unmapped." + name);
      out.emplace_back("control_model." + original, tensor);
      continue;
    }
    out.emplace_back("control_model." + original + "." + kind, tensor);
  }
  write_safetensors(path.string(), out);
  return path.string();
}

TEST(ModelLoading, OriginalFormatControlNetFileBuildsTheFolderNetwork) {
  const fs::path root = fs::path(testing::TempDir()) / ("cn_root_" + std::to_string(::getpid()));
  fs::create_directories(root);
  const auto file = write_original_controlnet(root / "tiny-cn-original.safetensors");
  ModelConfig config;
  config.controlnet_roots = {root.string(), SDXL_FIXTURES_DIR};
  Models manager(config);
  auto folder = manager.m.controlnets->controlnet(manager.m.controlnets->open("tiny-controlnet", "controlnets[0].model"));
  const auto single_handle = manager.m.controlnets->open("tiny-cn-original", "controlnets[0].model");
  EXPECT_EQ(single_handle.layout, ModelLayout::kSingleFile);
  // Inferred from the shapes: everything but what shapes cannot tell (SDXL's 64-wide heads and 32
  // norm groups are assumed; the tiny net has 8 groups, so it cannot be built from the file alone).
  const auto inferred = load_single_file_controlnet(*SafetensorsFile::open(file));
  EXPECT_EQ(inferred.config["block_out_channels"], nlohmann::json({16, 32, 32}));
  EXPECT_EQ(inferred.config["conditioning_embedding_out_channels"], nlohmann::json({8, 16, 16, 32}));
  EXPECT_EQ(inferred.config["transformer_layers_per_block"], nlohmann::json({1, 1, 2}));
  EXPECT_EQ(inferred.config["projection_class_embeddings_input_dim"], 64);
  EXPECT_EQ(testing_support::catch_error([&] { manager.m.controlnets->controlnet(single_handle); }).code, ErrorCode::kModelLoadError);
  // With its config.json beside it, the manager builds the folder's network: every tensor by
  // diffusers name, bitwise, and the same residuals.
  fs::copy_file(std::string(SDXL_FIXTURES_DIR) + "/tiny-controlnet/config.json", root / "tiny-cn-original.config.json");
  auto rebuilt = manager.m.controlnets->controlnet(single_handle);
  auto a = (*folder)->named_parameters(), b = (*rebuilt)->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& p : a) EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
  torch::manual_seed(0);
  const auto sample = torch::randn({1, 4, 8, 8}), context = torch::randn({1, 77, 32}), hint = torch::rand({1, 3, 64, 64});
  const auto pooled = torch::randn({1, 16}), ids = torch::tensor({{64.f, 64.f, 0.f, 0.f, 64.f, 64.f}});
  c10::InferenceMode guard;
  const auto t = torch::tensor({500.f});
  const auto x = (*folder)->forward(sample, t, context, hint, 0.7, pooled, ids);
  const auto y = (*rebuilt)->forward(sample, t, context, hint, 0.7, pooled, ids);
  for (std::size_t i = 0; i < x.down.size(); ++i) EXPECT_TRUE(torch::equal(x.down[i], y.down[i])) << i;
  EXPECT_TRUE(torch::equal(x.mid, y.mid));
  // model_load / status / model_unload know both components.
  const auto loaded = manager.instructor.load({"tiny-cn-original", "controlnet"});
  EXPECT_EQ(loaded.kind, "controlnet");
  EXPECT_EQ(loaded.layout, "single_file");
  EXPECT_GT(loaded.bytes, 0u);
  EXPECT_TRUE(manager.instructor.unload({"tiny-cn-original", "controlnet"}));
  fs::remove_all(root);
}

TEST(ModelLoading, LoraFilesLoadIntoTheCacheAndUnload) {
  ModelConfig config;
  config.lora_roots = {std::string(SDXL_FIXTURES_DIR) + "/loras"};
  Models manager(config);
  const auto loaded = manager.instructor.load({"tiny_lora_kohya", "lora"});
  EXPECT_EQ(loaded.kind, "lora");
  EXPECT_GT(loaded.bytes, 70000u);  // the file's fp16 tensors, read
  const auto listed = manager.instructor.loaded();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].component, "lora");
  EXPECT_EQ(listed[0].kind, "lora");
  EXPECT_TRUE(manager.instructor.unload({"tiny_lora_kohya", "lora"}));
  EXPECT_TRUE(manager.instructor.loaded().empty());
  EXPECT_EQ(code_of([&] { manager.instructor.load({"no_such_lora", "lora"}); }), ErrorCode::kModelNotFound);
}

}  // namespace
}  // namespace workers
