#pragma once
// Atomic file replacement, streamed: readers (and a crash at any moment) see either the old file or the complete
// new one, never a half-written file. Used for weights and checkpoints, whose bytes are produced piece by piece
// (no second copy of a model in memory); write_file_atomically(path, bytes) for content already in one buffer.
//
// The content goes to `<path>.tmp.<pid>` in the same directory (rename is only atomic within one file system),
// which is fsync'ed, renamed over `path`, and then the directory is fsync'ed so the rename itself is durable.
// On any error the temporary file is removed and an existing `path` is left untouched.
#include <filesystem>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>

// The writer itself is compiled once (kernels/cpu/io/atomic_file.cpp).
namespace fer::io {

namespace detail {
class FdStreambuf;  // a std::streambuf on a POSIX file descriptor
}  // namespace detail

// Writes one file atomically. Use write(...) / stream() to produce the content, then commit(). Destroying the
// writer without a successful commit() removes the temporary file and leaves `path` as it was.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(const std::filesystem::path& path);
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return tmp_path_; }
  std::ostream& stream() { return *stream_; }
  void write(const void* data, size_t n) { stream_->write(static_cast<const char*>(data), std::streamsize(n)); }
  void write(std::string_view s) { write(s.data(), s.size()); }

  // Makes the content durable and visible under `path`. Throws (after cleaning up) on any failure.
  void commit();

 private:
  // Closes and removes the temporary file unless it was committed.
  void abandon() noexcept;

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
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

}  // namespace fer::io
