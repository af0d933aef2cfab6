#include "models/nn/weights.h"

#include <algorithm>
#include <map>

#include "models/io/diffusers_folder.h"
#include "models/io/mapped_file.h"
#include "models/io/safetensors_file.h"
#include "utilities/error.h"

namespace workers {
namespace {

std::string first_names(const std::vector<std::string>& names, std::size_t limit = 5) {
  std::string out;
  for (std::size_t i = 0; i < names.size() && i < limit; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > limit) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

}  // namespace

void load_weights(torch::nn::Module& module, const NamedTensors& tensors, const std::string& what,
                  c10::ScalarType dtype, c10::Device device, const std::vector<std::string>& ignored) {
  std::map<std::string, at::Tensor> targets;
  for (const auto& p : module.named_parameters(true)) targets.emplace(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) targets.emplace(b.key(), b.value());

  std::vector<std::string> unexpected, mismatched;
  std::map<std::string, const at::Tensor*> sources;
  for (const auto& [name, tensor] : tensors) {
    auto it = targets.find(name);
    if (it == targets.end()) {
      if (std::find(ignored.begin(), ignored.end(), name) == ignored.end()) unexpected.push_back(name);
      continue;
    }
    if (it->second.sizes() != tensor.sizes()) {
      mismatched.push_back(name + " " + c10::str(tensor.sizes()) + " (model expects " + c10::str(it->second.sizes()) + ")");
      continue;
    }
    sources[name] = &tensor;
  }
  std::vector<std::string> missing;
  for (const auto& [name, target] : targets) {
    if (!sources.count(name)) missing.push_back(name);
  }
  if (!mismatched.empty()) {
    throw Error(ErrorCode::kModelLoadError,
                what + ": tensor shapes do not match the config: " + first_names(mismatched, 3));
  }
  if (!missing.empty() || !unexpected.empty()) {
    std::string message = what + ": weights do not match the config.";
    if (!missing.empty()) message += " Missing: " + first_names(missing) + ".";
    if (!unexpected.empty()) message += " Unexpected: " + first_names(unexpected) + ".";
    throw Error(ErrorCode::kModelLoadError, message);
  }

  torch::NoGradGuard no_grad;
  for (auto& [name, target] : targets) {
    const auto& source = *sources.at(name);
    const bool adopt = source.scalar_type() == dtype && source.device() == device && source.is_contiguous();
    // Adopting the mapped view skips a copy; the private mapping turns later in-place edits
    // (LoRA merges) into page copies, never writes to the file.
    if (adopt) {
      target.set_data(source);
      target.set_requires_grad(false);
      continue;
    }
    if (target.scalar_type() == dtype && target.device() == device && target.is_contiguous()) {
      target.copy_(source);  // converts into the memory construction already touched: no second buffer
      // (a lean placeholder of a streamed network is not contiguous: it takes the branch below)
    } else {
      target.set_data(source.to(device, dtype).contiguous());
    }
    target.set_requires_grad(false);
    // Converted: the file's pages it was read from are not needed any more (a full-size fp16
    // UNet would otherwise add its 5 GB of mapped pages to the peak resident set while loading).
    if (source.device().is_cpu()) {
      MappedFile::release_pages(source.data_ptr(), static_cast<std::uint64_t>(source.numel()) * source.element_size());
    }
  }
}

NamedTensors read_component_tensors(const ComponentFiles& component) {
  NamedTensors out;
  for (const auto& path : component.weight_files) {
    auto file = SafetensorsFile::open(path);
    for (const auto& name : file->names()) out.emplace_back(name, file->tensor(name));
  }
  return out;
}

std::int64_t module_bytes(const torch::nn::Module& module) {
  std::int64_t bytes = 0;
  for (const auto& p : module.parameters(true)) bytes += p.numel() * static_cast<std::int64_t>(p.element_size());
  for (const auto& b : module.buffers(true)) bytes += b.numel() * static_cast<std::int64_t>(b.element_size());
  return bytes;
}

}  // namespace workers
