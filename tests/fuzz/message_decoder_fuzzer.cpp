// libFuzzer target: any bytes as one protocol line must decode to a Message or an Error, never
// crash, hang or throw. Built with clang (-fsanitize=fuzzer,address) when SDXL_BUILD_FUZZERS=ON.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "communication/message_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const workers::MessageDecoder decoder(workers::compat::default_translators(), workers::RequestLimits{});
  auto result = decoder.decode_line(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!result.message && !result.error) __builtin_trap();
  return 0;
}
