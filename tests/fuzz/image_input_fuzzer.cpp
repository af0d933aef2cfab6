// libFuzzer target: any bytes given as an init image or mask must decode to a well-formed Image
// or an INVALID_REQUEST naming the field, never crash; the PNG text-chunk reader must stay inside
// the buffer; a decoded image must survive the resize, the PNG round trip and every ControlNet
// preprocessor (an RGB map of the same size).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "conditioning/control_preprocessors.h"
#include "conditioning/workers/input_images.h"
#include "postprocessing/image_codec.h"
#include "utilities/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  workers::png_text_chunks(bytes);
  for (int channels : {3, 1}) {
    try {
      auto image = workers::decode_image(bytes, channels, "init_image");
      const std::size_t expected =
          static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height) * image.channels;
      if (image.channels != channels || image.pixels.size() != expected) __builtin_trap();
      if (image.width > 0 && image.height > 0 && expected < (1u << 22)) {
        auto small = workers::resize_image(image, 16, 8);
        if (small.pixels.size() != 16u * 8u * channels) __builtin_trap();
        auto again = workers::decode_image(workers::encode_image(image, "png", {{"parameters", "x"}}), channels, "out");
        if (again.pixels != image.pixels) __builtin_trap();
        for (const auto& name : workers::control_preprocessor_names()) {
          const auto map = workers::preprocess_control_image(image, name, {}, "controlnets[0].preprocess");
          if (map.width != image.width || map.height != image.height || map.channels != 3 ||
              map.pixels.size() != expected / channels * 3) {
            __builtin_trap();
          }
        }
      }
    } catch (const workers::Error& e) {
      if (e.code() != workers::ErrorCode::kInvalidRequest || e.field() != "init_image") __builtin_trap();
    }
  }
  return 0;
}
