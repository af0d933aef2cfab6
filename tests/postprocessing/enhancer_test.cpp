// Tests for the enhancer worker: option parsing (bounds, types, unknown keys, face restoration,
// a random-shape sweep), the canonical JSON and infotext, and each operation against PIL, OpenCV
// and A1111 semantics.
//
// The expected images below were made with Pillow 9.4 (ImageEnhance, ImageFilter.UnsharpMask) and,
// for colour correction, A1111's apply_color_correction run with OpenCV 4.6 and scikit-image 0.19
// (blendmodes' LUMINOSITY blend written out from its source), all on the `pattern` images below.
#include "postprocessing/workers/enhancer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iterator>
#include <random>
#include <string>

#include <gtest/gtest.h>
#include <opencv2/imgproc.hpp>

#include "support/errors.h"
#include "utilities/cv_image.h"
#include "utilities/error.h"

namespace workers {
namespace {

using testing_support::catch_error;
using Json = nlohmann::json;

// The reference script's test image: a deterministic pattern with edges and every level range.
Image pattern(int width, int height, int channels, int seed) {
  Image image{width, height, channels, {}};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      for (int k = 0; k < channels; ++k) {
        image.pixels.push_back(static_cast<std::uint8_t>(
            (x * x * 13 + y * 29 + k * 71 + x * y * 5 + seed * 31 + 17 * ((x + 2 * y + k) % 3)) % 256));
      }
    }
  }
  return image;
}

