#pragma once
// Whole-file writes that readers (and a crash) never see half done: the bytes go to a temporary file in the
// same directory, are flushed to disk, and the file is renamed over the target (atomic on POSIX file systems).
// On any failure the temporary file is removed and an existing target is left untouched.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>

#include "fer/core/error.hpp"

namespace fer::io {

inline void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::filesystem::path tmp = path;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  FER_CHECK(fd >= 0, path.string(), ": cannot create ", tmp.string(), ": ", std::strerror(errno));
  const char* p = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      fail(path.string(), ": write failed: ", std::strerror(err));
    }
    p += n, left -= size_t(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(path.string(), ": flush failed: ", std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(path.string(), ": cannot rename ", tmp.string(), " into place: ", std::strerror(err));
  }
  // Persist the directory entry too, so the rename survives a power loss.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace fer::io
