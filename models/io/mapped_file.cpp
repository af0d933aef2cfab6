#include "models/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>

#include "utilities/error.h"

namespace workers {
namespace {

// Live mappings: start -> end.
std::mutex& mappings_mutex() {
  static std::mutex mutex;
  return mutex;
}
std::map<std::uintptr_t, std::uintptr_t>& mappings() {
  static std::map<std::uintptr_t, std::uintptr_t> live;
  return live;
}

bool inside_locked(std::uintptr_t start, std::uintptr_t end) {
  auto& live = mappings();
  auto it = live.upper_bound(start);
  if (it == live.begin()) return false;
  --it;
  return start >= it->first && end <= it->second;
}

}  // namespace

bool MappedFile::is_mapped(const void* data, std::uint64_t bytes) {
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  std::lock_guard<std::mutex> lock(mappings_mutex());
  return inside_locked(start, start + bytes);
}

std::uint64_t MappedFile::release_pages(const void* data, std::uint64_t bytes) {
  static const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto start = reinterpret_cast<std::uintptr_t>(data);
  const auto end = start + bytes;
  const auto first = (start + page - 1) / page * page;  // whole pages only: neighbours keep theirs
  const auto last = end / page * page;
  if (last <= first) return 0;
  std::lock_guard<std::mutex> lock(mappings_mutex());
  if (!inside_locked(start, end)) return 0;
  if (::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED) != 0) return 0;
  return last - first;
}

std::shared_ptr<MappedFile> MappedFile::open(const std::string& path) {
  auto fail = [&](const std::string& what) {
    throw Error(ErrorCode::kModelLoadError, path + ": " + what + ": " + std::strerror(errno));
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail("cannot open");
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail("cannot stat");
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(ErrorCode::kModelLoadError, path + ": is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    throw Error(ErrorCode::kModelLoadError, path + ": is empty");
  }
  // PROT_WRITE + MAP_PRIVATE: an in-place op on a mapped tensor copies that page instead of
  // faulting; the file itself is never written.
  void* data = ::mmap(nullptr, static_cast<std::size_t>(st.st_size), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (data == MAP_FAILED) fail("cannot map");
  return std::shared_ptr<MappedFile>(
      new MappedFile(path, static_cast<std::uint8_t*>(data), static_cast<std::uint64_t>(st.st_size)));
}

MappedFile::MappedFile(std::string path, std::uint8_t* data, std::uint64_t size)
    : path_(std::move(path)), data_(data), size_(size) {
  std::lock_guard<std::mutex> lock(mappings_mutex());
  mappings()[reinterpret_cast<std::uintptr_t>(data_)] = reinterpret_cast<std::uintptr_t>(data_) + size_;
}

MappedFile::~MappedFile() {
  {
    std::lock_guard<std::mutex> lock(mappings_mutex());
    mappings().erase(reinterpret_cast<std::uintptr_t>(data_));
  }
  ::munmap(data_, static_cast<std::size_t>(size_));
}

}  // namespace workers
