// Input images (init images, masks, control images) from bytes or files, with OpenCV: any of the
// formats below to RGB or gray, then resized to the output size with PIL's Lanczos. Torch-free.
#pragma once

#include <string>
#include <string_view>

#include "utilities/image.h"

namespace workers {

// channels 3: RGB (alpha dropped, gray expanded); 1: gray (ITU-R 601 luma, as PIL's convert("L")).
// PNG, JPEG, WEBP and BMP only (recognised by their signature), at most 64 megapixels; files at
// most 256 MiB. Throws Error(INVALID_REQUEST, field) when the file cannot be read or decoded.
Image read_image_file(const std::string& path, int channels, const std::string& field);
// The file's bytes (at most 256 MiB); Error(INVALID_REQUEST, field) when it cannot be read.
std::string read_file_bytes(const std::string& path, const std::string& field);
Image decode_image(std::string_view bytes, int channels, const std::string& field);

// PIL's Lanczos (diffusers' VaeImageProcessor resizes images, masks and control images with it)
// to exactly width × height, pixel for pixel as PIL computes it.
Image resize_image(const Image& image, int width, int height);

}  // namespace workers
