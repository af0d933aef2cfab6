#include "models/io/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "utilities/error.h"

namespace workers {

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
    : path_(std::move(path)), data_(data), size_(size) {}

MappedFile::~MappedFile() { ::munmap(data_, static_cast<std::size_t>(size_)); }

}  // namespace workers
