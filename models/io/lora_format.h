// LoRA adapter files: every common naming read into one form. Formats: sd-scripts/kohya
// (`lora_unet_<SGM or diffusers path>`, `lora_te_`, `lora_te1_`, `lora_te2_` with
// `.lora_down/.lora_up/.alpha`, LoCon `.lora_mid`), diffusers/peft (`unet.<path>.lora_A/B`, with or
// without `.weight`, adapter-named `lora_A.default.weight`, `text_encoder(_2).`), old diffusers
// attention processors (`…processor.to_q_lora.down`, `….lora.down`), ComfyUI/SimpleTuner
// (`diffusion_model.<SGM path>`, `lycoris_<path>`, `text_encoders.clip_l/clip_g.transformer.`), and
// the LyCORIS module types: LoHa (`hada_w1_a/b`, `hada_w2_a/b`, tucker `hada_t1/t2`), LoKr
// (`lokr_w1`, `lokr_w2` or their `_a/_b` factors, tucker `lokr_t2`), GLoRA (`a1/a2/b1/b2.weight`),
// OFT and BOFT (`oft_blocks`, `rescale`), full differences (`.diff`, `.w_norm`; `.diff_b`,
// `.b_norm` for the bias), and DoRA's magnitude (`dora_scale`, peft's `lora_magnitude_vector`) on
// any of LoRA/LoHa/LoKr/GLoRA. The maths of each kind is in lora_delta.h.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace workers {

enum class LoraKind { kLora, kLoha, kLokr, kGlora, kOft, kBoft, kDiff };

// "LoRA", "LoHa", ... for messages.
const char* lora_kind_name(LoraKind kind);

// One adapted module: its name as the file spells it (after normalising the old diffusers forms,
// e.g. "lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q" or "unet.down_blocks.1.….to_q")
// and its tensors by part name ("lora_down.weight", "hada_w1_a", "lokr_w2", "oft_blocks", "diff",
// "dora_scale", ...).
struct LoraModule {
  std::string name;
  LoraKind kind = LoraKind::kLora;
  std::map<std::string, at::Tensor> parts;
  std::optional<double> alpha;
  std::vector<std::string> keys;  // the file's keys of this module (for messages)
  // Changes the module's bias rather than its weight (`.diff_b` / `.b_norm`, read as a kDiff
  // module of its own with the part "diff").
  bool bias = false;
};

struct LoraAdapter {
  std::string path;
  std::vector<LoraModule> modules;
  std::vector<std::string> unknown_keys;  // keys that are no part of a module this reader knows
  std::uint64_t bytes = 0;
};

// Groups a file's tensors (owned copies, in the file's dtype) into modules. Throws
// Error(INVALID_REQUEST, field) for an alpha that is not one finite number, a module mixing the
// parts of two kinds (e.g. LoRA and LoHa), and DoRA's magnitude on a kind that has no defined
// decomposition (OFT, BOFT, full differences).
LoraAdapter read_lora_file(const std::string& path, const std::string& field);

// The part a module of its kind needs and lacks (e.g. "lora_up.weight"); "" when complete.
std::string missing_part(const LoraModule& module);

}  // namespace workers
