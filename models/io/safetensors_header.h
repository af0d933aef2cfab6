// The safetensors header: parsed and fully validated before a single tensor byte is touched, so
// a malformed file is a MODEL_LOAD_ERROR naming the file and the problem, never a crash.
// Torch-free (the fuzz target builds it alone).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace workers {

enum class StDtype { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

std::size_t dtype_size(StDtype dtype);
std::string_view dtype_name(StDtype dtype);  // "F16", ...
std::optional<StDtype> dtype_from_name(std::string_view name);

struct TensorEntry {
  std::string name;
  StDtype dtype = StDtype::kF32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte range inside the data area (after the header)
  std::uint64_t end = 0;
  std::int64_t numel() const;
};

struct SafetensorsHeader {
  std::vector<TensorEntry> tensors;  // in data order
  std::map<std::string, std::string> metadata;
  std::uint64_t data_offset = 0;  // where the data area starts in the file (8 + header length)
  const TensorEntry* find(const std::string& name) const;
};

// The official reader's cap: a header larger than this is refused before it is read.
constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

// `file` holds at least the first min(file_size, 8 + header length) bytes of the file;
// `file_size` is the whole file's size. Throws Error(MODEL_LOAD_ERROR) "<file_name>: <problem>".
SafetensorsHeader parse_safetensors_header(std::string_view file, std::uint64_t file_size,
                                           const std::string& file_name);

// The header bytes (length prefix included, padded to 8) for tensors laid out in this order.
std::string serialize_safetensors_header(const std::vector<TensorEntry>& tensors,
                                         const std::map<std::string, std::string>& metadata);

}  // namespace workers
