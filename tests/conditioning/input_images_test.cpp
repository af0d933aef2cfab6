// Input images: decoding (format sniffing, PNG text chunks kept away from libpng, gray and colour
// conversions), reading files and Lanczos resizing. Images are made with postprocessing's encoder,
// so these are also its round trips.
#include "conditioning/workers/input_images.h"

#include <gtest/gtest.h>

#include "postprocessing/image_codec.h"
#include "support/errors.h"
#include "utilities/error.h"

namespace workers {
namespace {

using testing_support::catch_error;

Image gradient(int width, int height, int channels) {
  Image image{width, height, channels, {}};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) {
        image.pixels.push_back(static_cast<std::uint8_t>((x * 7 + y * 3 + c * 50) % 256));
      }
    }
  }
  return image;
}

TEST(InputImages, PngRoundTripsEveryPixelInRgbOrder) {
  Image image = gradient(37, 21, 3);
  image.pixels[0] = 255, image.pixels[1] = 0,
  image.pixels[2] = 0;  // pure red stays red (no BGR swap)
  const auto decoded = decode_image(encode_image(image, "png"), 3, "image");
  EXPECT_EQ(decoded.width, 37);
  EXPECT_EQ(decoded.height, 21);
  EXPECT_EQ(decoded.pixels, image.pixels);
}

TEST(InputImages, PngWithTextChunksDecodesToItsPixels) {
  const std::string unicode = "a café, 東京 (masterpiece:1.2)";
  const auto png =
      encode_image(gradient(8, 8, 3), "png", {{"parameters", "plain text"}, {"comment", unicode}});
  EXPECT_EQ(decode_image(png, 3, "image").pixels, gradient(8, 8, 3).pixels);
}

// fuzz_image_input found this 132-byte PNG: its iTXt chunk claims more than the file holds, and
// libpng allocated and touched 1.5 GB before failing. Text chunks never reach libpng now, and a
// chunk past the end of the file is refused.
TEST(InputImages, TruncatedTextChunkIsRefusedBeforeLibpng) {
  const std::string png(
      "\x89\x50\x4e\x47\x0d\x0a\x1a\x0a\x00\x00\x00\x0d\x49\x48\x44\x52\x00\x00\x00\x40\x00\x00\x00"
      "\x40"
      "\x08\x02\x00\x00\x00\x25\x0b\xe6\x89\x5d\x00\x00\x0d\x69\x54\x58\x74\x00\x00\x00\x40\x00\x00"
      "\x00"
      "\x40\x08\x02\x00\x00\xe6\x00\x00\x00\x31\x00\x00\x00\x3c\x49\x44\x41\x54\x78\xda\xed\xd4\x31"
      "\x0a"
      "\x00\x30\xcc\x49\x48\x44\x52\x00\x00\x00\x40\x00\x00\x00\x40\x08\x02\x00\x00\x00\x25\x0b\xe6"
      "\x89"
      "\x00\x00\x00\x3c\x49\x44\x41\x54\x89\x50\x4e\x47\x0d\xf4\xff\xff\x78\xda\xed\xd4\x31\x0a\x00"
      "\x30"
      "\x08\x04\x41\xff\xff\xe9\x4b\x2f\x81\x42\x60\x82",
      132);
  const auto e = catch_error([&] { decode_image(png, 3, "init_image"); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "init_image");
  EXPECT_NE(e.message.find("iTXt chunk at byte 33"), std::string::npos) << e.message;
}

TEST(InputImages, JpegAndWebpDecodeToTheSameSize) {
  const Image image = gradient(40, 24, 3);
  for (const char* format : {"jpeg", "webp"}) {
    const auto decoded = decode_image(encode_image(image, format), 3, "image");
    EXPECT_EQ(decoded.width, 40) << format;
    EXPECT_EQ(decoded.height, 24) << format;
  }
}

// Postprocessing writes A1111's infotext into EXIF (Exif.* tests); the files must stay images.
TEST(InputImages, JpegAndWebpWithExifStillDecode) {
  const Image image = gradient(40, 24, 3);
  const TextChunks text = {{"parameters", "a café at night\nSteps: 20, Seed: 1"}};
  const auto jpeg = decode_image(encode_image(image, "jpeg", text), 3, "image");
  EXPECT_EQ(jpeg.width, 40);
  EXPECT_EQ(jpeg.height, 24);
  EXPECT_EQ(decode_image(encode_image(image, "webp", text), 3, "image").pixels,
            decode_image(encode_image(image, "webp"), 3, "image").pixels);
}

TEST(InputImages, GrayAndColourConversionsAndBadBytes) {
  const Image gray = gradient(16, 16, 1);
  const auto as_rgb = decode_image(encode_image(gray, "png"), 3, "mask_image");
  EXPECT_EQ(as_rgb.channels, 3);
  EXPECT_EQ(as_rgb.pixels[3 * 5], gray.pixels[5]);
  EXPECT_EQ(decode_image(encode_image(gray, "png"), 1, "mask_image").pixels, gray.pixels);
  auto error = catch_error([] { decode_image("not an image at all", 3, "init_image"); });
  EXPECT_EQ(error.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(error.field, "init_image");
}

TEST(InputImages, OnlyKnownSignaturesReachOpenCv) {
  // A DICOM-looking file once aborted the process inside Debian's OpenCV (GDCM): found by fuzzing.
  std::string dicom(128, '\0');
  dicom += "DICM";
  dicom += std::string(64, '\xcc');
  for (const std::string& bytes :
       {dicom, std::string("GIF89a...."), std::string("\x89PNG\r\n\x1a\n truncated")}) {
    auto e = catch_error([&] { decode_image(bytes, 3, "init_image"); });
    EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(e.field, "init_image");
  }
  const Image rgb = gradient(8, 8, 3);
  for (const char* format : {"png", "jpeg", "webp"}) {
    EXPECT_EQ(decode_image(encode_image(rgb, format), 3, "init_image").width, 8) << format;
  }
}

TEST(InputImages, ReadsAFileOrNamesTheFieldItCouldNotRead) {
  const auto image = read_image_file(std::string(SDXL_FIXTURES_DIR) + "/pipeline-inputs/mask.png",
                                     1, "mask_image");
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 64);
  EXPECT_EQ(image.channels, 1);
  const auto e = catch_error([] { read_image_file("/no/such/file.png", 3, "init_image"); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "init_image");
}

TEST(InputImages, ResizeGivesExactlyTheAskedSize) {
  const Image image = gradient(600, 300, 3);
  const auto resized = resize_image(image, 64, 72);
  EXPECT_EQ(resized.width, 64);
  EXPECT_EQ(resized.height, 72);
  EXPECT_EQ(resized.pixels.size(), 64u * 72u * 3u);
  EXPECT_EQ(resize_image(image, 600, 300).pixels, image.pixels);  // the same size is kept as is
}

}  // namespace
}  // namespace workers
