#include "models/io/safetensors_file.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "utilities/error.h"

namespace workers {
namespace {

std::string temp_path(const std::string& name) { return testing::TempDir() + "/st_" + name + ".safetensors"; }

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string with_header(const std::string& json, const std::string& data) {
  std::string out(8, '\0');
  std::uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json + data;
}

TEST(Safetensors, RoundTripsEveryDtypeBitwise) {
  torch::manual_seed(0);
  std::vector<std::pair<std::string, at::Tensor>> tensors = {
      {"f64", torch::randn({3, 2}, torch::kDouble)},
      {"f32", torch::randn({4, 5})},
      {"f16", torch::randn({7}).to(torch::kHalf)},
      {"bf16", torch::randn({2, 3, 2}).to(torch::kBFloat16)},
      {"i64", torch::arange(-5, 5, torch::kLong)},
      {"i32", torch::arange(0, 6, torch::kInt).reshape({2, 3})},
      {"i16", torch::arange(-3, 3, torch::kShort)},
      {"i8", torch::arange(-4, 4, torch::kChar)},
      {"u8", torch::arange(0, 255, torch::kByte)},
      {"bool", torch::tensor({true, false, true})},
      {"scalar", torch::tensor(3.5f)},
      {"empty", torch::zeros({0, 4})},
      {"strided", torch::randn({4, 6}).t()},
  };
  const auto path = temp_path("roundtrip");
  write_safetensors(path, tensors, {{"format", "pt"}});
  auto file = SafetensorsFile::open(path);
  EXPECT_EQ(file->metadata().at("format"), "pt");
  EXPECT_EQ(file->names().size(), tensors.size());
  for (const auto& [name, expected] : tensors) {
    auto loaded = file->tensor(name);
    EXPECT_EQ(loaded.scalar_type(), expected.scalar_type()) << name;
    EXPECT_EQ(loaded.sizes(), expected.sizes()) << name;
    EXPECT_TRUE(torch::equal(loaded, expected.contiguous())) << name;
  }
  std::remove(path.c_str());
}

TEST(Safetensors, TensorsAreViewsThatKeepTheMappingAlive) {
  const auto path = temp_path("views");
  write_safetensors(path, {{"a", torch::arange(0, 1000, torch::kFloat)}, {"b", torch::ones({10}, torch::kHalf)}});
  at::Tensor a, a_again;
  {
    auto file = SafetensorsFile::open(path);
    a = file->tensor("a");
    a_again = file->tensor("a", torch::kFloat);  // same dtype and device: still the view
    EXPECT_EQ(a.data_ptr(), a_again.data_ptr());
  }
  std::remove(path.c_str());  // the mapping outlives the file name and the SafetensorsFile
  EXPECT_FLOAT_EQ(a[999].item<float>(), 999.0f);
  a.add_(1);  // copy-on-write: no fault, the file is not modified
  EXPECT_FLOAT_EQ(a[0].item<float>(), 1.0f);
}

TEST(Safetensors, ConvertsOnDemand) {
  const auto path = temp_path("convert");
  auto half = torch::randn({3, 3}).to(torch::kHalf);
  write_safetensors(path, {{"w", half}});
  auto file = SafetensorsFile::open(path);
  auto f32 = file->tensor("w", torch::kFloat);
  EXPECT_EQ(f32.scalar_type(), torch::kFloat);
  EXPECT_TRUE(torch::equal(f32, half.to(torch::kFloat)));
  std::remove(path.c_str());
}

TEST(Safetensors, UnknownTensorNameIsAModelLoadError) {
  const auto path = temp_path("names");
  write_safetensors(path, {{"a", torch::ones({1})}});
  auto file = SafetensorsFile::open(path);
  try {
    file->tensor("b");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kModelLoadError);
    EXPECT_NE(std::string(e.what()).find("\"b\""), std::string::npos);
  }
  std::remove(path.c_str());
}

struct BrokenCase {
  const char* name;
  std::string bytes;
  const char* expected;  // part of the message
};

std::vector<BrokenCase> broken_corpus() {
  const std::string four = std::string(4, '\0');
  return {
      {"too_short", "abc", "too short"},
      {"huge_header_length", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}", "exceeds the 100 MiB"},
      {"header_past_end", std::string("\x40\0\0\0\0\0\0\0", 8) + "{}", "runs past the end"},
      {"not_json", with_header("{not json", ""), "not valid JSON"},
      {"not_object", with_header("[1,2,3]  ", ""), "does not start with a JSON object"},
      {"unknown_dtype", with_header(R"({"a":{"dtype":"F8","shape":[1],"data_offsets":[0,1]}})", "x"), "unsupported dtype"},
      {"no_shape", with_header(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", four), "no shape"},
      {"negative_dim", with_header(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", four), "bad dimension"},
      {"shape_mismatch", with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", four), "needs 8 bytes"},
      {"huge_shape",
       with_header(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,4]}})", four),
       "too large"},
      {"begin_after_end", with_header(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", four), "begin after end"},
      {"out_of_range", with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", "xx"), "truncated"},
      {"overlap",
       with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                   four),
       "overlaps"},
      {"gap", with_header(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", four), "gap"},
      {"trailing_bytes", with_header(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})", four), "not described"},
      {"metadata_not_strings", with_header(R"({"__metadata__":{"step":5}})", ""), "is not a string"},
      {"entry_not_object", with_header(R"({"a":3})", ""), "is not an object"},
      {"bad_offsets", with_header(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", "x"), "data_offsets"},
  };
}

TEST(Safetensors, BrokenFilesAreModelLoadErrorsNamingFileAndProblem) {
  for (const auto& c : broken_corpus()) {
    const auto path = temp_path(c.name);
    write_bytes(path, c.bytes);
    try {
      SafetensorsFile::open(path);
      ADD_FAILURE() << c.name << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kModelLoadError) << c.name;
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << c.name << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos) << c.name << ": " << e.what();
    }
    std::remove(path.c_str());
  }
}

TEST(Safetensors, MissingAndEmptyFilesAreModelLoadErrors) {
  EXPECT_THROW(SafetensorsFile::open("/nonexistent/model.safetensors"), Error);
  const auto path = temp_path("empty");
  write_bytes(path, "");
  EXPECT_THROW(SafetensorsFile::open(path), Error);
  std::remove(path.c_str());
  EXPECT_THROW(SafetensorsFile::open(testing::TempDir()), Error);  // a folder
}

TEST(Safetensors, ReadsTheReferenceFixture) {
  auto file = SafetensorsFile::open(std::string(SDXL_FIXTURES_DIR) + "/unet.safetensors");
  auto sample = file->tensor("sample", torch::kFloat);
  EXPECT_EQ(sample.dim(), 4);
  EXPECT_EQ(sample.size(0), 2);
  EXPECT_TRUE(torch::isfinite(sample).all().item<bool>());
}

TEST(Safetensors, EveryWeightFileOfTheTinySdxlFixtureValidates) {
  std::size_t tensors = 0;
  for (const char* file : {"unet/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.safetensors",
                           "text_encoder/model.safetensors", "text_encoder_2/model.safetensors"}) {
    auto st = SafetensorsFile::open(std::string(SDXL_FIXTURES_DIR) + "/tiny-sdxl/" + file);
    for (const auto& name : st->names()) {
      auto t = st->tensor(name, torch::kFloat);
      EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << file << ": " << name;
      ++tensors;
    }
  }
  EXPECT_GT(tensors, 600u);
}

}  // namespace
}  // namespace workers
