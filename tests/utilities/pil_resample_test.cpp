// pil_resize against Pillow 9.4 itself: tests/fixtures/pil_resample/resample.bin holds small
// deterministic images and Image.resize's output for each filter, up, down, mixed and one axis
// only (made by tests/fixtures/tools/make_pil_resample_fixture.py). Expected: equal bytes.
#include "utilities/pil_resample.h"

#include <algorithm>
#include <cstdlib>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace workers {
namespace {

// test_utilities has no SDXL_FIXTURES_DIR; the fixture sits next to this source file's folder.
std::string fixture_path() {
  std::string here = __FILE__;
  here = here.substr(0, here.find_last_of('/'));
  return here + "/../fixtures/pil_resample/resample.bin";
}

PilFilter filter_named(const std::string& name) {
  if (name == "nearest") return PilFilter::kNearest;
  if (name == "bilinear") return PilFilter::kBilinear;
  if (name == "bicubic") return PilFilter::kBicubic;
  if (name == "lanczos") return PilFilter::kLanczos;
  throw std::runtime_error("unknown filter in fixture: " + name);
}

std::vector<std::uint8_t> read_bytes(std::istream& in, std::size_t count) {
  std::vector<std::uint8_t> bytes(count);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(count));
  if (static_cast<std::size_t>(in.gcount()) != count) throw std::runtime_error("fixture truncated");
  return bytes;
}

TEST(PilResample, MatchesPillowOnFixture) {
  std::ifstream file(fixture_path(), std::ios::binary);
  ASSERT_TRUE(file) << fixture_path();
  std::map<std::string, Image> inputs;
  std::map<std::string, int> max_diff_per_filter;
  int cases = 0;
  std::string line;
  while (std::getline(file, line) && line != "end") {
    std::istringstream header(line);
    std::string kind, name;
    header >> kind >> name;
    if (kind == "input") {
      Image image;
      header >> image.width >> image.height >> image.channels;
      image.pixels = read_bytes(file, static_cast<std::size_t>(image.width) * image.height * image.channels);
      inputs[name] = image;
      continue;
    }
    ASSERT_EQ(kind, "output") << line;
    std::string filter;
    int width = 0, height = 0;
    header >> filter >> width >> height;
    ASSERT_EQ(inputs.count(name), 1u) << line;
    const Image& input = inputs[name];
    const auto expected = read_bytes(file, static_cast<std::size_t>(width) * height * input.channels);
    const Image actual = pil_resize(input, width, height, filter_named(filter));
    ASSERT_EQ(actual.width, width) << line;
    ASSERT_EQ(actual.height, height) << line;
    ASSERT_EQ(actual.channels, input.channels) << line;
    ASSERT_EQ(actual.pixels.size(), expected.size()) << line;
    int max_diff = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) {
      max_diff = std::max(max_diff, std::abs(int(actual.pixels[i]) - int(expected[i])));
    }
    // Within one level is the contract; the implementation aims at (and is expected at) zero.
    EXPECT_LE(max_diff, 1) << line;
    max_diff_per_filter[filter] = std::max(max_diff_per_filter[filter], max_diff);
    ++cases;
  }
  EXPECT_EQ(line, "end") << "fixture did not end with its end marker";
  EXPECT_GE(cases, 60);
  for (const auto& [filter, diff] : max_diff_per_filter) {
    std::cout << "[ info ] " << filter << ": max |pil_resize - Pillow| = " << diff << "\n";
    EXPECT_EQ(diff, 0) << filter;
  }
}

TEST(PilResample, SameSizeIsACopy) {
  Image image{3, 2, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}};
  for (auto filter : {PilFilter::kNearest, PilFilter::kBilinear, PilFilter::kBicubic, PilFilter::kLanczos}) {
    EXPECT_EQ(pil_resize(image, 3, 2, filter).pixels, image.pixels);
  }
}

TEST(PilResample, RejectsEmptyImagesAndNonPositiveSizes) {
  const Image empty;
  EXPECT_THROW(pil_resize(empty, 4, 4, PilFilter::kBicubic), std::invalid_argument);
  Image image{2, 2, 1, {0, 64, 128, 255}};
  EXPECT_THROW(pil_resize(image, 0, 4, PilFilter::kBicubic), std::invalid_argument);
  EXPECT_THROW(pil_resize(image, 4, 0, PilFilter::kLanczos), std::invalid_argument);
  EXPECT_THROW(pil_resize(image, -1, 4, PilFilter::kNearest), std::invalid_argument);
  Image short_pixels{2, 2, 3, {1, 2, 3}};
  EXPECT_THROW(pil_resize(short_pixels, 4, 4, PilFilter::kBilinear), std::invalid_argument);
  Image five_channels{1, 1, 5, {1, 2, 3, 4, 5}};
  EXPECT_THROW(pil_resize(five_channels, 2, 2, PilFilter::kBilinear), std::invalid_argument);
}

}  // namespace
}  // namespace workers
