// The fixture pipelines (tests/fixtures/pipelines.json) run end to end, once through the embed API
// (WorkersInterface::process, the production object graph) and once through `sdxl-workers
// generate`: the 8-bit images they write must equal round(reference · 255) within 1 level per
// channel (the float pipeline is within 1e-3 of the reference, see test_inference's parity).
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "conditioning/workers/input_images.h"
#include "interface/workers_interface.h"
#include "support/tensor_checks.h"

namespace workers {
namespace {

namespace fs = std::filesystem;
using testing_support::fixture;

struct PipelineCase {
  std::string key;                 // the reference in pipelines.safetensors
  nlohmann::json request;          // fields beyond the common ones
  std::vector<std::string> flags;  // the same run as CLI flags
  std::string name;                // request id and file name; empty: the key
  PipelineCase(std::string k, nlohmann::json r, std::vector<std::string> f, std::string n = "")
      : key(std::move(k)), request(std::move(r)), flags(std::move(f)), name(std::move(n)) {}
  std::string id() const { return name.empty() ? key : name; }
};

const std::string kPrompt = "a photo of an astronaut riding a horse on mars";
const std::string kNegative = "blurry, low quality";
const std::string kCabin = "a cozy cabin in the snowy mountains at dusk, 4k";  // the LoRA case's prompt

std::vector<PipelineCase> cases() {
  const std::string input = fixture("pipeline-inputs/input.png"), mask = fixture("pipeline-inputs/mask.png");
  const std::string control = fixture("pipeline-inputs/control.png");
  return {
      {"t2i.euler", {}, {}},
      {"t2i.dpmpp_2m_karras", {{"scheduler", "DPM++ 2M Karras"}}, {"--scheduler", "DPM++ 2M", "--karras"}},
      {"t2i.euler_a", {{"scheduler", "Euler a"}}, {"--scheduler", "Euler a"}},
      {"t2i.batch2",
       {{"batch_size", 2}, {"guidance_rescale", 0.7}, {"original_size", {96, 80}}, {"crops_coords_top_left", {4, 8}}},
       {"--batch", "2", "--guidance-rescale", "0.7", "--original-size", "96,80", "--crop-top-left", "4,8"}},
      {"i2i", {{"init_image", "input.png"}, {"strength", 0.6}, {"steps", 5}},
       {"--init-image", input, "--strength", "0.6", "--steps", "5"}},
      {"inpaint", {{"init_image", "input.png"}, {"mask_image", "mask.png"}, {"strength", 0.8}, {"steps", 5}},
       {"--init-image", input, "--mask", mask, "--strength", "0.8", "--steps", "5"}},
      {"inpaint9", {{"model", "tiny-sdxl-inpaint"}, {"init_image", "input.png"}, {"mask_image", "mask.png"}},
       {"--model", fixture("tiny-sdxl-inpaint"), "--init-image", input, "--mask", mask}},
      {"refiner", {{"model", {{"base", "tiny-sdxl"}, {"refiner", "tiny-sdxl-refiner"}}}, {"denoising_end", 0.7}, {"steps", 6}},
       {"--refiner", fixture("tiny-sdxl-refiner"), "--refiner-switch", "0.7", "--steps", "6"}},
      {"lora", {{"prompt", kCabin}, {"loras", {"tiny_lora_kohya:0.8"}}},
       {"--prompt", kCabin, "--lora", fixture("loras/tiny_lora_kohya.safetensors") + ":0.8"}, "lora_kohya"},
      {"lora", {{"prompt", kCabin}, {"loras", {{{"name", "tiny_lora_peft"}, {"weight", 0.8}}}}},
       {"--prompt", kCabin, "--lora", fixture("loras/tiny_lora_peft.safetensors") + ":0.8"}, "lora_peft"},
      {"controlnet",
       {{"controlnets", {{{"model", "tiny-controlnet"}, {"image", "control.png"}, {"scale", 0.7}, {"end", 0.8}}}}},
       {"--controlnet", fixture("tiny-controlnet"), "--control-image", control, "--control-scale", "0.7",
        "--control-end", "0.8"}},
  };
}

// Largest per-channel difference between the written images and round(reference · 255).
int max_level_difference(const std::vector<std::string>& paths, const std::string& key) {
  testing_support::Reference ref("pipelines.safetensors");
  const auto expected = (ref[key + ".image"] * 255).round().to(torch::kInt);
  EXPECT_EQ(static_cast<std::int64_t>(paths.size()), expected.size(0)) << key;
  int worst = 0;
  for (std::size_t i = 0; i < paths.size() && static_cast<std::int64_t>(i) < expected.size(0); ++i) {
    const Image image = read_image_file(paths[i], 3, "output");
    auto got = torch::from_blob(const_cast<std::uint8_t*>(image.pixels.data()), {image.height, image.width, 3},
                                torch::kByte)
                   .to(torch::kInt);
    EXPECT_EQ(got.sizes(), expected[i].sizes());
    if (got.sizes() != expected[i].sizes()) return 255;
    worst = std::max(worst, (got - expected[i]).abs().max().item<int>());
  }
  return worst;
}

fs::path temp_root(const std::string& name) {
  auto path = fs::path(testing::TempDir()) / (name + "_" + std::to_string(::getpid()));
  fs::create_directories(path);
  return path;
}

TEST(PipelineApiParity, EveryFixturePipelineThroughTheEmbedApi) {
  const auto out = temp_root("api_outputs");
  WorkersConfig config;
  config.model.model_roots = {SDXL_FIXTURES_DIR};
  config.conditioning.image_roots = {fixture("pipeline-inputs")};
  config.model.lora_roots = {fixture("loras")};
  config.model.controlnet_roots = {SDXL_FIXTURES_DIR};
  config.postprocessing.output_root = out.string();
  WorkersInterface engine(config);
  engine.initialize();
  for (const auto& c : cases()) {
    nlohmann::json request = {{"message_type", "inference_request"}, {"request_id", c.id()}, {"model", "tiny-sdxl"},
                              {"prompt", kPrompt}, {"negative_prompt", kNegative}, {"width", 64}, {"height", 64},
                              {"steps", 4}, {"guidance_scale", 5.0}, {"seed", 42}};
    for (auto it = c.request.begin(); it != c.request.end(); ++it) request[it.key()] = it.value();
    const auto response = engine.process(request);
    ASSERT_TRUE(response["success"].get<bool>()) << c.key << ": " << response.dump();
    std::vector<std::string> paths;
    for (const auto& asset : response["data"]["assets"]) paths.push_back(asset["path"]);
    EXPECT_LE(max_level_difference(paths, c.key), 1) << c.key;
    EXPECT_EQ(response["data"]["seed"], 42);
  }
  engine.shutdown();
  fs::remove_all(out);
}

TEST(GenerateCliParity, EveryFixturePipelineThroughSdxlWorkersGenerate) {
  const auto out = temp_root("cli_outputs");
  for (const auto& c : cases()) {
    std::vector<std::string> args = {"generate",       "--model",  fixture("tiny-sdxl"), "--prompt", kPrompt,
                                     "--negative-prompt", kNegative, "--width", "64",    "--height",
                                     "64",             "--steps",  "4",    "--guidance", "5", "--seed", "42",
                                     "--output",       (out / (c.id() + ".png")).string()};
    args.insert(args.end(), c.flags.begin(), c.flags.end());  // later flags win (--model, --steps)
    std::string command = std::string("'") + SDXL_WORKERS_EXE + "'";
    for (const auto& a : args) command += " '" + a + "'";
    command += " > '" + (out / "stdout.txt").string() + "' 2> '" + (out / "stderr.txt").string() + "'";
    const int status = std::system(command.c_str());
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << c.key << ": " << command;
    std::vector<std::string> paths;
    std::ifstream listing(out / "stdout.txt");
    for (std::string line; std::getline(listing, line);) paths.push_back(line);
    const int batch = c.key == "t2i.batch2" ? 2 : 1;
    ASSERT_EQ(paths.size(), static_cast<std::size_t>(batch)) << c.key;
    const std::string last_name = batch == 1 ? c.id() + ".png" : c.id() + "-1.png";
    EXPECT_EQ(fs::path(paths.back()).filename(), last_name);
    EXPECT_LE(max_level_difference(paths, c.key), 1) << c.key;
    std::ifstream err(out / "stderr.txt");
    std::string progress((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    EXPECT_NE(progress.find("denoising"), std::string::npos) << c.key;  // the progress bar
  }
  fs::remove_all(out);
}

TEST(GenerateCliParity, SingleFileCheckpointGivesTheFolderImage) {
  const auto out = temp_root("cli_single");
  const std::string command = std::string("'") + SDXL_WORKERS_EXE + "' generate --model '" +
                              fixture("tiny-sdxl-single-file.safetensors") + "' --config-from '" + fixture("tiny-sdxl") +
                              "' --prompt '" + kPrompt + "' --negative-prompt '" + kNegative +
                              "' --steps 4 --seed 42 --output '" + (out / "single.png").string() + "' > /dev/null 2>&1";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;
  // 64×64 comes from the config's sample_size (8) times the VAE factor, as diffusers defaults it.
  EXPECT_LE(max_level_difference({(out / "single.png").string()}, "t2i.euler"), 1);
  fs::remove_all(out);
}

}  // namespace
}  // namespace workers
