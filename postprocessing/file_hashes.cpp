#include "postprocessing/file_hashes.h"

#include <openssl/evp.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

namespace workers {
namespace {

std::string hex_of(const unsigned char* digest, unsigned int length) {
  std::string hex;
  char pair[3];
  for (unsigned int i = 0; i < length; ++i) {
    std::snprintf(pair, sizeof pair, "%02x", digest[i]);
    hex += pair;
  }
  return hex;
}

namespace fs = std::filesystem;

struct DigestDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};

// sha256 of the file from `offset` to its end, read in 1 MiB blocks; "" on a read error.
std::string stream_sha256(const std::string& path, std::uint64_t offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in || !in.seekg(static_cast<std::streamoff>(offset))) return "";
  std::unique_ptr<EVP_MD_CTX, DigestDeleter> context(EVP_MD_CTX_new());
  if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1) return "";
  std::vector<char> block(1 << 20);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    if (in.gcount() > 0)
      EVP_DigestUpdate(context.get(), block.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (!in.eof()) return "";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context.get(), digest, &length);
  return hex_of(digest, length);
}

std::string whole_file(const std::string& path) { return stream_sha256(path, 0); }

// The safetensors header: an 8-byte little-endian length, then that much JSON.
std::string lora_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char size_bytes[8];
  if (!in.read(reinterpret_cast<char*>(size_bytes), 8)) return "";
  std::uint64_t header = 0;
  for (int i = 7; i >= 0; --i) header = (header << 8) | size_bytes[i];
  std::error_code ec;
  const auto file_size = fs::file_size(path, ec);
  if (ec || header > file_size - 8 || header > (100u << 20)) return "";
  std::string text(static_cast<std::size_t>(header), '\0');
  if (!in.read(text.data(), static_cast<std::streamsize>(header))) return "";
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_object() && json.contains("__metadata__") && json["__metadata__"].is_object()) {
    const auto& metadata = json["__metadata__"];
    if (metadata.contains("sshs_model_hash") && metadata["sshs_model_hash"].is_string() &&
        !metadata["sshs_model_hash"].get<std::string>().empty()) {
      return metadata["sshs_model_hash"].get<std::string>();
    }
  }
  return stream_sha256(path, 8 + header);
}

}  // namespace

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr);
  return hex_of(digest, length);
}

std::string FileHashCache::file_sha256(const std::string& path) {
  return cached("file", path, whole_file);
}

std::string FileHashCache::lora_sha256(const std::string& path) {
  return cached("lora", path, lora_file);
}

std::size_t FileHashCache::computed() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return computed_;
}

std::string FileHashCache::cached(const std::string& kind, const std::string& path,
                                  std::string (*compute)(const std::string&)) {
  std::error_code ec;
  const fs::path canonical = fs::canonical(path, ec);
  if (ec || !fs::is_regular_file(canonical, ec)) return "";
  const auto size = fs::file_size(canonical, ec);
  const auto time = fs::last_write_time(canonical, ec);
  if (ec) return "";
  const Key key{kind, canonical.string(), size,
                static_cast<std::int64_t>(time.time_since_epoch().count())};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = entries_.find(key); it != entries_.end()) return it->second;
  }
  // Two jobs may hash the same new file at once; both get the same answer, which is stored once.
  std::string hash = compute(canonical.string());
  std::lock_guard<std::mutex> lock(mutex_);
  ++computed_;
  if (!hash.empty()) entries_.emplace(key, hash);
  return hash;
}

}  // namespace workers
