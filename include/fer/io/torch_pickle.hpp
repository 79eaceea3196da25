#pragma once
// Interprets the call records of a plain pickle written by PyTorch (pickle.dump of tensors and modules)
// for a whitelist of names, and turns tensors into fer::Tensor:
//   torch._utils._rebuild_parameter[_with_state](tensor, requires_grad, hooks[, state])
//   torch._utils._rebuild_tensor[_v2](storage, offset, size, stride[, requires_grad, hooks[, metadata]])
//   torch.storage._load_from_bytes(blob): `blob` is torch.save's legacy format holding one storage
//   collections.OrderedDict() (+ set items), numpy scalars (as JSON numbers), protocol 2's bytes and sets
//   (_codecs.encode(text, 'latin1'), builtins.set(list))
// Everything else is refused with an error naming the file, the object and the callable.
#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fer/core/tensor.hpp"
#include "fer/io/pickle.hpp"

namespace fer::torch_pickle {

using pickle::Kind;
using pickle::Object;

// The dtype of a storage class global (torch.FloatStorage, ...) into *out; false for any other object.
inline bool storage_class_dtype(const Object& cls, DType* out) {
  if (cls.kind != Kind::global || cls.module != "torch") return false;
  static const std::pair<std::string_view, DType> table[] = {
      {"FloatStorage", DType::f32}, {"DoubleStorage", DType::f64}, {"HalfStorage", DType::f16},
      {"BFloat16Storage", DType::bf16}, {"IntStorage", DType::i32}, {"LongStorage", DType::i64},
      {"ByteStorage", DType::u8}};
  for (auto& [name, dt] : table)
    if (cls.name == name) {
      *out = dt;
      return true;
    }
  return false;
}

struct LoadedStorage {
  std::shared_ptr<Storage> storage;  // CPU bytes
  DType dtype = DType::f32;
  int64_t numel = 0;
};

// Reads torch.save's legacy (non-zip) serialization of one storage, the form torch uses when a storage is
// pickled: the pickles magic number, protocol version 1001, a sys-info dict and the storage's persistent id
// ('storage', torch.<T>Storage, key, location, numel, view), then a pickled list of keys and, per key, an
// int64 element count followed by the raw little-endian elements.
inline LoadedStorage read_legacy_storage(std::span<const uint8_t> blob, const std::string& where,
                                         const pickle::Limits& limits) {
  auto bad = [&](const auto&... parts) { fail(where, ": torch storage blob: ", parts...); };
  if (blob.size() >= 4 && blob[0] == 'P' && blob[1] == 'K' && blob[2] == 3 && blob[3] == 4)
    bad("zip-format storage blobs are not supported (only torch.save's legacy format)");
  pickle::Unpickler u(blob, where + " (storage blob)", limits);

  static constexpr uint8_t magic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};  // 0x1950a86a20f9469cfc6c
  const Object* m = u.load();
  if (m->kind != Kind::big_integer || m->bytes.size() != sizeof(magic) || std::memcmp(m->bytes.data(), magic, sizeof(magic)))
    bad("wrong magic number (not torch.save's legacy format)");
  const Object* version = u.load();
  if (version->kind != Kind::integer || version->integer != 1001) bad("unsupported protocol version ", version->describe());
  const Object* sys_info = u.load();
  if (sys_info->kind != Kind::dict) bad("sys info is a ", kind_name(sys_info->kind), ", not a dict");
  if (const Object* le = sys_info->get("little_endian"); le && !(le->kind == Kind::boolean && le->boolean))
    bad("big-endian data is not supported");

  // The storage itself: a persistent id.
  const Object* root = u.load();
  if (root->kind != Kind::persistent_id || !root->pid || root->pid->kind != Kind::tuple)
    bad("expected a storage persistent id, got ", root->describe());
  const auto& id = root->pid->items;
  auto text_of = [](const Object* o) -> std::string {
    if (o->kind == Kind::string) return o->text;
    if (o->kind == Kind::bytes) return std::string(o->bytes.begin(), o->bytes.end());
    return {};
  };
  if (id.size() != 6 || text_of(id[0]) != "storage") bad("persistent id is not ('storage', type, key, location, numel, view)");
  LoadedStorage out;
  if (!storage_class_dtype(*id[1], &out.dtype)) bad("unsupported storage type ", id[1]->describe());
  const std::string key = text_of(id[2]);
  if (id[4]->kind != Kind::integer || id[4]->integer < 0) bad("storage size is ", id[4]->describe());
  const int64_t numel = id[4]->integer;
  const Object* view = id[5];
  if (view->kind != Kind::none && view->kind != Kind::tuple) bad("storage view is a ", kind_name(view->kind));

