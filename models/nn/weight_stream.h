// Streamed weights: a network whose parameters stay "parked" as the tensors they were loaded as
// (memory-mapped fp16/bf16/fp32 file views, or pinned host copies for a GPU) and are made real in
// the compute dtype and device only while the part of the network that uses them runs.
//
// A network is split into units: every ResnetBlock2D, Down/Upsample2D, Attention, FeedForward,
// BasicTransformerBlock, Transformer2DModel and CLIP encoder layer owns the parameters not owned
// by a unit inside it; the root owns the rest. A unit's forward opens a StreamScope: on entry its
// parameters are converted (set_data to `parked.to(dtype, device)`), on exit parked again and the
// mapped pages they were read from released, so only the running units' compute-dtype copies
// exist at a time (layer-by-layer streaming, or sequential offload on CUDA). hold() makes the
// whole network real until the Hold ends (component offload: one network resident at a time).
// The maths is the resident network's: same values (fp16 -> fp32 is exact), same ops, same order.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <torch/torch.h>

#include "models/nn/networks.h"

namespace workers {

class WeightStream {
 public:
  // Parks every floating-point parameter and buffer of `root` at the tensor it holds now.
  // `pin`: copy each parked tensor into pinned host memory (a CUDA compute device).
  WeightStream(torch::nn::Module& root, Placement compute, bool pin = false);
  ~WeightStream();
  WeightStream(const WeightStream&) = delete;
  WeightStream& operator=(const WeightStream&) = delete;

  // Bytes the parked tensors take outside file mappings (heap or pinned copies) at rest.
  std::uint64_t resting_bytes() const { return resting_bytes_; }
  // Bytes of the largest unit once converted, and of the whole network.
  std::uint64_t largest_unit_bytes() const;
  std::uint64_t compute_bytes() const;
  std::size_t units() const { return units_.size(); }

  // Keeps every unit converted while it lives.
  class Hold {
   public:
    Hold() = default;
    explicit Hold(WeightStream* stream);
    Hold(Hold&& other) noexcept : stream_(other.stream_) { other.stream_ = nullptr; }
    Hold& operator=(Hold&& other) noexcept;
    ~Hold();

   private:
    WeightStream* stream_ = nullptr;
  };
  // A Hold over the stream of `root` (none for a resident network: nothing to do).
  static Hold hold(const torch::nn::Module& root);
  // The stream `module` is a unit of (null when none) and the unit's index.
  static WeightStream* find(const torch::nn::Module* module, std::size_t* unit);

  void enter(std::size_t unit);
  void leave(std::size_t unit);
  const Placement& compute() const { return compute_; }

 private:
  struct Slot {
    at::Tensor target;  // the module's parameter or buffer
    at::Tensor parked;
    bool convert = false;  // floating point: made real in the compute dtype
  };
  struct Unit {
    const torch::nn::Module* module = nullptr;
    std::vector<Slot> slots;
    int users = 0;
  };
  void materialize(Unit& unit);
  void park(Unit& unit);

  const torch::nn::Module* root_;
  Placement compute_;
  bool pinned_;
  std::vector<Unit> units_;  // [0] = the root
  std::uint64_t resting_bytes_ = 0;
  std::mutex mutex_;  // guards users and the parameters' data while switching
};

// Opened by a unit's forward (`const StreamScope stream(this);`): nothing unless the module is a
// unit of a stream.
class StreamScope {
 public:
  explicit StreamScope(const torch::nn::Module* module);
  ~StreamScope();
  StreamScope(const StreamScope&) = delete;
  StreamScope& operator=(const StreamScope&) = delete;

 private:
  WeightStream* stream_ = nullptr;
  std::size_t unit_ = 0;
};

// The dtype and device `network` computes in: its stream's compute placement when streamed,
// else its first parameter's.
at::TensorOptions compute_options(const torch::nn::Module& network);

// While one lives on this thread, every unit built gives its parameters and buffers zero-stride
// placeholders of the right shape as soon as it is constructed, so building a network that will
// be streamed never holds its compute-dtype weights at once (load_weights then sets file views).
class LeanConstruction {
 public:
  LeanConstruction();
  ~LeanConstruction();
  LeanConstruction(const LeanConstruction&) = delete;
  LeanConstruction& operator=(const LeanConstruction&) = delete;

 private:
  bool previous_;
};
// Called at the end of each unit's constructor.
void shrink_if_lean(torch::nn::Module& module);

// The floating-point dtype most of a component's tensors are stored in (what a streamed network
// parks them as).
c10::ScalarType stored_dtype(const ComponentSource& source);

}  // namespace workers
