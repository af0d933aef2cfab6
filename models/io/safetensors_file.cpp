#include "models/io/safetensors_file.h"

#include <fstream>

#include <torch/torch.h>

#include "utilities/error.h"

namespace workers {
namespace {
struct TypePair {
  StDtype st;
  c10::ScalarType torch;
};
constexpr TypePair kTypes[] = {
    {StDtype::kF64, c10::kDouble}, {StDtype::kF32, c10::kFloat},  {StDtype::kF16, c10::kHalf},
    {StDtype::kBF16, c10::kBFloat16}, {StDtype::kI64, c10::kLong}, {StDtype::kI32, c10::kInt},
    {StDtype::kI16, c10::kShort},  {StDtype::kI8, c10::kChar},    {StDtype::kU8, c10::kByte},
    {StDtype::kBool, c10::kBool},
};
}  // namespace

c10::ScalarType to_scalar_type(StDtype dtype) {
  for (const auto& t : kTypes) {
    if (t.st == dtype) return t.torch;
  }
  return c10::kFloat;
}

StDtype from_scalar_type(c10::ScalarType type) {
  for (const auto& t : kTypes) {
    if (t.torch == type) return t.st;
  }
  throw Error(ErrorCode::kInvalidRequest, std::string("safetensors cannot store dtype ") + c10::toString(type));
}

std::shared_ptr<const SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  auto file = MappedFile::open(path);
  auto header = parse_safetensors_header(file->bytes(), file->size(), path);
  return std::shared_ptr<const SafetensorsFile>(new SafetensorsFile(std::move(file), std::move(header)));
}

SafetensorsFile::SafetensorsFile(std::shared_ptr<MappedFile> file, SafetensorsHeader header)
    : file_(std::move(file)), header_(std::move(header)) {}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(header_.tensors.size());
  for (const auto& t : header_.tensors) out.push_back(t.name);
  return out;
}

const TensorEntry& SafetensorsFile::entry(const std::string& name) const {
  const auto* e = header_.find(name);
  if (!e) throw Error(ErrorCode::kModelLoadError, path() + ": has no tensor named \"" + name + "\"");
  return *e;
}

at::Tensor SafetensorsFile::tensor(const std::string& name) const {
  const auto& e = entry(name);
  auto options = torch::TensorOptions().dtype(to_scalar_type(e.dtype)).device(torch::kCPU);
  if (e.numel() == 0) return torch::empty(e.shape, options);
  void* data = file_->data() + header_.data_offset + e.begin;
  // The deleter holds the mapping: it stays mapped while any view of it is alive.
  return torch::from_blob(data, e.shape, [keep = file_](void*) {}, options);
}

at::Tensor SafetensorsFile::tensor(const std::string& name, c10::ScalarType dtype, c10::Device device) const {
  return tensor(name).to(device, dtype);
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<TensorEntry> entries;
  std::vector<at::Tensor> data;
  std::uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    TensorEntry e;
    e.name = name;
    e.dtype = from_scalar_type(t.scalar_type());
    e.shape = t.sizes().vec();
    data.push_back(t.detach().to(torch::kCPU).contiguous());
    e.begin = offset;
    offset += static_cast<std::uint64_t>(data.back().numel()) * dtype_size(e.dtype);
    e.end = offset;
    entries.push_back(std::move(e));
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw Error(ErrorCode::kModelLoadError, path + ": cannot open for writing");
  const std::string header = serialize_safetensors_header(entries, metadata);
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  for (std::size_t i = 0; i < data.size(); ++i) {
    out.write(static_cast<const char*>(data[i].data_ptr()), static_cast<std::streamsize>(entries[i].end - entries[i].begin));
  }
  out.close();
  if (!out) throw Error(ErrorCode::kModelLoadError, path + ": write failed (disk full?)");
}

}  // namespace workers
