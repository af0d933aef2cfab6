// libFuzzer target: any bytes as one protocol line must decode to a Message or an Error, never
// crash, hang or throw. Built with clang (-fsanitize=fuzzer,address) when SDXL_BUILD_FUZZERS=ON.
//
// The decoding runs on a thread with a small stack (256 KiB). A line nested ~85,000 deep once
// overflowed the I/O thread's 8 MiB stack through nlohmann's recursive copy, and the fuzzer never
// found it: libFuzzer keeps inputs under -max_len (4096 bytes by default, or the largest seed),
// and 4096 levels fit in 8 MiB. On a small stack, recursion that grows with the input's depth
// overflows within a few thousand levels, so the default lengths find it.
#include <pthread.h>

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "communication/message_decoder.h"

namespace {

struct Input {
  std::string_view line;
  bool answered = false;
};

void* decode(void* arg) {
  static const workers::MessageDecoder decoder(workers::compat::default_translators(), workers::RequestLimits{});
  auto* input = static_cast<Input*>(arg);
  auto result = decoder.decode_line(input->line);
  input->answered = result.message || result.error;
  return nullptr;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input input{std::string_view(reinterpret_cast<const char*>(data), size)};
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, 256 * 1024);
  pthread_t thread;
  if (pthread_create(&thread, &attributes, decode, &input) != 0) __builtin_trap();
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attributes);
  if (!input.answered) __builtin_trap();
  return 0;
}
