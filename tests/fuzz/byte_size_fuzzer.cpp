// libFuzzer target: any text as a byte size (--max-memory, max_memory, SDXL_WORKERS_MAX_MEMORY)
// parses to a value or to nothing, never crashes or hangs; an accepted value formats and parses
// back within the formatter's rounding (for sizes below a PiB).
#include <cstddef>
#include <cstdint>
#include <string>

#include "utilities/byte_size.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const auto bytes = workers::parse_byte_size(text);
  if (bytes && *bytes > 0 && *bytes < (1ull << 50)) {  // below a PiB: past it the format may round over 2^64
    const auto back = workers::parse_byte_size(workers::format_bytes(*bytes));
    if (!back) __builtin_trap();
    const double a = static_cast<double>(*back), b = static_cast<double>(*bytes);
    if (a < b * 0.99 || a > b * 1.01) __builtin_trap();
  }
  return 0;
}