Image from_hex(int width, int height, int channels, const std::string& hex) {
  Image image{width, height, channels, {}};
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    image.pixels.push_back(static_cast<std::uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  EXPECT_EQ(image.pixels.size(), static_cast<std::size_t>(width) * height * channels);
  return image;
}

// Every sample equal, else the first difference (easier to read than two arrays).
void expect_same(const Image& actual, const Image& expected) {
  ASSERT_EQ(actual.width, expected.width);
  ASSERT_EQ(actual.height, expected.height);
  ASSERT_EQ(actual.channels, expected.channels);
  ASSERT_EQ(actual.pixels.size(), expected.pixels.size());
  int differences = 0;
  std::size_t first = 0;
  for (std::size_t i = 0; i < actual.pixels.size(); ++i) {
    if (actual.pixels[i] != expected.pixels[i] && differences++ == 0) first = i;
  }
  EXPECT_EQ(differences, 0) << "first at sample " << first << ": got " << int(actual.pixels[first]) << ", expected "
                            << int(expected.pixels[first]);
}

EnhanceOptions parse(const Json& json) { return parse_enhance_options(json, "postprocess.enhance"); }

Image enhanced(const Image& image, const Json& json, const Image* init = nullptr) {
  return enhance(image, parse(json), init);
}

// The field and message a parse failure reports.
testing_support::Caught parse_error(const Json& json) {
  return catch_error([&] { parse(json); });
}

// rgb
constexpr const char* kRgb =
    "0058b01e769b567bd375cd25e1395e678ce4d42c848ee60b3f64bc2f87df6cc4e9c3e8400159b18ce4093156aebd156d"
    "4ba3c87398f082da32de365b5479d1b109615bb3d81f449c57af0784dc01cbf048f951a974ccf1092e8685dd354ea6cb"
    "96bb1395ed45e1395e476cc494ec442e86abe2075f7dd52da2fa1fd9fe56f74fa762badfe70c6453ab030c6489df045c";

// gray
constexpr const char* kGray =
    "1f3d75940086f3ad5e4e8be220ab50dc6a92a1fd73d07a3e76a3ea189328a46db5b40066b34d019cc1f8168106722bfe";

// brightness 0.5
constexpr const char* kBrightness05 =
    "002c580f3b4d2b3d693a6612701c2f3346726a16424773051f325e17436f366274617420002c58467204182b575e0a36"
    "255164394c78416d196f1b2d2a3c685804302d596c0f224e2b5703426e006578247c28543a6678041743426e1a275365"
    "4b5d094a7622701c2f2336624a762217435571032f3e6a16517d0f6c7f2b7b2753315d6f7306322955010632446f022e";

// brightness 1.7
constexpr const char* kBrightness17 =
    "0095ff33c8ff92d1ffc6ff3eff609fafeeffff4ae0f1ff126baaff4fe5ffb7ffffffff6c0197ffeeff0f5392ffff23b9"
    "7fffffc3ffffddff55ff5b9a8ecdffff0fa49affff3473ff93ff0be0ff01ffff7aff89ffc5ffff0f4ee3e2ff5a84ffff"
    "ffff20fdff75ff609f78b7fffbff734ee3ffff0ba1d4ff4cffff34ffff92ff86ffa6ffffff14aa8dff0514aae8ff069c";

// contrast 0.6
constexpr const char* kContrast06 =
    "356a9e477c92687fb37bb04bbc576d7389beb44f848abf3b5b71a65186bb76aac1aac05b356a9f89be3a52689da64176"
    "6297ad7a90c583b853ba556b677db29f3a6f6ba0b6475e92699e3984b935afc560ca659a7aafc53a508585b9556498af"
    "8fa5408ec35ebc576d5f76aa8ec25e50859bbc396e80b55096cb47b7cd68c9649970a4bbbf3c71679b373c7187bb376c";

// contrast 2.5
constexpr const char* kContrast25 =
    "0014f0005fbc0f6cff5dff00ff00233a96ffff00829bff000032ff008aff46ffffffff000017f396ff00000febff0049"
    "00d0ff58b4ff7dff00ff001c0a67fff3002b1cf8ff0000be12ee0082ff00ffff00ff03df5affff00008785ff0000d7ff"
    "afff00adff00ff00230046ffaaff000087e4ff002671ff00cdff00ffff0fff00da2dffffff003208e40000328fff001e";

// contrast gray 1.8
constexpr const char* kContrastGray18 =
    "00096ea6008dffd3452896ff00cf2cff5aa2bdff6bff770b70c1ff00a400c360e1e00053de2600b4f7ff0084006900ff";

// saturation 0.3
constexpr const char* kSaturation03 =
    "324c674c66716f7a9493ad7b915e69808ba5885670a7c28058637d617b969ab4bfc7d3a0334d68a5c07e4a556f713f59"
    "79939e8c97b1a0ba888e5b666d789265334d89a3ae38435d758f5d9db876cfdba8ad7b95a2bcc7222d47a3bd8b7c96a1"
    "9aa673b3cd9b915e69606b85b2cc9a5c76817d3c569bb583bbd694dde9b6ab799390aab582415b718b593a545f7a3953";

// saturation 3.0
constexpr const char* kSaturation30 =
    "0078ff00a2ff0e7dff1fff00ff003c1f8effff00bc44ff000066ff00a7ff00f0ffb5ff000079ff42ff000058ffff00a5"
    "00cfff2b9aff2cff00ff00390c7bffff009900dfff0046ff01ff003aff00bdff00ff00e100f8ff0030ff2fff0000d2ff"
    "88f7003fff00ff003c006eff3eff0000b2ffff007727ff0058ff00cbff00ff00df00e6ffff007c00ff000090ffff0074";

// L
constexpr const char* kLuma =
    "48607aa06f8b68b36377aeca49b155518d97ad6c78459d4382a9d28db62db0909dc06f6bbf7053a8c7e08ba4587e4e50";

// unsharp 2 150 3
constexpr const char* kUnsharp2_150_3 =
    "0096ff38f1ffc2ff00ff0045007ed5e1ff000054ffff000ad0ff0028ea003ffaff92d200a4ff00ff003f0579ffd9002a"
    "7db8ff5dff00f6000000008a00ceffff000054bcffff10f9ff001bffff00ddff1bff00000000960095ffd0ff000033fe"
    "95ff00ffff00ff00690074ccb6ff00ff04d5beff002a82ff0029ff000f7d0000a80027ff0fdafff3ff00ff0dde8cff00"
    "abff02ff000000009e00b4ffff0000005cffff0061a2ff005dadff00a1ff17d8ff8ed3ffc4ff00ff11666ad5ffff00a3"
    "ffff18ff00930071cf98f500ff008959ffff0000c8ff004adfff00e7ff00b0ff00ff000000009a00d1ffff00003db0ff"
    "ff00260000b000a9ffdfff000000d8b6ff0002d5ff0000c1ff008eff001eff006d0029fc2cfcffffff00006dffff0000"
    "ff00b20087cd8adfffff004a00cbffff00446bff0004d7ff0036ff0057ff00b6ff7dd5ffe0ff090055aed6ff000060ff"
    "000dc400afffc2ff0000008c49ff000041a1ffff097bff0062ffff8ae7007bff00ff00000000c13bff00ff076ccdff00"
    "00a2e289d5fff60017007cd2ffff0000a3ffff1378ff0027e0ff1dff0000ff00470028fc3fffffff003a00d5ffff1182"
    "00b7ffafff00ff005400caffff001e98ff000083ff003ca10000a3ff00e40082e466cbffec002e009afbffff0d04eb00"
    "8ccfffd2ff03003f929cff00ff28f0ef000082f2ff00b1ff00b4ff2880ff35ff00ff00000004e370ff000070d8ff0036"
    "a3ff00ff00360077ffdb00000080ffff009de30000bfff005aff00b2ff00ffff22ff0bf747ffffff007c58ff0000a1ff";

// unsharp 0.7 250 0
constexpr const char* kUnsharp07_250_0 =
    "1480ff41cfffadff00ff00590081d3ffff000056ffff00039eff0010ac0036c0ff85c000a2ff14ff0025008ffff80013"
    "9184ff45ff00ff000000008800f1ffff000029c8ffff2ee2ff001fffff1ce9ff15ff00020000950084ffe7ff000019ff"
    "7dff00e3ff01ff008b009cd2baff00ff00f99bff001073ff0038f1000855000085003ef42cdbffe3ff00ff00ff69ff00"
    "75ff4aff000d00009a00e4ffff00000080ffff006e96ff007985ff008aff3ad2ffa9daffcdff00ff004c08ffffff008e"
    "ffff3bff009e008bd0adf500ff009358ffff0000b1ff0064b9ff00c8ff0082ff00ff000000008a00e4ffff00000ef6ff"
    "ff002b000092009cfffaff000000f2c5ff0020d1ff0000abff0096ff0027ff006d003ae94be6ffffff00006fffff0000"
    "ff1fa6009b91a6dcffff003900f7ffff00525eff001fc7ff002fe80060ff00bdff98d6ffffff000000f1ffff00005dff"
    "00199700a2ffe9ff000000bd79ff00001ebfffff245bff0063ffff92e10065ff00ff00000000da36ff00ff0090aaff00"
    "0d999b98d4fff5000d008de7ffff00008bffff0162ff0030daff1ae90000ff0058004fe558ffffff001200e0ffff0099"
    "0785ff9fff00ff006100e7ffff002695ff000087ff005d69000080ff23d700aade85ffffff000000a0ffffff0000f300"
    "878cffd1ff02002fb0a1ff00ff3fffc4000091ffff00a2ff17aaff285eff25ff00ff0000001be590ff00004affff0046"
    "7aff00ff005100b8ffff000000c0ffff19a8c20000cfff006eeb00a9ff00ffff4fff00f01dffffff008167ff0000aaff";

// unsharp 5.5 80 10
constexpr const char* kUnsharp55_80_10 =
    "0fa1ff44d7ffa8e100e0004c006cb3c5ff000056faff0022bafd003ddd004aedff85d0008eff12ff0d512c79ffc70045"
    "7db6ff63f500cf000000007e0fa5ffff001b64a1ffff2fd1ff0031ffff1ab9ff32fe001d0000920096ffbeff000045e0"
    "95ff00dcff00f600630066ada3df00ff17baaeff004282ff0047ea003a7d0000a10050f028ceffd3ff00ff30ce8cff00"
    "a9ff15fa000b000086008fffdc00001b59fcf9007395ff0061a4ff009fff28caff81c7ffa9ff24ff3a7b7dc2ffff0ba7"
    "ffff2cff0083006bb385c700ff00825df7ff0015b8ea005fbeff00c1ff0096ff0ff700150004a41dc3ffff002859a6ff"
    "ff00420001a5008dffbbff00001cc09eff131fbbff0010b3ff0091ff0043ff007c0047e83ce0ffffff210079fff50014"
    "ff10b40080c57ebbffea005f16b1faff00566aff0021bfff084bef0062ff05a6ee7dbeffbcff360065aac0ff000073ff"
    "0026cc019affa3ff0000008f4fea00004f98ffff2b7bff0065ffff83c7007bff00f0000d0014b74cee00ff2b75beff00"
    "008fe27db9ffca0042007cc1e3ff00008bffff2e78ff0042c1ff3ae80006ff005c003de04ff0ffff004f1bbdffff3179"
    "11acff97ff00ff00700aa6ffff00398bd400007dff004c96000097ff23c80082cb70b4ffd00049008ad8ffff262bcc00"
    "82c3ffb5ff2f0045928dd600ff28cfd3000082c3ff00a0ff0babf54586ff51f100e800050026ca7fff000079b9ff003e"
    "96ff00ff004f006dffc400001e61ffff0091cb0000b0f40068ff00aaff00ffff3aff34d963ffffff007c66ff00008cda";

// unsharp gray 1.3 120 2
constexpr const char* kUnsharpGray13_120_2 =
    "2761daff00ff00ffea526cc4ea006cffa07eff0031ff9100ffffffff0026ff23a8ffff00e500ee690000000066ff00eb"
    "b4ff0018ff39ffcc91215ac8ff00c600ffff00c3ff8b00fffbffddff004fff96ff0018ff00e84900ffff000075ff00ff"
    "000dc2ff4800ac47240030c1ff00ff00263af7009000ffb29dc8bfff009a00ff3acdff00ff1e00ffffff00009c006100"
    "48ef0039ffd20000000011beff26ff66cdff00e400ffb32338808bff11cc00ffea0005ff39fffee99aeaff00b000b01b";

// cc out
constexpr const char* kColorCorrected =
    "9df544c20548e904612870c999dc40163a9489cb270d99d1da1d57af038ec80b4bcf0052bbff56bf1489166bbf5f81dd"
    "9df6450d98cfb5f44287b1152999c0265ab3d64c8d0a94d8d83452124aa11388df9ad644de017d14c1f4e34351b6de37"
    "90bc1f73ba82798cd292be21d240892183d16389e297f03d256ec3a4cb2e148be3da3654b5f44299f240b2003bc6004f"
    "2b66c00ba2ef99dc40cf00520d9fecc51949899abd247ad31863b9163a94ce39840b90d4529b9f7c91d395ee3eef4d2b"
    "7ba8bcd03b86a9ff318098cc0aa7f24f999d5d80db91ba1e13bef187e237bf004c247ad3a1fc364671cdae2492a8003a"
    "9fc3267bd72e9cf33bbbff56a4ab1a99f240e03e4f6389e2b80b9795c551335eb9bb298ac82049cb0051bb298a1187d6";

// ---------------------------------------------------------------------------------------------
// Parsing

TEST(EnhanceOptions, ReadsEveryOptionAndRoundTripsThroughCanonicalJson) {
  const auto options = parse(Json::parse(R"({
    "sharpen": {"amount": 0.5, "radius": 1.5, "threshold": 2}, "brightness": 1.1, "contrast": 1.2,
    "saturation": 0.9, "clahe": {"clip_limit": 3, "tile_grid": 4}, "denoise": {"strength": 7},
    "color_correction": true})"));
  ASSERT_TRUE(options.sharpen);
  EXPECT_EQ(options.sharpen->amount, 0.5);
  EXPECT_EQ(options.sharpen->radius, 1.5);
  EXPECT_EQ(options.sharpen->threshold, 2);
  EXPECT_EQ(options.brightness, 1.1);
  EXPECT_EQ(options.contrast, 1.2);
  EXPECT_EQ(options.saturation, 0.9);
  ASSERT_TRUE(options.clahe);
  EXPECT_EQ(options.clahe->clip_limit, 3.0);
  EXPECT_EQ(options.clahe->tile_grid, 4);
  ASSERT_TRUE(options.denoise);
  EXPECT_EQ(options.denoise->strength, 7.0);
  EXPECT_TRUE(options.color_correction);
  EXPECT_EQ(parse(to_json(options)), options);
}

TEST(EnhanceOptions, LeftOutSubFieldsTakeTheDefaultsAndNullIsAbsent) {
  const auto options = parse(Json::parse(
      R"({"sharpen": {}, "clahe": {}, "denoise": {}, "brightness": null, "color_correction": false})"));
  EXPECT_EQ(options.sharpen, SharpenOptions{});  // PIL's UnsharpMask(2, 150, 3)
  EXPECT_EQ(options.sharpen->amount, 1.5);
  EXPECT_EQ(options.sharpen->radius, 2.0);
  EXPECT_EQ(options.sharpen->threshold, 3);
  EXPECT_EQ(options.clahe, ClaheOptions{});
  EXPECT_EQ(options.denoise, DenoiseOptions{});
  EXPECT_FALSE(options.brightness);
  EXPECT_FALSE(options.color_correction);
  EXPECT_TRUE(parse(Json::object()).empty());
  EXPECT_EQ(to_json(parse(Json::object())), Json::object());
}

TEST(EnhanceOptions, CanonicalJsonFillsEverySubField) {
  const auto json = to_json(parse(Json::parse(R"({"sharpen": {"amount": 0.5}, "contrast": 1.25})")));
  EXPECT_EQ(json, Json::parse(R"({"sharpen": {"amount": 0.5, "radius": 2.0, "threshold": 3}, "contrast": 1.25})"));
}

TEST(EnhanceOptions, EveryBoundIsCheckedAndNamesItsField) {
  struct Case {
    const char* json;
    const char* field;
    const char* message;
  };
  const Case cases[] = {
      {R"({"sharpen": {"amount": 7}})", "postprocess.enhance.sharpen.amount", "must be between 0 and 5, got 7"},
      {R"({"sharpen": {"amount": -0.1}})", "postprocess.enhance.sharpen.amount", "must be between 0 and 5, got -0.1"},
      {R"({"sharpen": {"radius": 0.05}})", "postprocess.enhance.sharpen.radius", "must be between 0.1 and 50, got 0.05"},
      {R"({"sharpen": {"radius": 51}})", "postprocess.enhance.sharpen.radius", "must be between 0.1 and 50, got 51"},
      {R"({"sharpen": {"threshold": -1}})", "postprocess.enhance.sharpen.threshold", "must be between 0 and 255, got -1"},
      {R"({"sharpen": {"threshold": 256}})", "postprocess.enhance.sharpen.threshold", "must be between 0 and 255, got 256"},
      {R"({"brightness": -1})", "postprocess.enhance.brightness", "must be between 0 and 4, got -1"},
      {R"({"brightness": 4.5})", "postprocess.enhance.brightness", "must be between 0 and 4, got 4.5"},
      {R"({"contrast": 5})", "postprocess.enhance.contrast", "must be between 0 and 4, got 5"},
      {R"({"contrast": -0.5})", "postprocess.enhance.contrast", "must be between 0 and 4, got -0.5"},
      {R"({"saturation": 9})", "postprocess.enhance.saturation", "must be between 0 and 4, got 9"},
      {R"({"saturation": -2})", "postprocess.enhance.saturation", "must be between 0 and 4, got -2"},
      {R"({"clahe": {"clip_limit": 41}})", "postprocess.enhance.clahe.clip_limit", "must be between 0 and 40, got 41"},
      {R"({"clahe": {"clip_limit": -1}})", "postprocess.enhance.clahe.clip_limit", "must be between 0 and 40, got -1"},
      {R"({"clahe": {"tile_grid": 0}})", "postprocess.enhance.clahe.tile_grid", "must be between 1 and 64, got 0"},
      {R"({"clahe": {"tile_grid": 65}})", "postprocess.enhance.clahe.tile_grid", "must be between 1 and 64, got 65"},
      {R"({"denoise": {"strength": 31}})", "postprocess.enhance.denoise.strength", "must be between 0 and 30, got 31"},
      {R"({"denoise": {"strength": -3}})", "postprocess.enhance.denoise.strength", "must be between 0 and 30, got -3"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    const auto e = parse_error(Json::parse(c.json));
    EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(e.field, c.field);
    EXPECT_EQ(e.message, std::string(c.field) + ": " + c.message);
  }
  // The bounds themselves are allowed.
  EXPECT_NO_THROW(parse(Json::parse(R"({"sharpen": {"amount": 0, "radius": 0.1, "threshold": 0},
      "brightness": 0, "contrast": 4, "saturation": 4, "clahe": {"clip_limit": 0, "tile_grid": 1},
      "denoise": {"strength": 30}})")));
  EXPECT_NO_THROW(parse(Json::parse(R"({"sharpen": {"amount": 5, "radius": 50, "threshold": 255},
      "clahe": {"clip_limit": 40, "tile_grid": 64}, "denoise": {"strength": 0}})")));
}

TEST(EnhanceOptions, WrongTypesAreRefusedNamingTheField) {
  struct Case {
    const char* json;
    const char* field;
  };
  const Case cases[] = {
      {R"({"sharpen": 0.5})", "postprocess.enhance.sharpen"},
      {R"({"sharpen": {"amount": "1"}})", "postprocess.enhance.sharpen.amount"},
      {R"({"sharpen": {"radius": true}})", "postprocess.enhance.sharpen.radius"},
      {R"({"sharpen": {"threshold": 2.5}})", "postprocess.enhance.sharpen.threshold"},
      {R"({"sharpen": {"threshold": "3"}})", "postprocess.enhance.sharpen.threshold"},
      {R"({"brightness": "1.2"})", "postprocess.enhance.brightness"},
      {R"({"contrast": [1]})", "postprocess.enhance.contrast"},
      {R"({"saturation": {}})", "postprocess.enhance.saturation"},
      {R"({"clahe": true})", "postprocess.enhance.clahe"},
      {R"({"clahe": {"clip_limit": "2"}})", "postprocess.enhance.clahe.clip_limit"},
      {R"({"clahe": {"tile_grid": 8.5}})", "postprocess.enhance.clahe.tile_grid"},
      {R"({"denoise": 5})", "postprocess.enhance.denoise"},
      {R"({"denoise": {"strength": false}})", "postprocess.enhance.denoise.strength"},
      {R"({"color_correction": 1})", "postprocess.enhance.color_correction"},
      {R"({"color_correction": "true"})", "postprocess.enhance.color_correction"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    const auto e = parse_error(Json::parse(c.json));
    EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(e.field, c.field);
    EXPECT_EQ(e.message.rfind(std::string(c.field) + ": must be", 0), 0u) << e.message;
  }
  // A whole number written as a float is still an integer.
  EXPECT_EQ(parse(Json::parse(R"({"sharpen": {"threshold": 3.0}})")).sharpen->threshold, 3);
  const auto e = parse_error(Json::array());
  EXPECT_EQ(e.field, "postprocess.enhance");
}

TEST(EnhanceOptions, UnknownKeysAreRefusedByName) {
  struct Case {
    const char* json;
    const char* field;
  };
  const Case cases[] = {
      {R"({"sharpness": 2})", "postprocess.enhance.sharpness"},
      {R"({"sharpen": {"percent": 150}})", "postprocess.enhance.sharpen.percent"},
      {R"({"clahe": {"tiles": 8}})", "postprocess.enhance.clahe.tiles"},
      {R"({"denoise": {"h": 3}})", "postprocess.enhance.denoise.h"},
      {R"({"brightness": 1, "gamma": null})", "postprocess.enhance.gamma"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.json);
    const auto e = parse_error(Json::parse(c.json));
    EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(e.field, c.field);
    EXPECT_NE(e.message.find("unknown enhance option"), std::string::npos) << e.message;
  }
  // The prefix is the caller's, whatever it is.
  const auto e = catch_error([] { parse_enhance_options(Json::parse(R"({"x": 1})"), "Postprocess.Enhance"); });
  EXPECT_EQ(e.field, "Postprocess.Enhance.x");
}

TEST(EnhanceOptions, FaceRestorationIsRefusedWithTheReasonAndWhereToRunIt) {
  for (const char* json : {R"({"face_restoration": "GFPGAN"})", R"({"face_restoration": "CodeFormer"})",
                           R"({"face_restoration": true, "brightness": 1.2})", R"({"face_restoration": ""})"}) {
    SCOPED_TRACE(json);
    const auto e = parse_error(Json::parse(json));
    EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(e.field, "postprocess.enhance.face_restoration");
    EXPECT_NE(e.message.find("does not ship"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("A1111"), std::string::npos) << e.message;
    EXPECT_NE(e.message.find("ComfyUI"), std::string::npos) << e.message;
  }
  EXPECT_TRUE(parse(Json::parse(R"({"face_restoration": null})")).empty());
}

// Random JSON shapes (known and unknown keys, every value type, nesting) either parse or throw
// workers::Error(kInvalidRequest) naming a field under the prefix; what parses also runs.
TEST(EnhanceOptions, RandomShapesNeverCrash) {
  std::mt19937 rng(20240601);
  const char* keys[] = {"sharpen", "brightness", "contrast", "saturation", "clahe", "denoise",
                        "color_correction", "face_restoration", "amount", "radius", "threshold",
                        "clip_limit", "tile_grid", "strength", "", "x"};
  std::function<Json(int)> value = [&](int depth) -> Json {
    switch (rng() % (depth > 2 ? 7 : 9)) {
      case 0: return nullptr;
      case 1: return rng() % 2 == 0;
      case 2: return static_cast<int>(rng() % 300) - 20;
      case 3: return std::uniform_real_distribution<double>(-2.0, 60.0)(rng);
      case 4: return std::string(rng() % 4, 'a');
      case 5: return (rng() % 2 ? 1e300 : -1e300);
      case 6: return static_cast<std::uint64_t>(rng()) << 40;
      case 7: {
        Json list = Json::array();
        for (unsigned i = rng() % 3; i > 0; --i) list.push_back(value(depth + 1));
        return list;
      }
      default: {
        Json object = Json::object();
        for (unsigned i = rng() % 4; i > 0; --i) object[keys[rng() % std::size(keys)]] = value(depth + 1);
        return object;
      }
    }
  };
  const Image image = pattern(6, 5, 3, 7);
  const Image init = pattern(4, 4, 3, 8);
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    Json json = Json::object();
    for (unsigned k = rng() % 4; k > 0; --k) json[keys[rng() % 8]] = value(1);
    if (rng() % 20 == 0) json = value(0);
    try {
      const auto options = parse(json);
      ++parsed;
      const auto out = enhance(image, options, &init);
      EXPECT_EQ(out.pixels.size(), image.pixels.size());
      EXPECT_EQ(parse(to_json(options)), options);
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kInvalidRequest) << json.dump();
      EXPECT_EQ(e.field().rfind("postprocess.enhance", 0), 0u) << json.dump() << " -> " << e.field();
    }
  }
  EXPECT_GT(parsed, 50);  // the sweep reaches enhance(), not only the error paths
}

TEST(EnhanceOptions, InfotextNamesEachOptionInTheOrderTheyRun) {
  EXPECT_EQ(infotext(EnhanceOptions{}), "");
  EXPECT_EQ(infotext(parse(Json::parse(R"({"sharpen": {"amount": 0.5}, "contrast": 1.2, "color_correction": true})"))),
            "Color correction: True, Contrast: 1.2, Sharpen: 0.5, Sharpen radius: 2, Sharpen threshold: 3");
  EXPECT_EQ(infotext(parse(Json::parse(R"({"saturation": 0.9, "brightness": 1.1, "denoise": {"strength": 4.5},
      "clahe": {"clip_limit": 2, "tile_grid": 6}})"))),
            "Denoise: 4.5, CLAHE: 2, CLAHE grid: 6, Brightness: 1.1, Saturation: 0.9");
}

// ---------------------------------------------------------------------------------------------
// PIL's ImageEnhance

TEST(Enhance, TheTestPatternIsTheReferenceScriptsOne) {
  expect_same(pattern(8, 6, 3, 0), from_hex(8, 6, 3, kRgb));
  expect_same(pattern(8, 6, 1, 1), from_hex(8, 6, 1, kGray));
}

TEST(Enhance, BrightnessBlendsWithBlackAsPil) {
  const Image image = pattern(8, 6, 3, 0);
  const Image half = enhanced(image, {{"brightness", 0.5}});
  // By hand: half of each level, PIL truncating (255 -> 127, 1 -> 0).
  for (std::size_t i = 0; i < image.pixels.size(); ++i) EXPECT_EQ(half.pixels[i], image.pixels[i] / 2);
  expect_same(half, from_hex(8, 6, 3, kBrightness05));
  expect_same(enhanced(image, {{"brightness", 1.7}}), from_hex(8, 6, 3, kBrightness17));  // clipped at 255
  for (auto v : enhanced(image, {{"brightness", 0}}).pixels) EXPECT_EQ(v, 0);
}

TEST(Enhance, ContrastBlendsWithTheMeanGreyOfPilsL) {
  const Image image = pattern(8, 6, 3, 0);
  // Contrast 0 is flat grey at int(mean(L) + 0.5), L being PIL's convert("L").
  const Image luma = from_hex(8, 6, 1, kLuma);
  double sum = 0;
  for (auto v : luma.pixels) sum += v;
  const int mean = static_cast<int>(sum / luma.pixels.size() + 0.5);
  for (auto v : enhanced(image, {{"contrast", 0}}).pixels) EXPECT_EQ(v, mean);
  expect_same(enhanced(image, {{"contrast", 0.6}}), from_hex(8, 6, 3, kContrast06));
  expect_same(enhanced(image, {{"contrast", 2.5}}), from_hex(8, 6, 3, kContrast25));
  expect_same(enhanced(pattern(8, 6, 1, 1), {{"contrast", 1.8}}), from_hex(8, 6, 1, kContrastGray18));
}

TEST(Enhance, SaturationZeroIsPilsGreyAndOthersBlendWithIt) {
  const Image image = pattern(8, 6, 3, 0);
  const Image luma = from_hex(8, 6, 1, kLuma);
  // By hand for one pixel: (r*19595 + g*38470 + b*7471 + 0x8000) >> 16.
  const auto* p = &image.pixels[0];
  EXPECT_EQ(luma.pixels[0], (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16);
  const Image gray = enhanced(image, {{"saturation", 0}});
  for (std::size_t i = 0; i < gray.pixels.size(); ++i) EXPECT_EQ(gray.pixels[i], luma.pixels[i / 3]);
  expect_same(enhanced(image, {{"saturation", 0.3}}), from_hex(8, 6, 3, kSaturation03));
  expect_same(enhanced(image, {{"saturation", 3.0}}), from_hex(8, 6, 3, kSaturation30));
  const Image grey_image = pattern(8, 6, 1, 1);
  expect_same(enhanced(grey_image, {{"saturation", 3.0}}), grey_image);  // nothing to saturate
}

TEST(Enhance, FactorOneAndNoOptionsChangeNothing) {
  const Image image = pattern(8, 6, 3, 0);
  expect_same(enhanced(image, {{"brightness", 1}, {"contrast", 1}, {"saturation", 1}}), image);
  expect_same(enhance(image, EnhanceOptions{}, nullptr), image);
}

// ---------------------------------------------------------------------------------------------
// PIL's UnsharpMask

TEST(Enhance, SharpenIsPilsUnsharpMask) {
  const Image image = pattern(16, 12, 3, 2);
  expect_same(enhanced(image, Json::parse(R"({"sharpen": {"amount": 1.5, "radius": 2, "threshold": 3}})")),
              from_hex(16, 12, 3, kUnsharp2_150_3));
  expect_same(enhanced(image, Json::parse(R"({"sharpen": {"amount": 2.5, "radius": 0.7, "threshold": 0}})")),
              from_hex(16, 12, 3, kUnsharp07_250_0));
  expect_same(enhanced(image, Json::parse(R"({"sharpen": {"amount": 0.8, "radius": 5.5, "threshold": 10}})")),
              from_hex(16, 12, 3, kUnsharp55_80_10));
  expect_same(enhanced(pattern(16, 12, 1, 3), Json::parse(R"({"sharpen": {"amount": 1.2, "radius": 1.3, "threshold": 2}})")),
              from_hex(16, 12, 1, kUnsharpGray13_120_2));
  // A blur window wider than the image (PIL's other edge branch): Pillow's UnsharpMask(8, 300, 1).
  expect_same(enhanced(pattern(5, 4, 3, 12), Json::parse(R"({"sharpen": {"amount": 3, "radius": 8, "threshold": 1}})")),
              from_hex(5, 4, 3,
                       "00ff0065ff00ffff00ff00ff00ffffe6ff00a9ff08ff00300000ff00ff00ff0000ff004fff00ff00ffffffff00ff"
                       "00abff0093000dff00ff00ff0050"));
}

TEST(Enhance, SharpenWithAmountZeroOrFullThresholdIsIdentity) {
  const Image image = pattern(16, 12, 3, 2);
  expect_same(enhanced(image, Json::parse(R"({"sharpen": {"amount": 0, "radius": 3}})")), image);
  expect_same(enhanced(image, Json::parse(R"({"sharpen": {"amount": 5, "threshold": 255}})")), image);
  // A flat image has nothing to sharpen, whatever the radius (the blur repeats the edges).
  Image flat{9, 7, 3, std::vector<std::uint8_t>(9 * 7 * 3, 77)};
  expect_same(enhanced(flat, Json::parse(R"({"sharpen": {"amount": 5, "radius": 50, "threshold": 0}})")), flat);
}

// ---------------------------------------------------------------------------------------------
// A1111's colour correction

TEST(Enhance, ColorCorrectionIsA1111s) {
  const Image init = pattern(10, 9, 3, 4);
  Image result = pattern(12, 8, 3, 5);  // the reference script's tinted result: red up, blue down
  for (std::size_t i = 0; i < result.pixels.size(); i += 3) {
    result.pixels[i] = static_cast<std::uint8_t>(std::min(255, result.pixels[i] / 2 + 100));
    result.pixels[i + 2] = static_cast<std::uint8_t>(result.pixels[i + 2] / 3);
  }
  expect_same(enhanced(result, {{"color_correction", true}}, &init), from_hex(12, 8, 3, kColorCorrected));
}

// How far apart two images' histograms of LAB channel `ch` are (OpenCV 8-bit LAB, as A1111
// matches in): the L1 distance of their cumulative histograms, i.e. the earth mover's distance in
// levels.
double lab_histogram_distance(const Image& a, const Image& b, int ch) {
  auto cdf = [ch](const Image& image) {
    cv::Mat lab;
    cv::cvtColor(as_mat(image), lab, cv::COLOR_RGB2Lab);
    std::vector<double> counts(256, 0.0);
    for (std::size_t i = ch; i < lab.total() * 3; i += 3) counts[lab.data[i]] += 1.0;
    double cumulative = 0;
    for (auto& c : counts) c = (cumulative += c) / lab.total();
    return counts;
  };
  const auto ca = cdf(a), cb = cdf(b);
  double distance = 0;
  for (int v = 0; v < 256; ++v) distance += std::fabs(ca[v] - cb[v]);
  return distance;
}

TEST(Enhance, ColorCorrectionMovesATintedImagesColoursTowardTheInit) {
  const Image init = pattern(32, 24, 3, 9);
  Image tinted = init;  // a strong blue cast
  for (std::size_t i = 0; i < tinted.pixels.size(); i += 3) {
    tinted.pixels[i] = static_cast<std::uint8_t>(tinted.pixels[i] * 0.6);
    tinted.pixels[i + 2] = static_cast<std::uint8_t>(std::min(255, tinted.pixels[i + 2] + 70));
  }
  const Image corrected = enhanced(tinted, {{"color_correction", true}}, &init);
  // a and b (the colour) move toward the init's; L stays the result's (the luminosity blend).
  for (int ch : {1, 2}) {
    EXPECT_LT(lab_histogram_distance(corrected, init, ch), 0.5 * lab_histogram_distance(tinted, init, ch))
        << "LAB channel " << ch;
  }
  // Against itself it changes little: the same histogram maps every level to itself, and what is
  // left is the 8-bit LAB round trip, coarse in dark colours (A1111 gives the same: at most 8
  // levels, 0.75 on average, on this image).
  const Image same = enhanced(init, {{"color_correction", true}}, &init);
  double total = 0;
  for (std::size_t i = 0; i < same.pixels.size(); ++i) {
    const int d = std::abs(same.pixels[i] - init.pixels[i]);
    EXPECT_LE(d, 8);
    total += d;
  }
  EXPECT_LT(total / same.pixels.size(), 1.0);
}

TEST(Enhance, ColorCorrectionNeedsTheInitImage) {
  const auto e = catch_error([] { enhanced(pattern(4, 4, 3, 0), {{"color_correction", true}}); });
  EXPECT_EQ(e.code, ErrorCode::kInvalidRequest);
  EXPECT_EQ(e.field, "postprocess.enhance.color_correction");
  // A grey init counts as RGB; a grey result has no colour to correct.
  const Image gray_init = pattern(5, 5, 1, 3);
  EXPECT_EQ(enhanced(pattern(4, 4, 3, 0), {{"color_correction", true}}, &gray_init).channels, 3);
  const Image gray = pattern(4, 4, 1, 0);
  expect_same(enhanced(gray, {{"color_correction", true}}, &gray_init), gray);
}

// ---------------------------------------------------------------------------------------------
// OpenCV: CLAHE and denoise

double stddev_of_l(const Image& image) {
  cv::Mat l;
  if (image.channels == 1) {
    l = as_mat(image);
  } else {
    cv::Mat lab;
    cv::cvtColor(as_mat(image), lab, cv::COLOR_RGB2Lab);
    cv::extractChannel(lab, l, 0);
  }
  cv::Scalar mean, sd;
  cv::meanStdDev(l, mean, sd);
  return sd[0];
}

// A dull, low-contrast image: levels 100..140.
Image dull(int width, int height, int channels) {
  Image image = pattern(width, height, channels, 11);
  for (auto& v : image.pixels) v = static_cast<std::uint8_t>(100 + v * 40 / 255);
  return image;
}

TEST(Enhance, ClaheSpreadsTheLightnessOfADullImage) {
  for (int channels : {3, 1}) {
    const Image image = dull(64, 48, channels);
    const Image out = enhanced(image, Json::parse(R"({"clahe": {"clip_limit": 4, "tile_grid": 4}})"));
    EXPECT_EQ(out.channels, channels);
    EXPECT_GT(stddev_of_l(out), 1.3 * stddev_of_l(image)) << channels << " channels";
  }
  // More tiles than pixels per side still works (OpenCV pads).
  const Image tiny = pattern(5, 3, 3, 1);
  EXPECT_EQ(enhanced(tiny, Json::parse(R"({"clahe": {"tile_grid": 64}})")).pixels.size(), tiny.pixels.size());
}

TEST(Enhance, DenoiseSmoothsNoiseAndStrengthZeroLeavesTheImage) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0.0, 12.0);
  for (int channels : {3, 1}) {
    Image image{32, 32, channels, {}};
    for (int i = 0; i < 32 * 32 * channels; ++i) {
      image.pixels.push_back(static_cast<std::uint8_t>(std::clamp(128.0 + noise(rng), 0.0, 255.0)));
    }
    const Image out = enhanced(image, Json::parse(R"({"denoise": {"strength": 15}})"));
    EXPECT_EQ(out.channels, channels);
    cv::Scalar mean_in, sd_in, mean_out, sd_out;
    cv::meanStdDev(as_mat(image).reshape(1), mean_in, sd_in);
    cv::meanStdDev(as_mat(out).reshape(1), mean_out, sd_out);
    EXPECT_LT(sd_out[0], 0.5 * sd_in[0]) << channels << " channels";
    expect_same(enhanced(image, Json::parse(R"({"denoise": {"strength": 0}})")), image);
  }
}

// ---------------------------------------------------------------------------------------------
// The whole

TEST(Enhance, OperationsRunInTheDocumentedOrder) {
  const Image image = pattern(16, 12, 3, 2);
  const Image init = pattern(10, 10, 3, 6);
  const Json all = Json::parse(R"({"sharpen": {"amount": 1}, "brightness": 1.2, "contrast": 0.8,
      "saturation": 1.3, "clahe": {}, "denoise": {"strength": 5}, "color_correction": true})");
  // Colour correction, denoise, CLAHE, brightness, contrast, saturation, sharpen, one at a time.
  Image step = enhanced(image, {{"color_correction", true}}, &init);
  for (const char* one : {R"({"denoise": {"strength": 5}})", R"({"clahe": {}})", R"({"brightness": 1.2})",
                          R"({"contrast": 0.8})", R"({"saturation": 1.3})", R"({"sharpen": {"amount": 1}})"}) {
    step = enhanced(step, Json::parse(one));
  }
  expect_same(enhanced(image, all, &init), step);
  // And the order matters: brightness then contrast is not contrast then brightness.
  const Image bc = enhanced(enhanced(image, {{"brightness", 0.4}}), {{"contrast", 2.5}});
  const Image cb = enhanced(enhanced(image, {{"contrast", 2.5}}), {{"brightness", 0.4}});
  EXPECT_NE(bc.pixels, cb.pixels);
  expect_same(enhanced(image, {{"brightness", 0.4}, {"contrast", 2.5}}), bc);
}

TEST(Enhance, EmptyAndMalformedImages) {
  const Image empty{0, 0, 3, {}};
  EXPECT_TRUE(enhanced(empty, {{"brightness", 2}}).pixels.empty());
  const Image short_of_pixels{4, 4, 3, std::vector<std::uint8_t>(10)};
  EXPECT_EQ(catch_error([&] { enhanced(short_of_pixels, {{"brightness", 2}}); }).code, ErrorCode::kInternalError);
  const Image rgba{2, 2, 4, std::vector<std::uint8_t>(16)};
  EXPECT_EQ(catch_error([&] { enhanced(rgba, {{"brightness", 2}}); }).code, ErrorCode::kInternalError);
}

}  // namespace
}  // namespace workers
