#pragma once
// A whole file mapped into memory. The file is opened read-only; the mapping is private copy-on-write, so a
// write through a pointer into it (e.g. into a tensor borrowing it) changes only this process's copy, never the
// file, and never faults. Shared by shared_ptr: tensors borrowing the bytes keep the mapping alive.
// (As with any mmap, another process truncating the file while it is mapped makes later reads fault: files are
// replaced atomically by rename in this project, which leaves an existing mapping intact.)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "fer/core/error.hpp"

namespace fer::io {

class MappedFile {
 public:
  // Maps `path`; throws fer::Error naming the file when it cannot be opened, is not a regular file, or mmap fails.
  static std::shared_ptr<const MappedFile> open(const std::string& path) {
    return std::shared_ptr<const MappedFile>(new MappedFile(path));
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_ && size_) ::munmap(data_, size_);
  }

  const std::string& path() const { return path_; }
  size_t size() const { return size_; }
  // First byte (nullptr for an empty file). Writable because the mapping is private (see above).
  unsigned char* data() const { return static_cast<unsigned char*>(data_); }

 private:
  explicit MappedFile(std::string path) : path_(std::move(path)) {
    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    FER_CHECK(fd >= 0, "cannot open '", path_, "': ", std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      int err = errno;
      ::close(fd);
      fail("cannot map '", path_, "': ", S_ISREG(st.st_mode) ? std::strerror(err) : "not a regular file");
    }
    size_ = size_t(st.st_size);
    if (size_ > 0) {  // mmap of length 0 is an error; an empty file simply has no bytes
      void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      int err = errno;
      ::close(fd);
      FER_CHECK(p != MAP_FAILED, "cannot map '", path_, "' (", size_, " bytes): ", std::strerror(err));
      data_ = p;
    } else {
      ::close(fd);
    }
  }

  std::string path_;
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace fer::io
