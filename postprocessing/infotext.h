// A1111's infotext ("prompt\nNegative prompt: ...\nSteps: 30, Sampler: ..., Seed: ...") from
// asset metadata, as A1111 1.9+ writes it, so images open in A1111's PNG Info (and the tools that
// read its format: ComfyUI's loaders, Civitai, exiftool) with their settings.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace workers {

// Reads the asset metadata keys (docs/protocol.md): prompt, negative_prompt, loras [{name, weight,
// hash}], steps, sampler + schedule_type (else scheduler), guidance_scale, seed, width, height,
// batch_size + batch_index, model + model_hash, vae + vae_hash, strength, clip_skip +
// clip_skip_style, guidance_rescale, refiner + refiner_hash, denoising_end, controlnets, version.
std::string a1111_parameters(const nlohmann::json& metadata);

// A model or adapter reference as A1111 names it: the file or folder name, without the extension
// of a weights file (.safetensors, .ckpt, .pt, .bin).
std::string a1111_model_name(const std::string& reference);

// A1111's "Clip skip N" (hidden_states[-N]) for the metadata's clip_skip in its clip_skip_style
// ("diffusers", the default: N - 2; "a1111": N); 0 when the metadata has none.
int a1111_clip_skip(const nlohmann::json& metadata);

}  // namespace workers
