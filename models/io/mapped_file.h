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

  // Drops this process's copies of the clean pages wholly inside [data, data + bytes) when that
  // range lies in a live mapping (they are read from the file again on next use); other memory
  // is left alone. Streamed weights release a layer's pages this way after use. Returns the
  // bytes released. Never call it on a range something wrote to (its copies would be lost).
  static std::uint64_t release_pages(const void* data, std::uint64_t bytes);
  // True when [data, data + bytes) lies inside a live mapping.
  static bool is_mapped(const void* data, std::uint64_t bytes);

 private:
  MappedFile(std::string path, std::uint8_t* data, std::uint64_t size);
  std::string path_;
  std::uint8_t* data_;
  std::uint64_t size_;
};

}  // namespace workers
