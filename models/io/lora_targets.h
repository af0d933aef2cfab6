// Which model weight a LoRA module name means. Built forward from the model's own parameter names
// (as ComfyUI does): each weight gets every spelling adapter files use for it, so nothing has to
// parse underscores back into dots. Torch-free.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

namespace workers {

struct LoraTarget {
  std::string component;  // unet, text_encoder, text_encoder_2
  std::string
      parameter;     // e.g. "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight"
  std::string bias;  // the same module's bias parameter ("….to_out.0.bias"); "" when it has none
};

class LoraTargetIndex {
 public:
  // `parameters`: the component's parameter names (diffusers/transformers names); every `.weight`
  // becomes a target, its module's `.bias` (when listed) the target of bias differences.
  // UNet spellings: lora_unet_<diffusers path>, lycoris_<diffusers path> (SimpleTuner),
  // unet.<path>, lora_unet_<SGM path> (sd-scripts), diffusion_model.<SGM path> (ComfyUI), all paths
  // without
  // ".weight" and with "_" for "." where the prefix ends in "_".
  void add_unet(const std::vector<std::string>& parameters);
  // text_encoder: lora_te1_<path>, lora_te_<path>, text_encoder.<path>,
  // text_encoders.clip_l.transformer.<path> (ComfyUI); text_encoder_2: lora_te2_…,
  // text_encoder_2.…, text_encoders.clip_g.transformer.….
  void add_text_encoder(const std::string& component, const std::vector<std::string>& parameters);

  // nullptr: the name means no weight of this model.
  const LoraTarget* find(const std::string& module_name) const;
  std::size_t size() const { return aliases_.size(); }

 private:
  void add(const std::string& alias, const LoraTarget& target) { aliases_.emplace(alias, target); }
  std::unordered_map<std::string, LoraTarget> aliases_;
};

}  // namespace workers