  const Object* keys = u.load();
  if (keys->kind != Kind::list) bad("storage key list is a ", kind_name(keys->kind));
  if (keys->items.size() != 1 || text_of(keys->items[0]) != key) bad("expected exactly the key '", key, "' in the key list");

  // Raw data after the pickles: int64 count, then the elements.
  const size_t esize = dtype_size(out.dtype);
  size_t pos = u.position();
  if (blob.size() - pos < 8) bad("truncated before the element count");
  uint64_t count = 0;
  for (int i = 7; i >= 0; --i) count = (count << 8) | blob[pos + size_t(i)];
  pos += 8;
  if (count != uint64_t(numel)) bad("element count ", count, " differs from the declared ", numel);
  if (count > (blob.size() - pos) / esize) bad("truncated: ", count, " elements of ", esize, " bytes, ", blob.size() - pos, " bytes left");

  // A view selects [offset, offset + size) of the root storage.
  size_t first = 0, n = size_t(count);
  if (view->kind == Kind::tuple) {
    const auto& v = view->items;
    if (v.size() != 3 || v[1]->kind != Kind::integer || v[2]->kind != Kind::integer) bad("malformed storage view");
    if (v[1]->integer < 0 || v[2]->integer < 0 || v[1]->integer > numel || v[2]->integer > numel - v[1]->integer)
      bad("storage view [", v[1]->integer, ", +", v[2]->integer, ") outside a storage of ", numel);
    first = size_t(v[1]->integer);
    n = size_t(v[2]->integer);
  }
  out.numel = int64_t(n);
  out.storage = std::make_shared<Storage>(n * esize, Device::cpu());
  if (n) std::memcpy(out.storage->data(), blob.data() + pos + first * esize, n * esize);
  return out;
}

// Interprets objects from one pickle. `where` prefixes every error (normally the file name).
class Reader {
 public:
  // `input_bytes`, the size of the pickle read, bounds the work of all walks (pickle::walk_budget); when unknown,
  // the object limit stands in for it (every object takes at least one byte).
  explicit Reader(std::string where, pickle::Limits limits = {}, size_t input_bytes = 0)
      : where_(std::move(where)), limits_(limits),
        walk_budget_(pickle::walk_budget(limits, input_bytes ? input_bytes : limits.max_objects)) {}

  // Resolves storages given as persistent ids (torch.save's zip and legacy files keep storages outside the pickle).
  // The resolver should return the same storage for the same key, so that views of one storage stay shared.
  using StorageResolver = std::function<LoadedStorage(const Object& pid, std::string_view what)>;
  void set_storage_resolver(StorageResolver r) { storage_resolver_ = std::move(r); }

  // Also accept calls to / instances of this class as dicts (e.g. a dict subclass without custom state).
  void add_dict_class(std::string module, std::string name) { dict_classes_.emplace_back(std::move(module), std::move(name)); }

  template <class... Parts>
  [[noreturn]] void error(std::string_view what, const Parts&... parts) const {
    fail(where_, ": ", what, ": ", parts...);
  }
  const pickle::Limits& limits() const { return limits_; }

  // Counts `work` (nodes visited, bytes copied) against the walk budget: every walk over the objects calls this,
  // so shared references (a DAG walked as a tree) cannot make the work exceed a multiple of the input size.
  void charge(size_t work, std::string_view what) const {
    walked_ += work;
    if (walked_ > walk_budget_) {
      walk_exhausted_ = true;
      error(what, "reading takes more than ", walk_budget_, " steps, a multiple of the input size ",
            "(objects shared many times over, e.g. a list holding the same list twice, nested)");
    }
  }
  bool walk_exhausted() const { return walk_exhausted_; }

  // The (key, value) items of a dict, an OrderedDict record or a whitelisted dict class; nullptr otherwise.
  const std::vector<std::pair<Object*, Object*>>* dict_items(const Object& o) const {
    if (o.kind == Kind::dict) return &o.entries;
    if (o.kind != Kind::call || !o.callable || !o.args || !o.args->items.empty() || !o.items.empty()) return nullptr;
    for (auto& [m, n] : dict_classes_)
      if (o.callable->is_global(m, n)) return &o.entries;
    return nullptr;
  }

