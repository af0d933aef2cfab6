#include "inference/managers/lora_gate.h"

#include <chrono>

namespace workers {

LoraGate::Lease::~Lease() {
  if (gate_) gate_->release(keys_);
}

LoraGate::Lease LoraGate::acquire(const std::vector<Target>& targets, const std::function<void()>& while_waiting) {
  std::unique_lock<std::mutex> lock(mutex_);
  // Objects the cache has dropped take their merged weights with them: forget their slots.
  for (auto it = slots_.begin(); it != slots_.end();) {
    it = it->second.owner.expired() ? slots_.erase(it) : std::next(it);
  }
  auto slot_of = [&](const Target& t) -> Slot& {
    auto& slot = slots_[t.owner.get()];
    if (slot.owner.expired()) slot = Slot{t.owner, "", 0, {}};  // new, or a reload at the same address
    return slot;
  };
  auto free = [&] {
    for (const auto& t : targets) {
      const auto& slot = slot_of(t);
      if (slot.active > 0 && slot.signature != t.signature) return false;
    }
    return true;
  };
  while (!changed_.wait_for(lock, std::chrono::milliseconds(100), free)) {
    if (while_waiting) while_waiting();
  }
  for (const auto& t : targets) {
    auto& slot = slot_of(t);
    if (slot.signature == t.signature) continue;
    try {
      if (t.plan) {
        slot.merged.merge(*t.plan, t.modules);
      } else {
        slot.merged.restore(t.modules);
      }
    } catch (...) {
      slot.signature = "?";  // unknown: the next job of any stack restores first
      throw;
    }
    slot.signature = t.signature;
  }
  Lease lease;
  lease.gate_ = this;
  for (const auto& t : targets) {
    ++slot_of(t).active;
    lease.keys_.push_back(t.owner.get());
  }
  return lease;
}

void LoraGate::release(const std::vector<const void*>& keys) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto* key : keys) {
      auto it = slots_.find(key);
      if (it != slots_.end()) --it->second.active;
    }
  }
  changed_.notify_all();
}

}  // namespace workers
