// Image: 8-bit pixels in row order (height × width × channels; RGB or grayscale), the torch-free
// form in which images enter (init images, masks) and leave (generated images) the engine.
#pragma once

#include <cstdint>
#include <vector>

namespace workers {

struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;  // 3 = RGB, 1 = gray
  std::vector<std::uint8_t> pixels;
};

}  // namespace workers
