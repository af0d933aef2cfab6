// Test helpers for tensor comparisons and reference fixtures (tests/fixtures/*.safetensors).
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "models/io/safetensors_file.h"

namespace workers::testing_support {

inline double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  if (a.sizes() != b.sizes()) return 1e30;
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// A reference file from tests/fixtures, tensors read as fp32.
class Reference {
 public:
  explicit Reference(const std::string& name)
      : file_(SafetensorsFile::open(std::string(SDXL_FIXTURES_DIR) + "/" + name)) {}
  at::Tensor operator[](const std::string& tensor) const {
    auto t = file_->tensor(tensor);
    return t.is_floating_point() ? t.to(torch::kFloat32) : t.clone();
  }

 private:
  std::shared_ptr<const SafetensorsFile> file_;
};

inline std::string fixture(const std::string& name) { return std::string(SDXL_FIXTURES_DIR) + "/" + name; }

}  // namespace workers::testing_support
