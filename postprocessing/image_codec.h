// Image files out, with OpenCV: PNG/JPEG/WEBP encoding with PNG text chunks (A1111's `parameters`,
// ComfyUI's `prompt`) or, for JPEG and WEBP, EXIF UserComment, thumbnails and base64. (Input images
// are read by conditioning/workers/input_images.h.)
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "utilities/image.h"

namespace workers {

// Shrinks (area averaging) so the longer side is at most `max_side`; smaller images are kept.
Image thumbnail(const Image& image, int max_side);

using TextChunks = std::vector<std::pair<std::string, std::string>>;
// format: png, jpeg or webp. PNG: each text entry goes into a tEXt chunk (iTXt when it is not
// ASCII) right after IHDR. JPEG and WEBP: the `parameters` entry goes into EXIF UserComment, as
// A1111 writes it; other entries have no place there and are dropped. Throws
// Error(INVALID_REQUEST, "output_format") for another format.
std::string encode_image(const Image& image, const std::string& format, const TextChunks& text = {},
                         int quality = 95);
// The text chunks of a PNG file (keyword, text), for tests and tools.
TextChunks png_text_chunks(std::string_view png);
// A1111's infotext as A1111's PNG Info reads it: a PNG's `parameters` chunk, or a JPEG's or
// WEBP's EXIF UserComment; nullopt when the file has none.
std::optional<std::string> embedded_parameters(std::string_view file);

std::string base64_encode(std::string_view bytes);

}  // namespace workers
