// Detects an ESRGAN-family super-resolution network from a state dict's names and shapes, as
// spandrel does (RRDBNet in the original ESRGAN, BSRGAN and BasicSR/Real-ESRGAN layouts, and
// SRVGGNetCompact), and maps the file's keys onto our modules' names. Torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace workers {

enum class UpscalerKind { kEsrgan, kCompact };

struct UpscalerArch {
  UpscalerKind kind = UpscalerKind::kEsrgan;
  std::string name;     // as spandrel reports it: "ESRGAN" or "RealESRGAN Compact"
  int scale = 4;        // of the image: output side = input side · scale
  int in_channels = 3;  // of the image (before any pixel-unshuffle)
  int out_channels = 3;
  int num_feat = 64;
  // RRDBNet only.
  int num_block = 23;
  int num_grow_ch = 32;
  int num_upsample = 2;    // nearest ×2 + conv stages (conv_up1, conv_up2, ...)
  int shuffle_factor = 1;  // 2 or 4 when the input is pixel-unshuffled first (Real-ESRGAN ×2, ×1)
  // SRVGGNetCompact only: body convs between the first and the last.
  int num_conv = 16;

  // (file key, module key) for every tensor of the state dict the network is built from (sorted
  // by file key); keys the detection does not know keep their name, so a strict load names them.
  std::vector<std::pair<std::string, std::string>> keys;
};

using TensorShapes = std::map<std::string, std::vector<std::int64_t>>;

// The architecture of the state dict whose tensors have these names and shapes. Like spandrel,
// a dict nested under params_ema / params / state_dict / ... (flattened with a '.') is unwrapped,
// params_ema first, and a common "module." prefix is dropped. Throws Error(MODEL_LOAD_ERROR)
// naming the first keys found when no supported architecture matches or the shapes disagree.
UpscalerArch detect_upscaler_arch(const TensorShapes& shapes);

}  // namespace workers
