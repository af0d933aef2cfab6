// SingleFileCheckpoint: an original-format SDXL .safetensors (what model hubs distribute) opened
// offline: kind detected from keys and shapes, tensors renamed to diffusers names as zero-copy
// views, and each component's config inferred from tensor shapes (or taken from a diffusers
// folder given as config_from, whose config.json files win).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

#include "models/io/safetensors_file.h"

namespace workers {

enum class CheckpointKind { kSdxlBase, kSdxlRefiner, kSdxlInpaint };
std::string_view to_string(CheckpointKind kind);  // "sdxl-base", "sdxl-refiner", "sdxl-inpaint"

struct ConvertedComponent {
  std::string name;       // unet, vae, text_encoder, text_encoder_2
  nlohmann::json config;  // diffusers/transformers config.json content
  // Config keys the shapes could not determine, filled with SDXL defaults (e.g. norm_num_groups);
  // empty when config_from supplied the component's config.
  std::vector<std::string> assumed;
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // diffusers names
};

struct SingleFileCheckpoint {
  std::string path;
  CheckpointKind kind = CheckpointKind::kSdxlBase;
  std::vector<ConvertedComponent> components;
  std::vector<std::string> unmapped_keys;  // keys no table knows (reported as a warning)
  const ConvertedComponent* find(const std::string& name) const;
  std::shared_ptr<const SafetensorsFile> file;  // keeps the mapping open
};

// Throws Error(MODEL_LOAD_ERROR) naming the file: unreadable, not SDXL (SD 1.x / 2.x said so),
// or a config_from that disagrees with the tensor shapes.
SingleFileCheckpoint load_single_file(const std::string& path, const std::string& config_from = "");

// An SDXL ControlNet in one file: the original layout ("control_model.input_blocks…",
// input_hint_block, zero_convs, middle_block_out; the prefix may be missing) renamed to diffusers
// names, or a diffusers state dict saved as one file. Its config is inferred from the shapes, or
// taken from `config_file` (a ControlNet config.json, checked against the shapes). Throws
// Error(MODEL_LOAD_ERROR) for tensors that are no part of an SDXL ControlNet.
ConvertedComponent load_single_file_controlnet(const SafetensorsFile& file, const std::string& config_file = "");

}  // namespace workers
