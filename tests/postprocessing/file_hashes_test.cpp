#include "postprocessing/file_hashes.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace workers {
namespace {

namespace fs = std::filesystem;

struct TempFile {
  fs::path path;
  explicit TempFile(const std::string& name)
      : path(fs::path(testing::TempDir()) / (name + "_" + std::to_string(::getpid()))) {}
  ~TempFile() { fs::remove(path); }
  void write(const std::string& bytes) const { std::ofstream(path, std::ios::binary) << bytes; }
};

// A safetensors file: 8-byte little-endian header length, the JSON header, the tensor data.
std::string safetensors(const std::string& header, const std::string& data) {
  std::string out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xFF));
  return out + header + data;
}

TEST(FileHashes, Sha256MatchesTheStandardVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(FileHashes, HashesAFileOnceUntilItChanges) {
  TempFile file("checkpoint.safetensors");
  const std::string bytes(3 << 20, 'x');  // several read blocks
  file.write(bytes);
  FileHashCache cache;
  EXPECT_EQ(cache.file_sha256(file.path.string()), sha256_hex(bytes));
  EXPECT_EQ(cache.file_sha256(file.path.string()), sha256_hex(bytes));
  EXPECT_EQ(cache.computed(), 1u);
  file.write(bytes + "y");  // new size: a new identity
  EXPECT_EQ(cache.file_sha256(file.path.string()), sha256_hex(bytes + "y"));
  EXPECT_EQ(cache.computed(), 2u);
  fs::last_write_time(file.path, fs::last_write_time(file.path) + std::chrono::hours(1));
  EXPECT_EQ(cache.file_sha256(file.path.string()), sha256_hex(bytes + "y"));
  EXPECT_EQ(cache.computed(), 3u);
  EXPECT_EQ(cache.file_sha256((file.path.parent_path() / "missing.safetensors").string()), "");
}

TEST(FileHashes, LoraHashIsKohyasHashOfTheTensorDataOrTheStoredOne) {
  TempFile file("lora.safetensors");
  const std::string data = "0123456789abcdef";
  file.write(safetensors(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data));
  FileHashCache cache;
  EXPECT_EQ(cache.lora_sha256(file.path.string()), sha256_hex(data));  // the header is left out
  TempFile stored("stored.safetensors");
  stored.write(
      safetensors(R"({"__metadata__":{"sshs_model_hash":"feedface0123456789"},"w":{"dtype":"F32",)"
                  R"("shape":[4],"data_offsets":[0,16]}})",
                  data));
  EXPECT_EQ(cache.lora_sha256(stored.path.string()), "feedface0123456789");
}

}  // namespace
}  // namespace workers
