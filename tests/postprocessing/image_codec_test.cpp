#include "postprocessing/image_codec.h"

#include <gtest/gtest.h>

#include "support/errors.h"
#include "utilities/error.h"

namespace workers {
namespace {

Image gradient(int width, int height, int channels) {
  Image image{width, height, channels, {}};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int c = 0; c < channels; ++c) image.pixels.push_back(static_cast<std::uint8_t>((x * 7 + y * 3 + c * 50) % 256));
    }
  }
  return image;
}

TEST(ImageCodec, PngCarriesTextChunksAsciiAndUnicode) {
  const std::string unicode = "a café, 東京 (masterpiece:1.2)";
  const auto png = encode_image(gradient(8, 8, 3), "png", {{"parameters", "plain text"}, {"comment", unicode}});
  const auto chunks = png_text_chunks(png);
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0], (std::pair<std::string, std::string>{"parameters", "plain text"}));
  EXPECT_EQ(chunks[1].second, unicode);
}

TEST(ImageCodec, UnknownOutputFormatIsRefused) {
  const auto e = testing_support::catch_error([] { encode_image(gradient(8, 8, 3), "gif"); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "output_format");
}

TEST(ImageCodec, ThumbnailKeepsTheAspect) {
  const Image image = gradient(600, 300, 3);
  const auto small = thumbnail(image, 256);
  EXPECT_EQ(small.width, 256);
  EXPECT_EQ(small.height, 128);
  EXPECT_EQ(thumbnail(gradient(100, 50, 3), 256).width, 100);  // never enlarged
}

TEST(ImageCodec, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

}  // namespace
}  // namespace workers
