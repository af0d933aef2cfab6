#include "inference/workers/lora_merge.h"

#include <set>

#include "models/io/lora_delta.h"
#include "utilities/error.h"

namespace workers {
namespace {

constexpr std::size_t kListedKeys = 5;

// The components' parameters by name, listed once per merge or restore (listing walks the module).
class Parameters {
 public:
  explicit Parameters(const AdaptableModules& modules) : modules_(modules) {}
  at::Tensor operator()(const std::pair<std::string, std::string>& where) {
    auto listed = lists_.find(where.first);
    if (listed == lists_.end()) {
      auto it = modules_.find(where.first);
      if (it == modules_.end() || !it->second)
        throw Error(ErrorCode::kInternalError, "no " + where.first + " to adapt");
      listed = lists_.emplace(where.first, it->second->named_parameters(/*recurse=*/true)).first;
    }
    auto* found = listed->second.find(where.second);
    if (!found)
      throw Error(ErrorCode::kInternalError, where.first + " has no parameter " + where.second);
    return *found;
  }

 private:
  const AdaptableModules& modules_;
  std::map<std::string, torch::OrderedDict<std::string, at::Tensor>> lists_;
};

// Weights are edited in place, in inference mode: models built inside a job hold inference
// tensors, which only inference mode may change, and in-place edits of ordinary parameters are
// allowed there too.
struct WeightEditing {
  c10::InferenceMode inference;
};

}  // namespace

LoraTargetIndex lora_target_index(const AdaptableModules& modules) {
  LoraTargetIndex index;
  for (const auto& [component, module] : modules) {
    if (!module) continue;
    std::vector<std::string> parameters;
    for (const auto& item : module->named_parameters(/*recurse=*/true))
      parameters.push_back(item.key());
    if (component == "unet") {
      index.add_unet(parameters);
    } else {
      index.add_text_encoder(component, parameters);
    }
  }
  return index;
}

LoraPlan plan_lora_stack(const std::vector<WeightedAdapter>& stack, const LoraTargetIndex& index) {
  LoraPlan plan;
  std::map<std::pair<std::string, std::string>, std::size_t> position;
  for (const auto& item : stack) {
    plan.adapters.push_back(item.adapter);
    std::vector<std::string> unmatched = item.adapter->unknown_keys;
    std::size_t matched = 0;
    for (const auto& module : item.adapter->modules) {
      const auto* target = index.find(module.name);
      if (!target ||
          (module.bias && target->bias.empty())) {  // a bias difference for a module without bias
        unmatched.insert(unmatched.end(), module.keys.begin(), module.keys.end());
        continue;
      }
      ++matched;
      if (const auto missing = missing_part(module); !missing.empty()) {
        throw_invalid(item.field, item.name + ": module " + module.name + " has no " + missing +
                                      " (an incomplete adapter file)");
      }
      LoraTarget where = *target;
      if (module.bias) where.parameter = target->bias;
      auto [it, inserted] =
          position.emplace(std::make_pair(where.component, where.parameter), plan.patches.size());
      if (inserted) plan.patches.push_back({where, {}});
      plan.patches[it->second].terms.push_back({&module, item.weight, item.field});
    }
    if (matched == 0) {
      const auto& modules = item.adapter->modules;
      throw_invalid(item.field,
                    item.name + ": none of its " + std::to_string(modules.size()) +
                        " modules is a weight of this model's UNet or text encoders (first: " +
                        (modules.empty() ? std::string("none") : modules.front().name) +
                        "); is it an adapter for another model family?");
    }
    if (!unmatched.empty()) {
      std::string listed;
      for (std::size_t i = 0; i < unmatched.size() && i < kListedKeys; ++i)
        listed += (i ? ", " : "") + unmatched[i];
      plan.warnings.push_back(item.field + " (" + item.name +
                              "): " + std::to_string(unmatched.size()) +
                              " keys match no weight of this model and were ignored: " + listed +
                              (unmatched.size() > kListedKeys ? ", …" : ""));
    }
  }
  return plan;
}

void MergedWeights::put_back(const AdaptableModules& modules) {
  Parameters parameter(modules);
  for (auto& [where, original] : originals_) parameter(where).copy_(original);
}

void MergedWeights::restore(const AdaptableModules& modules) {
  WeightEditing editing;
  put_back(modules);
  originals_.clear();
}

void MergedWeights::merge(const LoraPlan& plan, const AdaptableModules& modules) {
  WeightEditing editing;
  put_back(modules);  // the originals stay: most of them are the next stack's originals too
  std::set<Key> patched;
  try {
    Parameters parameter(modules);
    for (const auto& patch : plan.patches) {
      if (!modules.count(patch.target.component)) continue;  // another object's component
      const Key key{patch.target.component, patch.target.parameter};
      auto weight = parameter(key);
      if (!originals_.count(key)) originals_.emplace(key, weight.detach().clone());
      patched.insert(key);
      // In place in float32; other dtypes accumulate in float32 and are cast back once.
      at::Tensor target = weight.scalar_type() == torch::kFloat ? weight : weight.to(torch::kFloat);
      for (const auto& term : patch.terms)
        add_lora_delta(target, *term.module, term.weight, term.field);
      if (!target.is_same(weight)) weight.copy_(target);
    }
  } catch (...) {
    put_back(modules);  // all or nothing
    throw;
  }
  // Weights the new stack leaves alone are original again: their copies can go.
  for (auto it = originals_.begin(); it != originals_.end();) {
    it = patched.count(it->first) ? std::next(it) : originals_.erase(it);
  }
}

}  // namespace workers
