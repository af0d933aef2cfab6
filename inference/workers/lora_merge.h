// Merging LoRA stacks into model weights, and taking them out again exactly. A plan matches every
// adapter's modules to the model's weights and biases (unknown keys become a warning, an adapter
// matching nothing an error); MergedWeights applies each term in stack order,
// W ← W + weightᵢ · (Fᵢ(W) − W) (= W + weightᵢ · ΔWᵢ for the additive kinds; OFT, BOFT, GLoRA and
// DoRA read the running W, see lora_delta.h), in float32, cast back to the weight's dtype once,
// and keeps each original tensor, so restoring is bitwise.
#pragma once

#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/io/lora_format.h"
#include "models/io/lora_targets.h"

namespace workers {

// One adapter of a request's stack: its file, its effective weight (the item's weight times the
// request's lora_scale) and the request field it came from ("loras[1]").
struct WeightedAdapter {
  std::shared_ptr<const LoraAdapter> adapter;
  double weight = 1.0;
  std::string field;
  std::string name;  // as the request named it
};

// The adaptable parts of a model by component name: unet, text_encoder, text_encoder_2.
using AdaptableModules = std::map<std::string, torch::nn::Module*>;

// Every UNet / text-encoder weight of `modules` (with its module's bias), under each adapter
// spelling.
LoraTargetIndex lora_target_index(const AdaptableModules& modules);

struct LoraTerm {
  const LoraModule* module = nullptr;
  double weight = 1.0;
  std::string field;
};

struct LoraPatch {
  LoraTarget target;
  std::vector<LoraTerm> terms;  // in stack order
};

struct LoraPlan {
  std::vector<std::shared_ptr<const LoraAdapter>> adapters;  // keeps the terms' modules alive
  std::vector<LoraPatch> patches;
  std::vector<std::string>
      warnings;  // per adapter: keys that matched nothing (the first few, and the count)
};

// Throws Error(INVALID_REQUEST, adapter field) for an adapter none of whose modules is a weight
// of this model.
LoraPlan plan_lora_stack(const std::vector<WeightedAdapter>& stack, const LoraTargetIndex& index);

class MergedWeights {
 public:
  // Restores, then merges the patches of `plan` whose component is in `modules` (in place, keeping
  // a copy of each original). All-or-nothing: a shape error (Error INVALID_REQUEST) leaves every
  // weight original.
  void merge(const LoraPlan& plan, const AdaptableModules& modules);
  // Puts back every original tensor (bitwise).
  void restore(const AdaptableModules& modules);
  std::size_t size() const { return originals_.size(); }

 private:
  using Key = std::pair<std::string, std::string>;  // (component, parameter)
  void put_back(const AdaptableModules& modules);   // originals into the weights; kept
  std::map<Key, at::Tensor> originals_;
};

}  // namespace workers
