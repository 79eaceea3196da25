#pragma once
// Atomic file replacement, streamed: readers (and a crash at any moment) see either the old file or the complete
// new one, never a half-written file. Used for weights and checkpoints, whose bytes are produced piece by piece
// (no second copy of a model in memory); write_file_atomically(path, bytes) for content already in one buffer.
//
// The content goes to `<path>.tmp.<pid>` in the same directory (rename is only atomic within one file system),
// which is fsync'ed, renamed over `path`, and then the directory is fsync'ed so the rename itself is durable.
// On any error the temporary file is removed and an existing `path` is left untouched.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <ostream>
#include <streambuf>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "fer/core/error.hpp"

namespace fer::io {

namespace detail {

inline std::string errno_text(int err) { return std::string(std::strerror(err)); }

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

inline void fsync_directory_of(const std::string& path) {
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

// Writes one file atomically. Use write(...) / stream() to produce the content, then commit(). Destroying the
// writer without a successful commit() removes the temporary file and leaves `path` as it was.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::filesystem::path& path) : path_(path.string()) {
    FER_CHECK(!path_.empty(), "atomic write: empty path");
    tmp_path_ = path_ + ".tmp." + std::to_string(::getpid());
    fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    FER_CHECK(fd_ >= 0, "atomic write of '", path_, "': cannot create temporary file '", tmp_path_,
              "': ", detail::errno_text(errno));
    buf_ = std::make_unique<detail::FdStreambuf>(fd_);
    stream_ = std::make_unique<std::ostream>(buf_.get());
  }
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter() { abandon(); }

  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return tmp_path_; }
  std::ostream& stream() { return *stream_; }
  void write(const void* data, size_t n) { stream_->write(static_cast<const char*>(data), std::streamsize(n)); }
  void write(std::string_view s) { write(s.data(), s.size()); }

  // Makes the content durable and visible under `path`. Throws (after cleaning up) on any failure.
  void commit() {
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

 private:
  // Closes and removes the temporary file unless it was committed.
  void abandon() noexcept {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    if (!committed_ && !tmp_path_.empty()) {
      ::unlink(tmp_path_.c_str());
      tmp_path_.clear();
    }
  }

  std::string path_, tmp_path_;
  int fd_ = -1;
  bool committed_ = false;
  std::unique_ptr<detail::FdStreambuf> buf_;
  std::unique_ptr<std::ostream> stream_;
};

// write_file_atomically(path, [&](std::ostream& out) { out << ...; }): the callback produces the content; if it
// throws, or any step fails, `path` is left untouched and the exception propagates.
template <class Writer>
  requires std::is_invocable_v<Writer&, std::ostream&>
void write_file_atomically(const std::filesystem::path& path, Writer&& writer) {
  AtomicFileWriter file(path);
  writer(file.stream());
  file.commit();
}

// Content already in one buffer.
inline void write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  AtomicFileWriter f(path);
  f.write(bytes);
  f.commit();
}

}  // namespace fer::io