  bool is_tensor(const Object& o) const {
    return o.is_call_to("torch._utils", "_rebuild_parameter") || o.is_call_to("torch._utils", "_rebuild_parameter_with_state") ||
           o.is_call_to("torch._utils", "_rebuild_tensor_v2") || o.is_call_to("torch._utils", "_rebuild_tensor");
  }

  // A tensor record as a fer::Tensor (CPU, contiguous; storages shared between views stay shared).
  Tensor tensor(const Object& o, std::string_view what) {
    if (o.is_call_to("torch._utils", "_rebuild_parameter") || o.is_call_to("torch._utils", "_rebuild_parameter_with_state")) {
      const auto& a = o.args->items;
      if (a.empty() || !a[0]->is_call_to("torch._utils", "_rebuild_tensor_v2"))
        error(what, "a parameter must wrap torch._utils._rebuild_tensor_v2, got ", a.empty() ? "nothing" : a[0]->describe());
      return tensor(*a[0], what);
    }
    if (!o.is_call_to("torch._utils", "_rebuild_tensor_v2") && !o.is_call_to("torch._utils", "_rebuild_tensor"))
      error(what, "expected a tensor, got ", o.describe(), " (not on the whitelist)");
    const auto& a = o.args->items;
    if (a.size() < 4) error(what, "tensor record with ", a.size(), " arguments");
    const LoadedStorage& st = storage(*a[0], what);
    const int64_t offset = int_of(*a[1], what, "storage offset");
    const std::vector<int64_t> size = ints_of(*a[2], what, "size");
    const std::vector<int64_t> stride = ints_of(*a[3], what, "stride");
    if (size.size() != stride.size()) error(what, "size has ", size.size(), " dims but stride has ", stride.size());
    if (int(size.size()) > kMaxDims) error(what, "tensor has ", size.size(), " dims (at most ", kMaxDims, ")");
    // Every element of the view must lie inside the storage.
    int64_t numel = 1, last = offset;
    bool empty = false;
    for (size_t d = 0; d < size.size(); ++d) {
      if (size[d] < 0 || stride[d] < 0) error(what, "negative size or stride");
      if (size[d] == 0) empty = true;
      if (__builtin_mul_overflow(numel, size[d], &numel)) error(what, "element count overflows");
    }
    if (offset < 0) error(what, "negative storage offset ", offset);
    if (!empty)
      for (size_t d = 0; d < size.size(); ++d) {
        int64_t reach;
        if (__builtin_mul_overflow(size[d] - 1, stride[d], &reach) || __builtin_add_overflow(last, reach, &last))
          error(what, "tensor view overflows");
      }
    if (!empty && last >= st.numel)
      error(what, "tensor view ", Shape(size).str(), " with strides ", Shape(stride).str(), " at offset ", offset,
            " reaches element ", last, " of a storage of ", st.numel, " elements");

    // Readers of the result copy or convert each tensor (dtype, layout): charge its bytes, so many records viewing one
    // storage (a few bytes each) cannot make work and memory beyond a multiple of the input.
    charge(empty ? 1 : size_t(numel) * dtype_size(st.dtype), what);
    auto impl = std::make_shared<TensorImpl>();
    impl->storage = st.storage;
    impl->offset = empty ? 0 : offset;
    impl->shape = Shape(size);
    impl->strides = Shape(stride);
    impl->dtype = st.dtype;
    Tensor view(std::move(impl));
    if (view.is_contiguous()) return view;
    // Strided views are copied out. Views share storages, so bound each copy by its storage and all copies
    // together by the limit (a few bytes of pickle must not make gigabytes of copies).
    if (numel > st.numel) error(what, "tensor view of ", numel, " elements over a storage of ", st.numel, " (expanded views are not supported)");
    copied_bytes_ += size_t(numel) * dtype_size(st.dtype);
    if (copied_bytes_ > limits_.max_copied_bytes) error(what, "strided tensor copies exceed ", limits_.max_copied_bytes, " bytes in total");
    return strided_copy(view);
  }

