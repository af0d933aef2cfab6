// LoRA adapter files: every common naming read into one form, and the weight delta each module
// adds. Formats: sd-scripts/kohya (`lora_unet_<SGM or diffusers path>`, `lora_te1_`, `lora_te2_`
// with `.lora_down/.lora_up/.alpha`, LoCon `.lora_mid`), diffusers/peft (`unet.<path>.lora_A/B`,
// `text_encoder(_2).`), old diffusers attention processors (`…processor.to_q_lora.down`,
// `….lora.down`), LyCORIS LoHa (`hada_w1_a/b`, `hada_w2_a/b`, tucker `hada_t1/t2`) and LoKr
// (`lokr_w1`, `lokr_w2` or their `_a/_b` factors, tucker `lokr_t2`).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

namespace workers {

enum class LoraKind { kLora, kLoha, kLokr };

// One adapted module: its name as the file spells it (after normalising the old diffusers forms,
// e.g. "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q" or "unet.down_blocks.1.….to_q")
// and its tensors by part name ("lora_down.weight", "hada_w1_a", "lokr_w2", ...).
struct LoraModule {
  std::string name;
  LoraKind kind = LoraKind::kLora;
  std::map<std::string, at::Tensor> parts;
  std::optional<double> alpha;
  std::vector<std::string> keys;  // the file's keys of this module (for messages)
};

struct LoraAdapter {
  std::string path;
  std::vector<LoraModule> modules;
  std::vector<std::string> unknown_keys;  // keys that are no part of a module this reader knows
  std::uint64_t bytes = 0;
};

// Groups a file's tensors (owned copies, in the file's dtype) into modules. Throws
// Error(INVALID_REQUEST, field) for an adapter this engine cannot apply faithfully (DoRA's
// `dora_scale` / `lora_magnitude_vector`).
LoraAdapter read_lora_file(const std::string& path, const std::string& field);

// The part a module of its kind needs and lacks (e.g. "lora_up.weight"); "" when complete.
std::string missing_part(const LoraModule& module);

// The module's ΔW as float32, shaped like the target weight `shape`, with its own alpha/rank
// scale applied (not the user's weight): LoRA up·down (through lora_mid when present), LoHa
// (w1a·w1b) ⊙ (w2a·w2b), LoKr kron(w1, w2). Computed on `device`. Throws Error(INVALID_REQUEST,
// field) when the module's shapes cannot make a ΔW of `shape` (a LoRA for another model).
at::Tensor lora_delta(const LoraModule& module, c10::IntArrayRef shape, c10::Device device, const std::string& field);

// target += weight · ΔW in place, for a float32 `target` shaped like the weight. A plain LoRA
// (no mid) goes through one addmm_ (no ΔW-sized temporary); the others add lora_delta. Same
// errors as lora_delta.
void add_lora_delta(at::Tensor& target, const LoraModule& module, double weight, const std::string& field);

}  // namespace workers
