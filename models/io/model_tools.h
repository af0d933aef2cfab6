// What the `inspect`, `convert` and `tokenize` commands do, behind a torch-free header so the CLI (interface/)
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

// {"ids": [...], "tokens": [...]} of `text` with tokenizer 1 or 2 of `model` (a diffusers folder,
// or a tokenizer folder with vocab.json). max_length > 0 pads and truncates; 0 gives raw ids with
// BOS/EOS. Throws Error(INVALID_REQUEST / MODEL_NOT_FOUND / MODEL_LOAD_ERROR).
nlohmann::json tokenize_text(const std::string& model, const std::string& tokenizer, const std::string& max_length,
                             const std::string& text);

}  // namespace workers