  // Plain Python data (None, bool, int, float, str, tuple, list, dict-likes, numpy scalars) as JSON.
  // `what` names the object in errors; depth is bounded by Limits::max_depth, which also stops cycles.
  nlohmann::json to_json(const Object& o, std::string_view what, int depth = 0) const {
    if (depth > limits_.max_depth) error(what, "nested deeper than ", limits_.max_depth, " levels (or a cycle)");
    charge(1 + o.text.size(), what);
    switch (o.kind) {
      case Kind::none: return nullptr;
      case Kind::boolean: return o.boolean;
      case Kind::integer: return o.integer;
      case Kind::floating: return o.floating;
      case Kind::string: return o.text;
      case Kind::tuple:
      case Kind::list: {
        nlohmann::json a = nlohmann::json::array();
        for (const Object* item : o.items) a.push_back(to_json(*item, what, depth + 1));
        return a;
      }
      default: break;
    }
    if (auto* items = dict_items(o)) {
      nlohmann::json obj = nlohmann::json::object();
      for (auto& [k, v] : *items) {
        // JSON keys are strings: int keys (e.g. channels by resolution) become their decimal text.
        if (k->kind != Kind::string && k->kind != Kind::integer) error(what, "dict key is a ", kind_name(k->kind));
        const std::string key = k->kind == Kind::string ? k->text : std::to_string(k->integer);
        charge(what.size() + key.size(), what);  // the name built for the value (long keys, nested deep)
        obj[key] = to_json(*v, std::string(what) + "." + key, depth + 1);
      }
      return obj;
    }
    if (o.is_call_to("numpy.core.multiarray", "scalar") || o.is_call_to("numpy._core.multiarray", "scalar"))
      return numpy_scalar(o, what);
    error(what, "cannot read ", o.describe(), " as plain data (not on the whitelist)");
  }

  // A bytes object; protocol 2 writes bytes as _codecs.encode(text, 'latin1'), decoded here (no call is made).
  std::span<const uint8_t> bytes_of(const Object& o, std::string_view what) const {
    if (o.kind == Kind::bytes) return o.bytes;
    const bool encode = o.is_call_to("_codecs", "encode") && o.args->items.size() == 2 &&
                        o.args->items[0]->kind == Kind::string && o.args->items[1]->kind == Kind::string &&
                        (o.args->items[1]->text == "latin1" || o.args->items[1]->text == "latin-1");
    if (!encode) error(what, "expected bytes, got ", o.describe());
    const std::string& text = o.args->items[0]->text;  // valid UTF-8 (checked by the Unpickler)
    charge(text.size(), what);
    std::vector<uint8_t>& out = owned_.emplace_back();
    for (size_t i = 0; i < text.size(); ++i) {
      const uint8_t c = uint8_t(text[i]);
      if (c < 0x80) {
        out.push_back(c);
      } else if ((c >> 5) == 6 && c <= 0xC3 && i + 1 < text.size()) {  // U+0080..U+00FF
        out.push_back(uint8_t(((c & 0x1F) << 6) | (uint8_t(text[++i]) & 0x3F)));
      } else {
        error(what, "latin1 text holds a character above U+00FF");
      }
    }
    return out;
  }

  // The elements of a set: EMPTY_SET + ADDITEMS, or protocol 2's builtins.set([...]); nullptr otherwise.
  const std::vector<Object*>* set_items(const Object& o) const {
    if (o.kind == Kind::set) return &o.items;
    if ((o.is_call_to("builtins", "set") || o.is_call_to("__builtin__", "set")) && o.args->items.size() == 1 &&
        o.args->items[0]->kind == Kind::list)
      return &o.args->items[0]->items;
    return nullptr;
  }

  int64_t int_of(const Object& o, std::string_view what, std::string_view field) const {
    if (o.kind != Kind::integer) error(what, field, " is a ", o.describe(), ", not an int");
    return o.integer;
  }

 private:

  std::vector<int64_t> ints_of(const Object& o, std::string_view what, std::string_view field) const {
    if (o.kind != Kind::tuple && o.kind != Kind::list) error(what, field, " is a ", o.describe(), ", not a tuple");
    charge(1 + o.items.size(), what);
    std::vector<int64_t> v;
    for (const Object* i : o.items) v.push_back(int_of(*i, what, field));
    return v;
  }

