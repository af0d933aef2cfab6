#include "postprocessing/comfyui_workflow.h"

#include <gtest/gtest.h>

#include <set>

#include "postprocessing/asset_writer.h"
#include "postprocessing/image_codec.h"

namespace workers {
namespace {

// The inputs ComfyUI's nodes.py declares for each node class this engine writes (required ones).
const std::map<std::string, std::set<std::string>> kNodeInputs = {
    {"CheckpointLoaderSimple", {"ckpt_name"}},
    {"DiffusersLoader", {"model_path"}},
    {"LoraLoader", {"model", "clip", "lora_name", "strength_model", "strength_clip"}},
    {"CLIPSetLastLayer", {"clip", "stop_at_clip_layer"}},
    {"CLIPTextEncode", {"text", "clip"}},
    {"VAELoader", {"vae_name"}},
    {"EmptyLatentImage", {"width", "height", "batch_size"}},
    {"LoadImage", {"image"}},
    {"ImageScale", {"image", "upscale_method", "width", "height", "crop"}},
    {"VAEEncode", {"pixels", "vae"}},
    {"RepeatLatentBatch", {"samples", "amount"}},
    {"KSampler",
     {"model", "seed", "steps", "cfg", "sampler_name", "scheduler", "positive", "negative",
      "latent_image", "denoise"}},
    {"VAEDecode", {"samples", "vae"}},
    {"SaveImage", {"images", "filename_prefix"}},
};
// Output slots of each class (ComfyUI's RETURN_TYPES), for checking links.
const std::map<std::string, std::vector<std::string>> kOutputs = {
    {"CheckpointLoaderSimple", {"MODEL", "CLIP", "VAE"}},
    {"DiffusersLoader", {"MODEL", "CLIP", "VAE"}},
    {"LoraLoader", {"MODEL", "CLIP"}},
    {"CLIPSetLastLayer", {"CLIP"}},
    {"CLIPTextEncode", {"CONDITIONING"}},
    {"VAELoader", {"VAE"}},
    {"EmptyLatentImage", {"LATENT"}},
    {"LoadImage", {"IMAGE", "MASK"}},
    {"ImageScale", {"IMAGE"}},
    {"VAEEncode", {"LATENT"}},
    {"RepeatLatentBatch", {"LATENT"}},
    {"KSampler", {"LATENT"}},
    {"VAEDecode", {"IMAGE"}},
    {"SaveImage", {}},
};
// What each linked input must receive.
const std::map<std::string, std::string> kInputTypes = {
    {"model", "MODEL"},
    {"clip", "CLIP"},
    {"vae", "VAE"},
    {"positive", "CONDITIONING"},
    {"negative", "CONDITIONING"},
    {"latent_image", "LATENT"},
    {"samples", "LATENT"},
    {"pixels", "IMAGE"},
    {"images", "IMAGE"},
    {"image", "IMAGE"},
};

nlohmann::json text2img_metadata() {
  return {{"prompt", "a lighthouse"},
          {"negative_prompt", "blurry"},
          {"steps", 30},
          {"guidance_scale", 6.5},
          {"seed", 123},
          {"width", 1024},
          {"height", 768},
          {"batch_size", 2},
          {"pipeline", "text2img"},
          {"comfyui_sampler", "dpmpp_2m"},
          {"comfyui_scheduler", "karras"},
          {"model", "sdxl-base"},
          {"model_format", "single_file"},
          {"model_file", "sd_xl_base_1.0.safetensors"}};
}

// Every node is a known class with exactly ComfyUI's inputs, every link names an existing node's
// output of the type the input takes; returns the nodes by class.
std::multimap<std::string, nlohmann::json> check_graph(const nlohmann::json& graph) {
  std::multimap<std::string, nlohmann::json> by_class;
  for (auto it = graph.begin(); it != graph.end(); ++it) {
    const std::string cls = it.value().at("class_type");
    EXPECT_TRUE(kNodeInputs.count(cls)) << cls;
    if (!kNodeInputs.count(cls)) continue;
    std::set<std::string> inputs;
    for (auto in = it.value().at("inputs").begin(); in != it.value().at("inputs").end(); ++in) {
      inputs.insert(in.key());
      if (!in.value().is_array()) continue;  // a widget value
      const std::string source = in.value()[0];
      const int slot = in.value()[1];
      EXPECT_TRUE(graph.contains(source)) << cls << "." << in.key();
      if (!graph.contains(source)) continue;
      const auto& outputs = kOutputs.at(graph[source]["class_type"]);
      EXPECT_LT(slot, static_cast<int>(outputs.size()));
      if (slot >= static_cast<int>(outputs.size())) continue;
      EXPECT_EQ(outputs[slot], kInputTypes.at(in.key())) << cls << "." << in.key();
    }
    EXPECT_EQ(inputs, kNodeInputs.at(cls)) << cls;
    by_class.emplace(cls, it.value()["inputs"]);
  }
  return by_class;
}

TEST(ComfyUiWorkflow, Text2ImgGraphHasComfyUisNodesAndInputs) {
  auto m = text2img_metadata();
  m["loras"] = {{{"name", "film_grain"}, {"file", "film_grain.safetensors"}, {"weight", 0.6}},
                {{"name", "detail"}, {"file", "detail.safetensors"}, {"weight", 1.0}}};
  m["clip_skip"] = 2;
  m["clip_skip_style"] = "a1111";
  m["vae"] = "sdxl-vae";
  m["vae_file"] = "sdxl_vae.safetensors";
  const auto graph = comfyui_prompt(m);
  ASSERT_TRUE(graph.has_value());
  const auto nodes = check_graph(*graph);
  EXPECT_EQ(nodes.find("CheckpointLoaderSimple")->second["ckpt_name"],
            "sd_xl_base_1.0.safetensors");
  EXPECT_EQ(nodes.count("LoraLoader"), 2u);
  EXPECT_EQ(nodes.find("LoraLoader")->second["lora_name"], "film_grain.safetensors");
  EXPECT_EQ(nodes.find("LoraLoader")->second["strength_clip"], 0.6);
  EXPECT_EQ(nodes.find("CLIPSetLastLayer")->second["stop_at_clip_layer"], -2);
  EXPECT_EQ(nodes.find("VAELoader")->second["vae_name"], "sdxl_vae.safetensors");
  const auto& latent = nodes.find("EmptyLatentImage")->second;
  EXPECT_EQ(latent["width"], 1024);
  EXPECT_EQ(latent["batch_size"], 2);
  const auto& sampler = nodes.find("KSampler")->second;
  EXPECT_EQ(sampler["seed"], 123);
  EXPECT_EQ(sampler["steps"], 30);
  EXPECT_EQ(sampler["cfg"], 6.5);
  EXPECT_EQ(sampler["sampler_name"], "dpmpp_2m");
  EXPECT_EQ(sampler["scheduler"], "karras");
  EXPECT_EQ(sampler["denoise"], 1.0);
  // The sampler's model comes through both LoRAs; the decode uses the override VAE.
  EXPECT_EQ((*graph)[sampler["model"][0].get<std::string>()]["class_type"], "LoraLoader");
  const auto& decode = nodes.find("VAEDecode")->second;
  EXPECT_EQ((*graph)[decode["vae"][0].get<std::string>()]["class_type"], "VAELoader");
  std::set<std::string> texts;
  for (auto [it, end] = nodes.equal_range("CLIPTextEncode"); it != end; ++it)
    texts.insert(it->second["text"]);
  EXPECT_EQ(texts, (std::set<std::string>{"a lighthouse", "blurry"}));
  EXPECT_EQ(nodes.count("SaveImage"), 1u);
}

TEST(ComfyUiWorkflow, Img2ImgRunsTheSameStepsOfTheSameSchedule) {
  auto m = text2img_metadata();
  m["pipeline"] = "img2img";
  m["init_image"] = "inputs/photo.png";
  m["strength"] = 0.75;
  m["model_format"] = "diffusers";
  const auto graph = comfyui_prompt(m);
  ASSERT_TRUE(graph.has_value());
  const auto nodes = check_graph(*graph);
  EXPECT_EQ(nodes.find("DiffusersLoader")->second["model_path"], "sdxl-base");
  EXPECT_EQ(nodes.find("LoadImage")->second["image"], "photo.png");
  EXPECT_EQ(nodes.find("RepeatLatentBatch")->second["amount"], 2);
  const auto& sampler = nodes.find("KSampler")->second;
  // diffusers runs int(30 * 0.75) = 22 steps of a 30-step schedule; ComfyUI's int(22 / denoise)
  // = 30.
  EXPECT_EQ(sampler["steps"], 22);
  const double denoise = sampler["denoise"];
  EXPECT_EQ(static_cast<int>(22 / denoise), 30);
  EXPECT_EQ(nodes.count("EmptyLatentImage"), 0u);
}

TEST(ComfyUiWorkflow, NoGraphWhereComfyUiWouldComputeSomethingElse) {
  auto inpaint = text2img_metadata();
  inpaint["pipeline"] = "inpaint";
  EXPECT_FALSE(comfyui_prompt(inpaint).has_value());
  auto refiner = text2img_metadata();
  refiner["refiner"] = "sdxl-refiner";
  EXPECT_FALSE(comfyui_prompt(refiner).has_value());
  auto control = text2img_metadata();
  control["controlnets"] = {{{"model", "canny"}}};
  EXPECT_FALSE(comfyui_prompt(control).has_value());
  auto unlabelled = text2img_metadata();
  unlabelled.erase("comfyui_sampler");
  EXPECT_FALSE(comfyui_prompt(unlabelled).has_value());
}

TEST(ComfyUiWorkflow, PngCarriesThePromptChunkAsJsonAndJpegCarriesParameters) {
  AssetOptions options;
  options.write_file = false;
  options.return_base64 = false;
  auto m = text2img_metadata();
  m["prompt"] = "café";  // non-ASCII stays a tEXt chunk through JSON escapes
  const Image image{16, 8, 3, std::vector<std::uint8_t>(16 * 8 * 3, 77)};
  options.return_base64 = true;
  const auto png_assets = AssetWriter(testing::TempDir()).write({image}, m, options);
  std::string png;
  {
    // base64 back to bytes
    const std::string b64 = png_assets[0]["base64"];
    const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : b64) {
      if (c == '=') break;
      acc = (acc << 6) | static_cast<std::uint32_t>(alphabet.find(c));
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        png.push_back(static_cast<char>((acc >> bits) & 0xFF));
      }
    }
  }
  std::string prompt_chunk;
  for (const auto& [key, text] : png_text_chunks(png)) {
    if (key == "prompt") prompt_chunk = text;
  }
  ASSERT_FALSE(prompt_chunk.empty());
  const auto parsed = nlohmann::json::parse(prompt_chunk);  // valid JSON
  check_graph(parsed);
  EXPECT_EQ(embedded_parameters(png).value_or("").substr(0, 5), "café");
}

}  // namespace
}  // namespace workers
