#include "models/io/safetensors_header.h"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "utilities/error.h"

namespace workers {
namespace {

struct DtypeInfo {
  StDtype dtype;
  std::string_view name;
  std::size_t size;
};
constexpr DtypeInfo kDtypes[] = {
    {StDtype::kF64, "F64", 8}, {StDtype::kF32, "F32", 4}, {StDtype::kF16, "F16", 2}, {StDtype::kBF16, "BF16", 2},
    {StDtype::kI64, "I64", 8}, {StDtype::kI32, "I32", 4}, {StDtype::kI16, "I16", 2}, {StDtype::kI8, "I8", 1},
    {StDtype::kU8, "U8", 1},   {StDtype::kBool, "BOOL", 1},
};

[[noreturn]] void fail(const std::string& file, const std::string& problem) {
  throw Error(ErrorCode::kModelLoadError, file + ": " + problem);
}

std::uint64_t read_u64_le(std::string_view bytes) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(bytes[i]);
  return value;
}

TensorEntry parse_entry(const std::string& file, const std::string& name, const nlohmann::json& info) {
  const std::string where = "tensor \"" + name + "\"";
  if (!info.is_object()) fail(file, where + " is not an object");
  TensorEntry e;
  e.name = name;
  auto dtype = info.find("dtype");
  if (dtype == info.end() || !dtype->is_string()) fail(file, where + " has no dtype");
  auto known = dtype_from_name(dtype->get<std::string>());
  if (!known) fail(file, where + " has unsupported dtype " + dtype->dump());
  e.dtype = *known;

  auto shape = info.find("shape");
  if (shape == info.end() || !shape->is_array()) fail(file, where + " has no shape list");
  std::uint64_t numel = 1;
  for (const auto& d : *shape) {
    if (!d.is_number_unsigned()) fail(file, where + " has a bad dimension " + d.dump());
    auto dim = d.get<std::uint64_t>();
    if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        (dim != 0 && numel > std::numeric_limits<std::uint64_t>::max() / dim)) {
      fail(file, where + " has a shape too large to address");
    }
    numel *= dim;
    e.shape.push_back(static_cast<std::int64_t>(dim));
  }
  auto offsets = info.find("data_offsets");
  if (offsets == info.end() || !offsets->is_array() || offsets->size() != 2 || !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned()) {
    fail(file, where + " needs data_offsets [begin, end] of non-negative integers");
  }
  e.begin = (*offsets)[0].get<std::uint64_t>();
  e.end = (*offsets)[1].get<std::uint64_t>();
  if (e.begin > e.end) fail(file, where + " has data_offsets with begin after end");
  const std::uint64_t size = dtype_size(e.dtype);
  if (numel > std::numeric_limits<std::uint64_t>::max() / size || numel * size != e.end - e.begin) {
    fail(file, where + ": shape " + shape->dump() + " of " + std::string(dtype_name(e.dtype)) + " needs " +
                   std::to_string(numel * size) + " bytes but data_offsets span " +
                   std::to_string(e.end - e.begin));
  }
  return e;
}

}  // namespace

std::size_t dtype_size(StDtype dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d.size;
  }
  return 0;
}

std::string_view dtype_name(StDtype dtype) {
  for (const auto& d : kDtypes) {
    if (d.dtype == dtype) return d.name;
  }
  return "?";
}

std::optional<StDtype> dtype_from_name(std::string_view name) {
  for (const auto& d : kDtypes) {
    if (d.name == name) return d.dtype;
  }
  return std::nullopt;
}

std::int64_t TensorEntry::numel() const {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

const TensorEntry* SafetensorsHeader::find(const std::string& name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

SafetensorsHeader parse_safetensors_header(std::string_view file, std::uint64_t file_size,
                                           const std::string& file_name) {
  if (file_size < 8 || file.size() < 8) {
    fail(file_name, "is " + std::to_string(file_size) + " bytes, too short for a safetensors header");
  }
  const std::uint64_t header_length = read_u64_le(file);
  if (header_length > kMaxSafetensorsHeaderBytes) {
    fail(file_name, "header length " + std::to_string(header_length) + " exceeds the 100 MiB limit (not a safetensors file?)");
  }
  if (8 + header_length > file_size) {
    fail(file_name, "header length " + std::to_string(header_length) + " runs past the end of the file (" +
                        std::to_string(file_size) + " bytes): truncated?");
  }
  if (file.size() < 8 + header_length) fail(file_name, "header bytes were not provided");
  const std::string_view text = file.substr(8, header_length);
  if (text.empty() || text.front() != '{') fail(file_name, "header does not start with a JSON object");
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    fail(file_name, std::string("header is not valid JSON: ") + e.what());
  }
  if (!json.is_object()) fail(file_name, "header is not a JSON object");

  SafetensorsHeader header;
  header.data_offset = 8 + header_length;
  for (auto it = json.begin(); it != json.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(file_name, "__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(file_name, "__metadata__ value \"" + m.key() + "\" is not a string");
        header.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    header.tensors.push_back(parse_entry(file_name, it.key(), *it));
  }

  // The data area must be covered exactly, in order, without gaps or overlaps.
  std::sort(header.tensors.begin(), header.tensors.end(), [](const TensorEntry& a, const TensorEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const std::uint64_t data_size = file_size - header.data_offset;
  std::uint64_t expected = 0;
  for (const auto& t : header.tensors) {
    if (t.begin != expected) {
      fail(file_name, "tensor \"" + t.name + "\" starts at byte " + std::to_string(t.begin) + " of the data but " +
                          (t.begin < expected ? "overlaps the previous tensor" : "leaves a gap after byte " +
                                                                                      std::to_string(expected)));
    }
    expected = t.end;
  }
  if (expected > data_size) {
    fail(file_name, "tensor data runs to byte " + std::to_string(expected) + " but the data area holds " +
                        std::to_string(data_size) + ": truncated?");
  }
  if (expected < data_size) {
    fail(file_name, std::to_string(data_size - expected) + " bytes after the last tensor are not described by the header");
  }
  return header;
}

std::string serialize_safetensors_header(const std::vector<TensorEntry>& tensors,
                                         const std::map<std::string, std::string>& metadata) {
  nlohmann::json json = nlohmann::json::object();
  if (!metadata.empty()) json["__metadata__"] = metadata;
  for (const auto& t : tensors) {
    json[t.name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {t.begin, t.end}}};
  }
  std::string text = json.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data area 8-byte aligned
  std::string out(8, '\0');
  std::uint64_t length = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  return out + text;
}

}  // namespace workers
