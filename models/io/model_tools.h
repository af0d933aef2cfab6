// What the `inspect` and `convert` commands do, behind a torch-free header so the CLI (interface/)
// never compiles against libtorch.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace workers {

// Kind, layout, components (tensors, parameters, dtypes, config, assumed keys) of a diffusers
// folder or single-file checkpoint. Throws Error(MODEL_NOT_FOUND / MODEL_LOAD_ERROR).
nlohmann::json inspect_model(const std::string& path, const std::string& config_from = "");

struct ConvertOptions {
  std::string model;        // single-file .safetensors checkpoint
  std::string output;       // new (or empty) folder for the diffusers layout
  std::string dtype = "fp16";  // fp16, bf16, fp32
  std::string config_from;  // diffusers folder whose config.json files win (also scheduler, tokenizers)
  std::string tokenizers;   // folder holding tokenizer/ and tokenizer_2/
};

// Writes a diffusers folder and returns a summary. Throws Error(INVALID_REQUEST / MODEL_LOAD_ERROR).
nlohmann::json convert_checkpoint(const ConvertOptions& options);

}  // namespace workers
