// Full-size SDXL checkpoints in the original (SGM) layout, generated from their published
// architecture: the key names and shapes a model-hub .safetensors has. Used by tests (as sparse
// files: header only, zero pages) and by the loading benchmark (with random fp16 data).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace workers::testing_support {

using ShapeList = std::vector<std::pair<std::string, std::vector<std::int64_t>>>;

// UNet + VAE + CLIP-L + OpenCLIP bigG; unet_in_channels 9 gives the inpainting UNet.
ShapeList sdxl_base_checkpoint_shapes(int unet_in_channels = 4);
ShapeList sdxl_refiner_checkpoint_shapes();  // UNet + VAE + OpenCLIP bigG

// Writes an F16 safetensors file with these shapes. `random` false: a sparse file (no data
// written, reads as zeros); true: every byte written (random values with exponent fields
// 1..max_exponent: below 1.0 by default; 9 keeps them under 1/64, so a full-size network's
// activations stay finite). Returns the file size.
std::uint64_t write_checkpoint(const std::string& path, const ShapeList& shapes, bool random, int max_exponent = 14);

}  // namespace workers::testing_support
