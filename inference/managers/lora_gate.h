// LoraGate: which LoRA stack each cached model object currently has merged, and who is using it.
// A job names the objects it will run (the base UNet, its text encoders) and the stack it needs;
// the gate waits while other jobs run those objects with another stack, then switches them
// (restore bitwise, merge the new stack) and hands back a lease. Jobs with the same stack share
// the objects; a stack stays merged after its job, so the same stack again costs nothing.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "inference/workers/lora_merge.h"

namespace workers {

class LoraGate {
 public:
  // One cached object (`owner`: the cache's pointer, so a reload is told apart from the object
  // it replaced), its adaptable modules and the stack it must have: `signature` names it
  // ("" = no adapters), `plan` is what to merge (nullptr with "").
  struct Target {
    std::shared_ptr<void> owner;
    AdaptableModules modules;
    std::string signature;
    const LoraPlan* plan = nullptr;
  };

  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept : gate_(other.gate_), keys_(std::move(other.keys_)) { other.gate_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();

   private:
    friend class LoraGate;
    LoraGate* gate_ = nullptr;
    std::vector<const void*> keys_;
  };

  // Waits until no other job runs any of `targets` with another stack, switches each target
  // whose merged stack differs from its signature, and leases them all. While waiting it calls
  // `while_waiting` every 100 ms (a cancellation check: what it throws ends the wait). Throws what
  // merging throws; that target's weights are then restored by whichever job comes next.
  Lease acquire(const std::vector<Target>& targets, const std::function<void()>& while_waiting = {});

 private:
  struct Slot {
    std::weak_ptr<void> owner;
    std::string signature;
    int active = 0;
    MergedWeights merged;
  };
  void release(const std::vector<const void*>& keys);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<const void*, Slot> slots_;
};

}  // namespace workers
