// FileHashCache: the file hashes A1111 writes into its infotext (sha256 of a checkpoint or VAE
// file; kohya's "addnet" sha256 of a LoRA's tensor data), computed with OpenSSL once per file
// identity (canonical path, size, modification time), so a 6.9 GB checkpoint is hashed once.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace workers {

// Lower-case hex sha256 of `bytes`.
std::string sha256_hex(std::string_view bytes);

class FileHashCache {
 public:
  // sha256 of the whole file, lower-case hex; "" when the file cannot be read. A1111's
  // `Model hash` and `VAE hash` are its first 10 characters.
  std::string file_sha256(const std::string& path);
  // A1111's LoRA hash (extensions-builtin/Lora: `sshs_model_hash` from the safetensors metadata
  // when present, else sha256 of the bytes after the header); "" when the file cannot be read.
  // `Lora hashes` carries its first 12 characters.
  std::string lora_sha256(const std::string& path);

  std::size_t computed() const;  // hashes computed (not served from the cache), for tests

 private:
  using Key = std::tuple<std::string, std::string, std::uintmax_t,
                         std::int64_t>;  // kind, path, size, mtime
  std::string cached(const std::string& kind, const std::string& path,
                     std::string (*compute)(const std::string&));

  mutable std::mutex mutex_;  // guards entries_ and computed_; hashing runs outside it
  std::map<Key, std::string> entries_;
  std::size_t computed_ = 0;
};

}  // namespace workers
