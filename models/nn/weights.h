// Loads named tensors (a diffusers state dict) into a module by name: every parameter must be
// supplied with its exact shape, every supplied tensor must be used, or the load fails naming them.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace workers {

struct ComponentFiles;

using NamedTensors = std::vector<std::pair<std::string, at::Tensor>>;

// Copies (or, for a CPU tensor already in `dtype`, adopts the mapped view of) each tensor into
// the module's parameters and buffers, converted to dtype/device. `ignored` are names a
// checkpoint may carry that the module does not need (e.g. CLIP's position_ids).
// Throws Error(MODEL_LOAD_ERROR) with `what` (e.g. "tiny-sdxl/unet") and the names at fault.
void load_weights(torch::nn::Module& module, const NamedTensors& tensors, const std::string& what,
                  c10::ScalarType dtype, c10::Device device, const std::vector<std::string>& ignored = {});

// Every tensor of a component's weight files (one file or all shards), as mapped CPU views.
NamedTensors read_component_tensors(const ComponentFiles& component);

// Sum of parameter and buffer bytes.
std::int64_t module_bytes(const torch::nn::Module& module);

}  // namespace workers
