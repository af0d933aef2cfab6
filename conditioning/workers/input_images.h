// Input images (init images, masks, control images) from bytes or files, with OpenCV: any of the
// formats below to RGB or gray, then Lanczos-resized to the output size. Torch-free.
#pragma once

#include <string>
#include <string_view>

#include "utilities/image.h"

namespace workers {

// channels 3: RGB (alpha dropped, gray expanded); 1: gray (ITU-R 601 luma, as PIL's convert("L")).
// PNG, JPEG, WEBP and BMP only (recognised by their signature), at most 64 megapixels; files at
// most 256 MiB. Throws Error(INVALID_REQUEST, field) when the file cannot be read or decoded.
Image read_image_file(const std::string& path, int channels, const std::string& field);
Image decode_image(std::string_view bytes, int channels, const std::string& field);

// Lanczos resampling (PIL's default in diffusers' image processor) to exactly width × height.
Image resize_image(const Image& image, int width, int height);

}  // namespace workers
