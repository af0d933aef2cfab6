#include "postprocessing/comfyui_workflow.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

#include "postprocessing/infotext.h"

namespace workers {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string file_name(const std::string& reference) {
  auto name = fs::path(reference).lexically_normal();
  if (name.filename().empty()) name = name.parent_path();
  return name.filename().string();
}

class Graph {
 public:
  std::string add(const char* class_type, json inputs) {
    const std::string id = std::to_string(nodes_.size() + 1);
    nodes_[id] = {{"class_type", class_type}, {"inputs", std::move(inputs)}};
    return id;
  }
  static json link(const std::string& id, int output) { return json::array({id, output}); }
  json take() { return std::move(nodes_); }

 private:
  json nodes_ = json::object();
};

}  // namespace

std::optional<json> comfyui_prompt(const json& m) {
  const std::string pipeline = m.value("pipeline", "text2img");
  const bool img2img = pipeline == "img2img";
  if (!m.contains("comfyui_sampler") || !m.contains("comfyui_scheduler") || !m.contains("model"))
    return std::nullopt;
  if ((pipeline != "text2img" && !img2img) || (img2img && !m.contains("init_image")))
    return std::nullopt;
  if (m.contains("refiner") || !m.value("controlnets", json::array()).empty()) return std::nullopt;
  // A second pass or postprocessing would need nodes this graph does not draw: none, not a wrong one.
  if (m.contains("hires") || m.contains("postprocess_upscale") || m.contains("enhance")) return std::nullopt;

  Graph graph;
  // A single-file checkpoint loads from ComfyUI's models/checkpoints; a diffusers folder from
  // models/diffusers (DiffusersLoader, same outputs: MODEL, CLIP, VAE).
  const bool folder = m.value("model_format", "single_file") == "diffusers";
  const std::string loader =
      folder ? graph.add("DiffusersLoader", {{"model_path", file_name(m["model"])}})
             : graph.add("CheckpointLoaderSimple",
                         {{"ckpt_name", m.value("model_file", file_name(m["model"]))}});
  json model = Graph::link(loader, 0), clip = Graph::link(loader, 1), vae = Graph::link(loader, 2);
  for (const auto& lora : m.value("loras", json::array())) {
    const double weight = lora.value("weight", 1.0);
    const std::string id = graph.add(
        "LoraLoader", {{"model", model},
                       {"clip", clip},
                       {"lora_name", lora.value("file", file_name(lora.value("name", "")))},
                       {"strength_model", weight},
                       {"strength_clip", weight}});
    model = Graph::link(id, 0);
    clip = Graph::link(id, 1);
  }
  if (const int clip_skip = a1111_clip_skip(m)) {
    // A1111's "Clip skip N" takes hidden_states[-N]; ComfyUI's stop_at_clip_layer -N is that layer.
    const std::string id =
        graph.add("CLIPSetLastLayer", {{"clip", clip}, {"stop_at_clip_layer", -clip_skip}});
    clip = Graph::link(id, 0);
  }
  const std::string positive =
      graph.add("CLIPTextEncode", {{"text", m.value("prompt", "")}, {"clip", clip}});
  const std::string negative =
      graph.add("CLIPTextEncode", {{"text", m.value("negative_prompt", "")}, {"clip", clip}});
  if (m.contains("vae") && m["vae"].is_string()) {
    vae = Graph::link(
        graph.add("VAELoader", {{"vae_name", m.value("vae_file", file_name(m["vae"]))}}), 0);
  }
  const int width = m.value("width", 1024), height = m.value("height", 1024),
            batch = m.value("batch_size", 1);
  int steps = m.value("steps", 30);
  double denoise = 1.0;
  json latent;
  if (img2img) {
    const std::string image = graph.add("LoadImage", {{"image", file_name(m["init_image"])}});
    // The init image is resized to the output size with Lanczos before encoding, as here.
    const std::string scaled = graph.add("ImageScale", {{"image", Graph::link(image, 0)},
                                                        {"upscale_method", "lanczos"},
                                                        {"width", width},
                                                        {"height", height},
                                                        {"crop", "disabled"}});
    latent =
        Graph::link(graph.add("VAEEncode", {{"pixels", Graph::link(scaled, 0)}, {"vae", vae}}), 0);
    if (batch > 1)
      latent =
          Graph::link(graph.add("RepeatLatentBatch", {{"samples", latent}, {"amount", batch}}), 0);
    // diffusers runs int(steps * strength) of a `steps` schedule; ComfyUI runs `steps` of a
    // schedule of int(steps / denoise): that many steps, with denoise a hair under steps / total
    // so that ComfyUI's division lands on the same total.
    const double strength = m.value("strength", 0.75);
    const int total = steps;
    steps = std::max(1, static_cast<int>(total * strength));
    denoise = std::floor(1e4 * steps / total) / 1e4;
  } else {
    latent = Graph::link(graph.add("EmptyLatentImage",
                                   {{"width", width}, {"height", height}, {"batch_size", batch}}),
                         0);
  }
  const std::string sampler = graph.add("KSampler", {{"model", model},
                                                     {"seed", m.value("seed", json(0))},
                                                     {"steps", steps},
                                                     {"cfg", m.value("guidance_scale", 5.0)},
                                                     {"sampler_name", m["comfyui_sampler"]},
                                                     {"scheduler", m["comfyui_scheduler"]},
                                                     {"positive", Graph::link(positive, 0)},
                                                     {"negative", Graph::link(negative, 0)},
                                                     {"latent_image", latent},
                                                     {"denoise", denoise}});
  const std::string decoded =
      graph.add("VAEDecode", {{"samples", Graph::link(sampler, 0)}, {"vae", vae}});
  graph.add("SaveImage",
            {{"images", Graph::link(decoded, 0)}, {"filename_prefix", "sdxl-workers"}});
  return graph.take();
}

}  // namespace workers
