// ComfyUI's API-format workflow ("prompt" PNG chunk) for an asset: the node graph that makes the
// same image in ComfyUI (checkpoint, LoRA loaders, clip skip, text encodes, empty latent or
// loaded + encoded init image, KSampler with the mapped sampler and scheduler, VAE, decode, save),
// so dropping the PNG onto ComfyUI loads its settings.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>

namespace workers {

// From the asset metadata (docs/protocol.md): needs comfyui_sampler and comfyui_scheduler. Only
// text2img and img2img runs of the base model get a workflow: nullopt for inpainting, a refiner or
// ControlNets, whose ComfyUI graphs would not compute what this engine did. ComfyUI draws its own
// noise and sigmas, so the graph reproduces the settings, not the pixels bit for bit.
std::optional<nlohmann::json> comfyui_prompt(const nlohmann::json& metadata);

}  // namespace workers
