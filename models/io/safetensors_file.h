// SafetensorsFile: a validated, memory-mapped safetensors file whose tensors are zero-copy views
// of the mapping (the mapping lives as long as any tensor uses it), converted on demand.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include "models/io/mapped_file.h"
#include "models/io/safetensors_header.h"

namespace workers {

class SafetensorsFile {
 public:
  // Maps and validates; throws Error(MODEL_LOAD_ERROR) naming the file and the problem.
  static std::shared_ptr<const SafetensorsFile> open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const SafetensorsHeader& header() const { return header_; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return header_.find(name) != nullptr; }
  // Throws Error(MODEL_LOAD_ERROR) when the file has no such tensor.
  const TensorEntry& entry(const std::string& name) const;

  // A CPU view of the mapped bytes in the file's dtype (no copy).
  at::Tensor tensor(const std::string& name) const;
  // In `dtype` on `device`: the view itself when nothing changes, else a converted copy.
  at::Tensor tensor(const std::string& name, c10::ScalarType dtype, c10::Device device = c10::kCPU) const;

 private:
  SafetensorsFile(std::shared_ptr<MappedFile> file, SafetensorsHeader header);
  std::shared_ptr<MappedFile> file_;
  SafetensorsHeader header_;
};

c10::ScalarType to_scalar_type(StDtype dtype);
StDtype from_scalar_type(c10::ScalarType type);  // throws Error(INVALID_REQUEST) for others

// Writes `tensors` (any device/layout; stored contiguous, in the given order) with `metadata`.
// Throws Error(MODEL_LOAD_ERROR) when the file cannot be written.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace workers