  const LoadedStorage& storage(const Object& o, std::string_view what) {
    if (auto it = storages_.find(&o); it != storages_.end()) return it->second;
    if (o.kind == Kind::persistent_id && storage_resolver_) return storages_[&o] = storage_resolver_(o, what);
    if (!o.is_call_to("torch.storage", "_load_from_bytes"))
      error(what, "tensor storage is a ", o.describe(), " (expected torch.storage._load_from_bytes)");
    const auto& a = o.args->items;
    if (a.size() != 1) error(what, "torch.storage._load_from_bytes needs one argument");
    // Each record copies its blob: many records sharing one bytes object (memo) would copy it many times.
    if (a[0]->kind == Kind::bytes) charge(a[0]->bytes.size(), what);
    return storages_[&o] = read_legacy_storage(bytes_of(*a[0], what), where_ + ": " + std::string(what), limits_);
  }

  // A contiguous copy of a strided view, element by element as raw bytes (exact for every dtype).
  Tensor strided_copy(const Tensor& v) const {
    Tensor out = Tensor::empty(v.shape(), v.dtype());
    const size_t es = dtype_size(v.dtype());
    const char* src = static_cast<const char*>(v.raw_data());
    char* dst = static_cast<char*>(out.raw_data());
    std::vector<int64_t> idx(size_t(v.dim()), 0);
    for (int64_t i = 0; i < v.numel(); ++i) {
      int64_t off = 0;
      for (int d = 0; d < v.dim(); ++d) off += idx[size_t(d)] * v.strides()[d];
      std::memcpy(dst + size_t(i) * es, src + off * int64_t(es), es);
      for (int d = v.dim() - 1; d >= 0; --d) {
        if (++idx[size_t(d)] < v.shape()[d]) break;
        idx[size_t(d)] = 0;
      }
    }
    return out;
  }

  // numpy.core.multiarray.scalar(numpy.dtype(code, ...) with BUILD state (version, byteorder, ...), raw bytes)
  nlohmann::json numpy_scalar(const Object& o, std::string_view what) const {
    const auto& a = o.args->items;
    if (a.size() != 2 || !a[0]->is_call_to("numpy", "dtype")) error(what, "malformed numpy scalar");
    const std::span<const uint8_t> raw = bytes_of(*a[1], what);
    const Object& dt = *a[0];
    if (dt.args->items.empty() || dt.args->items[0]->kind != Kind::string) error(what, "malformed numpy dtype");
    const std::string& code = dt.args->items[0]->text;
    char order = '|';
    if (dt.state && dt.state->kind == Kind::tuple && dt.state->items.size() > 1 && dt.state->items[1]->kind == Kind::string &&
        dt.state->items[1]->text.size() == 1)
      order = dt.state->items[1]->text[0];
    if (code.size() != 2 || (code[1] != '1' && code[1] != '2' && code[1] != '4' && code[1] != '8'))
      error(what, "unsupported numpy dtype '", code, "'");
    const size_t n = size_t(code[1] - '0');
    if (raw.size() != n) error(what, "numpy scalar of dtype '", code, "' has ", raw.size(), " bytes");
    uint8_t b[8] = {};
    for (size_t i = 0; i < n; ++i) b[i] = raw[order == '>' ? n - 1 - i : i];
    auto as = [&](auto v) {
      std::memcpy(&v, b, sizeof v);
      return v;
    };
    switch (code[0]) {
      case 'f':
        if (n == 8) return as(double{});
        if (n == 4) return double(as(float{}));
        if (n == 2) return double(from_f16(as(f16{})));
        break;
      case 'i':
        if (n == 8) return as(int64_t{});
        if (n == 4) return as(int32_t{});
        if (n == 2) return as(int16_t{});
        return as(int8_t{});
      case 'u':
        if (n == 8) return as(uint64_t{});
        if (n == 4) return as(uint32_t{});
        if (n == 2) return as(uint16_t{});
        return as(uint8_t{});
      case 'b':
        if (n == 1) return b[0] != 0;
        break;
      default: break;
    }
    error(what, "unsupported numpy dtype '", code, "'");
  }

  std::string where_;
  pickle::Limits limits_;
  std::vector<std::pair<std::string, std::string>> dict_classes_ = {{"collections", "OrderedDict"}};
  std::map<const Object*, LoadedStorage> storages_;
  StorageResolver storage_resolver_;
  size_t copied_bytes_ = 0;
  size_t walk_budget_;
  mutable size_t walked_ = 0;
  mutable bool walk_exhausted_ = false;
  mutable std::deque<std::vector<uint8_t>> owned_;  // bytes decoded from protocol-2 latin1 text
};

}  // namespace fer::torch_pickle
