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
  std::string parameter;  // e.g. "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight"
};

class LoraTargetIndex {
 public:
  // `weights`: the component's matrix/conv weight names (diffusers/transformers names).
  // UNet spellings: lora_unet_<diffusers path>, lora_unet_<SGM path> (sd-scripts), unet.<path>.
  void add_unet(const std::vector<std::string>& weights);
  // text_encoder: lora_te1_<path>, text_encoder.<path>; text_encoder_2: lora_te2_…, text_encoder_2.….
  void add_text_encoder(const std::string& component, const std::vector<std::string>& weights);

  // nullptr: the name means no weight of this model.
  const LoraTarget* find(const std::string& module_name) const;
  std::size_t size() const { return aliases_.size(); }

 private:
  void add(const std::string& alias, const LoraTarget& target) { aliases_.emplace(alias, target); }
  std::unordered_map<std::string, LoraTarget> aliases_;
};

}  // namespace workers
