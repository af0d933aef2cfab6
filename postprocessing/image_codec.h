// Image files in and out, with OpenCV: reading init images and masks (any format OpenCV reads, to
// RGB or gray), Lanczos resizing, PNG/JPEG/WEBP encoding with PNG text chunks (A1111's
// `parameters`), thumbnails and base64.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "utilities/image.h"

namespace workers {

// channels 3: RGB (alpha dropped, gray expanded); 1: gray (ITU-R 601 luma, as PIL's convert("L")).
// PNG, JPEG, WEBP and BMP only (recognised by their signature), at most 64 megapixels; files at
// most 256 MiB. Throws Error(INVALID_REQUEST, field) when the file cannot be read or decoded.
Image read_image_file(const std::string& path, int channels, const std::string& field);
Image decode_image(std::string_view bytes, int channels, const std::string& field);

// Lanczos resampling (PIL's default in diffusers' image processor) to exactly width × height.
Image resize_image(const Image& image, int width, int height);
// Shrinks (area averaging) so the longer side is at most `max_side`; smaller images are kept.
Image thumbnail(const Image& image, int max_side);

using TextChunks = std::vector<std::pair<std::string, std::string>>;
// format: png, jpeg or webp. PNG text goes into tEXt chunks (iTXt when it is not ASCII) right
// after IHDR. Throws Error(INVALID_REQUEST, "output_format") for another format.
std::string encode_image(const Image& image, const std::string& format, const TextChunks& png_text = {},
                         int quality = 95);
// The text chunks of a PNG file (keyword, text), for tests and tools.
TextChunks png_text_chunks(std::string_view png);

std::string base64_encode(std::string_view bytes);

}  // namespace workers
