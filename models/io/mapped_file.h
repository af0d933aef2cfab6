// MappedFile: a whole file mapped copy-on-write (pages are shared with the page cache and only
// copied if something writes to them), unmapped when the last user lets go.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace workers {

class MappedFile {
 public:
  // Throws Error(MODEL_LOAD_ERROR) naming the file and the OS error.
  static std::shared_ptr<MappedFile> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::uint8_t* data() const { return data_; }
  std::uint64_t size() const { return size_; }
  std::string_view bytes() const { return {reinterpret_cast<const char*>(data_), static_cast<std::size_t>(size_)}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, std::uint8_t* data, std::uint64_t size);
  std::string path_;
  std::uint8_t* data_;
  std::uint64_t size_;
};

}  // namespace workers
