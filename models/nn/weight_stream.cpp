#include "models/nn/weight_stream.h"

#include <malloc.h>

#include <atomic>
#include <map>
#include <shared_mutex>
#include <unordered_map>

#include "models/io/mapped_file.h"
#include "models/nn/autoencoder_kl.h"
#include "models/nn/clip_text_model.h"
#include "models/nn/layers.h"

namespace workers {
namespace {

struct Registry {
  std::shared_mutex mutex;
  std::unordered_map<const torch::nn::Module*, std::pair<WeightStream*, std::size_t>> units;
  std::atomic<int> streams{0};  // the fast path: nothing to look up while no network is streamed
};
Registry& registry() {
  static Registry r;
  return r;
}

// The modules that own their parameters' residency (see the header).
bool is_unit(const torch::nn::Module& m) {
  return dynamic_cast<const ResnetBlock2DImpl*>(&m) || dynamic_cast<const Downsample2DImpl*>(&m) ||
         dynamic_cast<const Upsample2DImpl*>(&m) || dynamic_cast<const AttentionImpl*>(&m) ||
         dynamic_cast<const FeedForwardImpl*>(&m) || dynamic_cast<const BasicTransformerBlockImpl*>(&m) ||
         dynamic_cast<const Transformer2DModelImpl*>(&m) || dynamic_cast<const ClipEncoderLayerImpl*>(&m);
}

std::uint64_t nbytes(const at::Tensor& t) { return static_cast<std::uint64_t>(t.numel()) * t.element_size(); }

void release(const at::Tensor& parked) {
  if (parked.device().is_cpu()) MappedFile::release_pages(parked.data_ptr(), nbytes(parked));
}

}  // namespace

WeightStream::WeightStream(torch::nn::Module& root, Placement compute, bool pin)
    : root_(&root), compute_(compute), pinned_(pin) {
  torch::NoGradGuard no_grad;
  units_.push_back({&root, {}, 0});
  std::map<std::string, std::size_t> unit_paths;  // module path -> unit index
  for (const auto& item : root.named_modules("", /*include_self=*/false)) {
    if (!is_unit(*item.value())) continue;
    unit_paths[item.key()] = units_.size();
    units_.push_back({item.value().get(), {}, 0});
  }
  auto owner = [&](std::string path) -> std::size_t {
    for (auto dot = path.rfind('.'); dot != std::string::npos; dot = path.rfind('.')) {
      path.resize(dot);
      if (auto it = unit_paths.find(path); it != unit_paths.end()) return it->second;
    }
    return 0;
  };
  auto add = [&](const std::string& name, const at::Tensor& tensor) {
    Slot slot{tensor, tensor.detach(), tensor.is_floating_point()};
    if (pin && slot.convert && !slot.parked.is_pinned()) slot.parked = slot.parked.pin_memory();
    if (!MappedFile::is_mapped(slot.parked.data_ptr(), nbytes(slot.parked))) resting_bytes_ += nbytes(slot.parked);
    if (slot.convert) slot.target.set_data(slot.parked);
    units_[owner(name)].slots.push_back(std::move(slot));
  };
  for (const auto& p : root.named_parameters(true)) add(p.key(), p.value());
  for (const auto& b : root.named_buffers(true)) add(b.key(), b.value());
  for (const auto& unit : units_) {
    for (const auto& slot : unit.slots) {
      if (slot.convert) release(slot.parked);  // whatever loading touched
    }
  }
  auto& r = registry();
  std::unique_lock<std::shared_mutex> lock(r.mutex);
  for (std::size_t i = 0; i < units_.size(); ++i) r.units[units_[i].module] = {this, i};
  ++r.streams;
}

WeightStream::~WeightStream() {
  auto& r = registry();
  std::unique_lock<std::shared_mutex> lock(r.mutex);
  for (const auto& unit : units_) r.units.erase(unit.module);
  --r.streams;
}

std::uint64_t WeightStream::largest_unit_bytes() const {
  std::uint64_t largest = 0;
  const auto element = c10::elementSize(compute_.dtype);
  for (const auto& unit : units_) {
    std::uint64_t bytes = 0;
    for (const auto& slot : unit.slots) bytes += slot.convert ? slot.parked.numel() * element : nbytes(slot.parked);
    largest = std::max(largest, bytes);
  }
  return largest;
}

std::uint64_t WeightStream::compute_bytes() const {
  std::uint64_t bytes = 0;
  const auto element = c10::elementSize(compute_.dtype);
  for (const auto& unit : units_) {
    for (const auto& slot : unit.slots) bytes += slot.convert ? slot.parked.numel() * element : nbytes(slot.parked);
  }
  return bytes;
}

void WeightStream::materialize(Unit& unit) {
  torch::NoGradGuard no_grad;
  try {
    for (auto& slot : unit.slots) {
      if (!slot.convert) continue;
      const bool same = slot.parked.scalar_type() == compute_.dtype && slot.parked.device() == compute_.device;
      slot.target.set_data(same ? slot.parked : slot.parked.to(compute_.device, compute_.dtype, /*non_blocking=*/pinned_));
      if (!same) release(slot.parked);  // converted: the file's pages are not needed meanwhile
    }
  } catch (...) {
    park(unit);  // an allocation failed half-way: nothing stays converted
    throw;
  }
}

void WeightStream::park(Unit& unit) {
  torch::NoGradGuard no_grad;
  for (auto& slot : unit.slots) {
    if (!slot.convert) continue;
    slot.target.set_data(slot.parked);
    release(slot.parked);
  }
}

void WeightStream::enter(std::size_t index) {
  std::lock_guard<std::mutex> lock(mutex_);
  Unit& unit = units_[index];
  if (unit.users == 0) materialize(unit);
  ++unit.users;
}

void WeightStream::leave(std::size_t index) {
  std::lock_guard<std::mutex> lock(mutex_);
  Unit& unit = units_[index];
  if (--unit.users == 0) park(unit);
#ifdef __GLIBC__
  // The whole network is parked again (its forward, or a Hold, ended): give the freed weights
  // back to the system. glibc keeps freed blocks under its mmap threshold (32 MB) in the heap,
  // where fragmentation would keep gigabytes of a parked text encoder resident beside the UNet.
  if (index == 0 && unit.users == 0) ::malloc_trim(0);
#endif
}

WeightStream::Hold::Hold(WeightStream* stream) : stream_(stream) {
  if (!stream_) return;
  std::size_t entered = 0;
  try {
    for (; entered < stream_->units_.size(); ++entered) stream_->enter(entered);
  } catch (...) {
    while (entered > 0) stream_->leave(--entered);
    throw;
  }
}

WeightStream::Hold& WeightStream::Hold::operator=(Hold&& other) noexcept {
  if (this != &other) {
    this->~Hold();
    stream_ = other.stream_;
    other.stream_ = nullptr;
  }
  return *this;
}

WeightStream::Hold::~Hold() {
  if (!stream_) return;
  for (std::size_t i = stream_->units_.size(); i > 0; --i) stream_->leave(i - 1);
  stream_ = nullptr;
}

WeightStream::Hold WeightStream::hold(const torch::nn::Module& root) {
  std::size_t unit = 0;
  WeightStream* stream = find(&root, &unit);
  return Hold(stream && unit == 0 ? stream : nullptr);
}

WeightStream* WeightStream::find(const torch::nn::Module* module, std::size_t* unit) {
  auto& r = registry();
  if (r.streams.load(std::memory_order_relaxed) == 0) return nullptr;
  std::shared_lock<std::shared_mutex> lock(r.mutex);
  auto it = r.units.find(module);
  if (it == r.units.end()) return nullptr;
  *unit = it->second.second;
  return it->second.first;
}

StreamScope::StreamScope(const torch::nn::Module* module) {
  std::size_t unit = 0;
  WeightStream* stream = WeightStream::find(module, &unit);
  if (!stream) return;
  stream->enter(unit);
  stream_ = stream;
  unit_ = unit;
}

StreamScope::~StreamScope() {
  if (stream_) stream_->leave(unit_);
}

at::TensorOptions compute_options(const torch::nn::Module& network) {
  std::size_t unit = 0;
  if (const WeightStream* stream = WeightStream::find(&network, &unit); stream && unit == 0) {
    return at::TensorOptions().dtype(stream->compute().dtype).device(stream->compute().device);
  }
  return network.parameters().front().options();
}

namespace {
thread_local bool lean_construction = false;
}

LeanConstruction::LeanConstruction() : previous_(lean_construction) { lean_construction = true; }
LeanConstruction::~LeanConstruction() { lean_construction = previous_; }

void shrink_if_lean(torch::nn::Module& module) {
  if (!lean_construction) return;
  torch::NoGradGuard no_grad;
  auto shrink = [](at::Tensor t) {
    if (t.numel() > 1) t.set_data(torch::zeros({1}, t.options()).expand(t.sizes()));
  };
  for (auto& p : module.parameters(true)) shrink(p);
  for (auto& b : module.buffers(true)) shrink(b);
#ifdef __GLIBC__
  // The unit's constructor allocated (and initialised) its weights before they were dropped here;
  // glibc keeps such blocks in its heap, where a network's worth would pile up while building.
  ::malloc_trim(0);
#endif
}

c10::ScalarType stored_dtype(const ComponentSource& source) {
  std::map<c10::ScalarType, std::uint64_t> counts;
  for (const auto& [name, tensor] : source.tensors) {
    if (tensor.is_floating_point()) counts[tensor.scalar_type()] += static_cast<std::uint64_t>(tensor.numel());
  }
  c10::ScalarType best = c10::kFloat;
  std::uint64_t most = 0;
  for (const auto& [dtype, count] : counts) {
    if (count > most) {
      best = dtype;
      most = count;
    }
  }
  return best;
}

}  // namespace workers
