// EXIF for JPEG and WEBP outputs: A1111 (modules/images.py, piexif) stores its infotext in the
// Exif IFD's UserComment as "UNICODE\0" + UTF-16; this writes the same big-endian TIFF block into
// a JPEG APP1 segment or a WEBP `EXIF` chunk (VP8X container), and reads it back.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace workers {

// The TIFF block (no "Exif\0\0" prefix): IFD0 with the Exif IFD pointer, the Exif IFD with
// UserComment = "UNICODE\0" + UTF-16BE of `utf8` (invalid UTF-8 becomes U+FFFD), as piexif's
// dump({"Exif": {UserComment: UserComment.dump(text, encoding="unicode")}}).
std::string exif_user_comment_block(const std::string& utf8);

// An APP1 "Exif" segment after SOI (after the JFIF APP0 segment when there is one). A JPEG segment
// holds at most 65,533 bytes: a longer block (an infotext over ~32,000 characters) is not written
// and the JPEG is returned unchanged.
std::string insert_jpeg_exif(const std::string& jpeg, const std::string& tiff);
// An `EXIF` chunk; a simple VP8/VP8L file becomes an extended (VP8X) one of the given canvas size,
// with the EXIF flag set. Returns the file unchanged when it is not a RIFF WEBP.
std::string insert_webp_exif(const std::string& webp, const std::string& tiff, int width,
                             int height);

// The UserComment text of a JPEG's or WEBP's EXIF, UTF-8; nullopt when there is none.
std::optional<std::string> exif_user_comment(std::string_view file);

}  // namespace workers
