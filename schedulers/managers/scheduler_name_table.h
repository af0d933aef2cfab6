// SchedulerNameTable: the declarative table of user-facing sampler names (A1111, ComfyUI) and
// diffusers class names, matched case-insensitively.
#pragma once

#include "schedulers/managers/scheduler_catalog.h"

namespace workers {

class SchedulerNameTable : public SchedulerCatalog {
 public:
  SchedulerChoice resolve(const std::string& name) const override;
  std::vector<std::string> names() const override;
};

}  // namespace workers
