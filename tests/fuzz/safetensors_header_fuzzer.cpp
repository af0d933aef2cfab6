// libFuzzer target: any bytes as a safetensors file must parse to a validated header or a
// MODEL_LOAD_ERROR, never crash, hang or over-allocate; a parsed header must describe only bytes
// inside the file.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "models/io/safetensors_header.h"
#include "utilities/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    auto header = workers::parse_safetensors_header(bytes, size, "fuzz.safetensors");
    for (const auto& t : header.tensors) {
      if (header.data_offset + t.end > size || t.begin > t.end) __builtin_trap();
    }
  } catch (const workers::Error& e) {
    if (e.code() != workers::ErrorCode::kModelLoadError) __builtin_trap();
  }
  return 0;
}
