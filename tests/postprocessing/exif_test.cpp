#include "postprocessing/exif.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "postprocessing/image_codec.h"

namespace workers {
namespace {

Image gradient(int width, int height) {
  Image image{width, height, 3, {}};
  for (int i = 0; i < width * height * 3; ++i)
    image.pixels.push_back(static_cast<std::uint8_t>(i * 13 % 256));
  return image;
}

const std::string kInfotext =
    "a café at night, (neon:1.2) 🌃\nNegative prompt: blurry\nSteps: 20, Sampler: DPM++ 2M, "
    "Schedule type: Karras, CFG scale: 7, Seed: 1";

std::uint32_t le32(const std::string& s, std::size_t at) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}

TEST(Exif, UserCommentIsPiexifsUnicodeBlock) {
  const std::string block = exif_user_comment_block("Hi");
  // Big-endian TIFF, IFD0 -> Exif IFD (0x8769) -> UserComment (0x9286, UNDEFINED, 12 bytes at 44).
  EXPECT_EQ(block.substr(0, 8), std::string("MM\0\x2a\0\0\0\x08", 8));
  EXPECT_EQ(block.substr(8, 12), std::string("\0\x01\x87\x69\0\x04\0\0\0\x01\0\0", 12));
  EXPECT_EQ(block.substr(26, 12), std::string("\0\x01\x92\x86\0\x07\0\0\0\x0c\0\0", 12));
  EXPECT_EQ(block.substr(44), std::string("UNICODE\0\0H\0i", 12));
}

TEST(Exif, JpegCarriesTheParametersInApp1AfterJfif) {
  const Image image = gradient(40, 24);
  const std::string jpeg =
      encode_image(image, "jpeg", {{"parameters", kInfotext}, {"prompt", "{}"}});
  ASSERT_EQ(jpeg.compare(0, 2, "\xFF\xD8"), 0);
  // SOI, OpenCV's JFIF APP0, then APP1 "Exif".
  ASSERT_EQ(jpeg.compare(2, 2, "\xFF\xE0"), 0);
  const std::size_t app1 =
      4 + ((static_cast<unsigned char>(jpeg[4]) << 8) | static_cast<unsigned char>(jpeg[5]));
  EXPECT_EQ(jpeg.compare(app1, 2, "\xFF\xE1"), 0);
  EXPECT_EQ(jpeg.compare(app1 + 4, 6, std::string("Exif\0\0", 6)), 0);
  EXPECT_EQ(exif_user_comment(jpeg), kInfotext);
  EXPECT_EQ(embedded_parameters(jpeg), kInfotext);
  // That it still decodes: InputImages.JpegAndWebpWithExifStillDecode (conditioning).
}

TEST(Exif, WebpBecomesExtendedWithAnExifChunk) {
  const Image image = gradient(33, 17);
  const std::string plain = encode_image(image, "webp");
  EXPECT_FALSE(exif_user_comment(plain).has_value());
  const std::string webp = encode_image(image, "webp", {{"parameters", kInfotext}});
  ASSERT_EQ(webp.compare(0, 4, "RIFF"), 0);
  EXPECT_EQ(le32(webp, 4), webp.size() - 8);
  ASSERT_EQ(webp.compare(12, 4, "VP8X"), 0);
  EXPECT_EQ(le32(webp, 16), 10u);
  EXPECT_EQ(static_cast<unsigned char>(webp[20]) & 0x08, 0x08);  // EXIF flag
  const auto canvas = [&](std::size_t at) {
    return 1 + (static_cast<unsigned char>(webp[at]) |
                static_cast<unsigned char>(webp[at + 1]) << 8 |
                static_cast<unsigned char>(webp[at + 2]) << 16);
  };
  EXPECT_EQ(canvas(24), 33);
  EXPECT_EQ(canvas(27), 17);
  EXPECT_EQ(webp.compare(30, 4, plain.substr(12, 4)), 0);  // the image chunk follows unchanged
  EXPECT_EQ(embedded_parameters(webp), kInfotext);
}

TEST(Exif, AnExtendedWebpKeepsItsChunksAndGainsTheFlag) {
  std::string vp8x = "VP8X";
  vp8x += std::string("\x0a\0\0\0", 4) + std::string("\x10\0\0\0", 4) +
          std::string("\x01\0\0\x01\0\0", 6);
  const std::string body = "WEBP" + vp8x + "ALPH" + std::string("\x02\0\0\0", 4) + "ab";
  std::string riff = "RIFF";
  for (int i = 0; i < 4; ++i) riff.push_back(static_cast<char>((body.size() >> (8 * i)) & 0xFF));
  const std::string out = insert_webp_exif(riff + body, exif_user_comment_block("x"), 2, 2);
  EXPECT_EQ(static_cast<unsigned char>(out[20]), 0x18);  // alpha flag kept, EXIF flag set
  EXPECT_EQ(out.substr(30, 10), "ALPH" + std::string("\x02\0\0\0", 4) + "ab");
  EXPECT_EQ(exif_user_comment(out), "x");
}

TEST(Exif, AJpegSegmentTooLongForTheTextIsLeftOut) {
  const std::string jpeg = encode_image(gradient(8, 8), "jpeg");
  const std::string long_text(40000, 'a');  // 80,000 bytes of UTF-16: more than one segment holds
  EXPECT_EQ(insert_jpeg_exif(jpeg, exif_user_comment_block(long_text)), jpeg);
  EXPECT_EQ(exif_user_comment(encode_image(gradient(8, 8), "webp", {{"parameters", long_text}})),
            long_text);
}

TEST(Exif, ReadsLittleEndianAndAsciiComments) {
  // A little-endian block as other writers make it: II, UserComment "ASCII\0\0\0hello".
  std::string tiff("II\x2a\0\x08\0\0\0", 8);
  tiff += std::string("\x01\0\x69\x87\x04\0\x01\0\0\0\x1a\0\0\0\0\0\0\0", 18);
  tiff += std::string("\x01\0\x86\x92\x07\0\x0d\0\0\0\x2c\0\0\0\0\0\0\0", 18);
  tiff += std::string("ASCII\0\0\0hello", 13);
  const std::string jpeg = insert_jpeg_exif(encode_image(gradient(8, 8), "jpeg"), tiff);
  EXPECT_EQ(exif_user_comment(jpeg), "hello");
  EXPECT_FALSE(exif_user_comment("not an image").has_value());
  EXPECT_FALSE(
      exif_user_comment(std::string("\xFF\xD8\xFF\xE1\xFF\xFF", 6)).has_value());  // truncated
}

}  // namespace
}  // namespace workers
