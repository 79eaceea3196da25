#pragma once
// safetensors: the weight format of torchvision/HF exports and of our own checkpoints.
//
// Layout: an 8-byte little-endian u64 N, N bytes of a UTF-8 JSON object, then the data buffer.
// The JSON maps each tensor name to {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (byte offsets
// relative to the start of the buffer) and may hold "__metadata__": {string: string}.
//
// What a valid file is, here (the same rules as the format's reference implementation):
//  - every tensor's byte length (end - begin) equals numel(shape) * dtype size;
//  - sorted by offset, the tensors tile the buffer exactly: the first starts at 0, each starts where the previous
//    one ended (no gap, no overlap), and the last ends at the end of the file (no trailing bytes);
//  - names are unique (duplicate JSON keys are an error, not "last one wins").
// Every violation is a fer::Error naming the file and what is wrong; nothing is read outside the file.
#include <cstdint>
#include <cstring>
#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fer/core/dtype.hpp"
#include "fer/core/shape.hpp"
#include "fer/core/tensor.hpp"
#include "fer/io/atomic_file.hpp"
#include "fer/io/mapped_file.hpp"

// The parser and writer are compiled once (kernels/cpu/io/safetensors.cpp): they are JSON code, and every program
// includes this header through fer/fer.hpp.
namespace fer::io {

using Metadata = std::map<std::string, std::string>;
// Named tensors in a chosen order (like PyTorch's OrderedDict state_dict).
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// ---------------------------------------------------------------- dtype codes

std::string_view safetensors_dtype_code(DType t);
// The fer dtype of a safetensors dtype code; `where` (file and tensor) prefixes the error message.
DType dtype_from_safetensors_code(std::string_view code, const std::string& where);

// ---------------------------------------------------------------- header parsing and validation

struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte offsets relative to the data buffer
  uint64_t nbytes() const { return end - begin; }
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // in data-offset order
  Metadata metadata;
  uint64_t data_start = 0;  // absolute file offset of the data buffer (8 + N)
};

// Parses and validates the header of a safetensors file held in memory (`file_size` bytes at `data`);
// `file` names it in error messages.
SafetensorsHeader parse_safetensors_header(const unsigned char* data, size_t file_size, const std::string& file);

// ---------------------------------------------------------------- reading

// An opened, validated safetensors file (memory-mapped). Tensors are either borrowed (zero-copy views of the
// mapping that keep it alive) or loaded (owned copies).
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path)
      : file_(MappedFile::open(path)), header_(parse_safetensors_header(file_->data(), file_->size(), path)) {
    for (size_t i = 0; i < header_.entries.size(); ++i) index_[header_.entries[i].name] = i;
  }

  const std::string& path() const { return file_->path(); }
  const Metadata& metadata() const { return header_.metadata; }
  // The tensors' descriptions in data-offset order.
  const std::vector<SafetensorsEntry>& entries() const { return header_.entries; }
  std::vector<std::string> names() const {
    std::vector<std::string> v;
    for (const auto& e : header_.entries) v.push_back(e.name);
    return v;
  }
  size_t size() const { return header_.entries.size(); }
  bool contains(const std::string& name) const { return index_.count(name) > 0; }
  const SafetensorsEntry& entry(const std::string& name) const {
    auto it = index_.find(name);
    FER_CHECK(it != index_.end(), path(), ": no tensor named \"", name, "\"");
    return header_.entries[it->second];
  }

  // A tensor viewing the mapped bytes (no copy); writes to it change only this process's private copy.
  // Falls back to a copy when the bytes are not aligned for the element type (files padded as the format's
  // reference writer does are always aligned).
  Tensor borrow(const std::string& name) const {
    const SafetensorsEntry& e = entry(name);
    unsigned char* p = bytes_of(e);
    if (reinterpret_cast<uintptr_t>(p) % dtype_size(e.dtype) != 0) return load(name);
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = std::make_shared<Storage>(p, size_t(e.nbytes()), Device::cpu(),
                                              std::const_pointer_cast<MappedFile>(file_));
    impl->shape = e.shape;
    impl->strides = contiguous_strides(e.shape);
    impl->dtype = e.dtype;
    return Tensor(std::move(impl));
  }
  // An owned copy of the tensor (independent of the file).
  Tensor load(const std::string& name) const {
    const SafetensorsEntry& e = entry(name);
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (e.nbytes()) std::memcpy(t.raw_data(), bytes_of(e), size_t(e.nbytes()));
    return t;
  }
  NamedTensors load_all() const {
    NamedTensors out;
    for (const auto& e : header_.entries) out.emplace_back(e.name, load(e.name));
    return out;
  }
  NamedTensors borrow_all() const {
    NamedTensors out;
    for (const auto& e : header_.entries) out.emplace_back(e.name, borrow(e.name));
    return out;
  }

 private:
  unsigned char* bytes_of(const SafetensorsEntry& e) const { return file_->data() + header_.data_start + e.begin; }

  std::shared_ptr<const MappedFile> file_;
  SafetensorsHeader header_;
  std::map<std::string, size_t, std::less<>> index_;
};

// All tensors of a file as owned copies, in data-offset order.
inline NamedTensors load_safetensors(const std::string& path) { return SafetensorsFile(path).load_all(); }

// ---------------------------------------------------------------- writing

enum class KeyOrder { sorted, insertion };

// Writes the safetensors bytes to `out`: "__metadata__" first, then the tensors (header entries and data in the
// same order: sorted by name, or as given). The header is padded with spaces to a multiple of 8 bytes so every
// tensor's data starts 8-byte aligned when the tensors before it are multiples of 8 bytes.
void write_safetensors(std::ostream& out, const NamedTensors& tensors, const Metadata& metadata = {},
                       KeyOrder order = KeyOrder::sorted, const std::string& what = "safetensors");

// Saves tensors to `path` atomically (an existing file is replaced only once the new one is complete on disk).
inline void save_safetensors(const std::string& path, const NamedTensors& tensors, const Metadata& metadata = {},
                             KeyOrder order = KeyOrder::sorted) {
  write_file_atomically(path, [&](std::ostream& out) { write_safetensors(out, tensors, metadata, order, path); });
}

}  // namespace fer::io
