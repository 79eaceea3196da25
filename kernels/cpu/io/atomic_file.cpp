// Atomic file replacement (fer/io/atomic_file.hpp).
#include "fer/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <streambuf>

#include "fer/core/error.hpp"

namespace fer::io {

namespace detail {

std::string errno_text(int err) { return std::string(std::strerror(err)); }

// A std::streambuf writing to a POSIX file descriptor through a buffer; remembers the first write error.
class FdStreambuf : public std::streambuf {
 public:
  explicit FdStreambuf(int fd) : fd_(fd) { setp(buf_, buf_ + sizeof(buf_)); }
  int error() const { return error_; }
  // Writes out the buffered bytes; false (and error() set) when the system refused them.
  bool flush_buffer() {
    if (!write_all(pbase(), size_t(pptr() - pbase()))) return false;
    setp(buf_, buf_ + sizeof(buf_));
    return true;
  }

 protected:
  int_type overflow(int_type ch) override {
    if (!flush_buffer()) return traits_type::eof();
    if (!traits_type::eq_int_type(ch, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(ch);
      pbump(1);
    }
    return traits_type::not_eof(ch);
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    // Large blocks (tensor data) bypass the buffer.
    if (n >= std::streamsize(sizeof(buf_))) {
      if (!flush_buffer() || !write_all(s, size_t(n))) return 0;
      return n;
    }
    return std::streambuf::xsputn(s, n);
  }
  int sync() override { return flush_buffer() ? 0 : -1; }

 private:
  bool write_all(const char* p, size_t n) {
    if (error_) return false;
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        return false;
      }
      p += w;
      n -= size_t(w);
    }
    return true;
  }
  int fd_;
  int error_ = 0;
  char buf_[1 << 16];
};

void fsync_directory_of(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  FER_CHECK(fd >= 0, "atomic write of '", path, "': cannot open directory '", dir.string(), "': ", errno_text(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some file systems (e.g. certain network mounts) cannot sync a directory; the rename has already happened.
  FER_CHECK(rc == 0 || err == EINVAL || err == EROFS, "atomic write of '", path, "': fsync of directory '",
            dir.string(), "' failed: ", errno_text(err));
}

}  // namespace detail

AtomicFileWriter::AtomicFileWriter(const std::filesystem::path& path) : path_(path.string()) {
  FER_CHECK(!path_.empty(), "atomic write: empty path");
  tmp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  FER_CHECK(fd_ >= 0, "atomic write of '", path_, "': cannot create temporary file '", tmp_path_,
            "': ", detail::errno_text(errno));
  buf_ = std::make_unique<detail::FdStreambuf>(fd_);
  stream_ = std::make_unique<std::ostream>(buf_.get());
}

AtomicFileWriter::~AtomicFileWriter() { abandon(); }

void AtomicFileWriter::commit() {
  FER_CHECK(fd_ >= 0, "atomic write of '", path_, "': already committed or abandoned");
  try {
    stream_->flush();
    if (!stream_->good() || !buf_->flush_buffer()) {
      int err = buf_->error();
      fail("atomic write of '", path_, "': writing '", tmp_path_, "' failed: ",
           err ? detail::errno_text(err) : std::string("stream error"));
    }
    FER_CHECK(::fsync(fd_) == 0, "atomic write of '", path_, "': fsync failed: ", detail::errno_text(errno));
    int rc = ::close(fd_);
    fd_ = -1;
    FER_CHECK(rc == 0, "atomic write of '", path_, "': close failed: ", detail::errno_text(errno));
    FER_CHECK(::rename(tmp_path_.c_str(), path_.c_str()) == 0, "atomic write of '", path_,
              "': rename from '", tmp_path_, "' failed: ", detail::errno_text(errno));
  } catch (...) {
    abandon();
    throw;
  }
  committed_ = true;
  detail::fsync_directory_of(path_);
}

void AtomicFileWriter::abandon() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!committed_ && !tmp_path_.empty()) {
    ::unlink(tmp_path_.c_str());
    tmp_path_.clear();
  }
}

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  AtomicFileWriter f(path);
  f.write(bytes);
  f.commit();
}

}  // namespace fer::io
