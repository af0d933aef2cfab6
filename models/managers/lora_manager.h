// LoraManager: the role that finds LoRA / LyCORIS files under the LoRA roots (by name, by
// relative path, or by file name anywhere below a root, as A1111 does) and gives them read and
// grouped into adapters, kept in the shared model cache.
#pragma once

#include <memory>
#include <string>

namespace workers {

struct LoraAdapter;

class LoraManager {
 public:
  virtual ~LoraManager() = default;
  // The canonical path of `reference`; throws Error(INVALID_REQUEST / MODEL_NOT_FOUND, field).
  virtual std::string resolve(const std::string& reference, const std::string& field) const = 0;
  // The adapter at a path resolve() gave (`reference` names it in messages), read on first use.
  virtual std::shared_ptr<const LoraAdapter> adapter_at(const std::string& path, const std::string& reference,
                                                        const std::string& field) = 0;
  // The identity of the file as it is now (path, size and modification time): a file changed on
  // disk is a different adapter.
  virtual std::string key(const std::string& path) const = 0;
};

}  // namespace workers
