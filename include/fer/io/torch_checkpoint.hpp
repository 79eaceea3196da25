#pragma once
// PyTorch checkpoints (.pt/.pth) read without Python: the state dict they hold as named fer::Tensors.
//
//  - torch.save's zip format (PyTorch >= 1.6): `<name>/data.pkl` (the pickled object, storages as persistent ids
//    ('storage', torch.<T>Storage, key, location, numel)) and `<name>/data/<key>` (raw little-endian elements),
//    read through libzip with every CRC checked;
//  - the legacy format: magic number, protocol 1001, sys info, the object, the list of storage keys, then per key an
//    int64 element count and the elements (persistent ids carry a 6th field, a view of a root storage).
//
// The object is read by the restricted unpickler (fer::pickle: allow-listed opcodes, inert globals, bounded object
// count) and torch_pickle::Reader (allow-listed callables only). Accepted layouts: a bare state dict, or one under
// "state_dict" / "model" / "model_state_dict" (nested up to 3 levels); a "module." prefix on every key
// (DataParallel) is removed. Storages are read only when a tensor of the chosen dict uses them, each once, so
// views of one storage stay views. Declared sizes are checked against the archive before anything is allocated.
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "fer/io/mapped_file.hpp"
#include "fer/io/safetensors.hpp"
#include "fer/io/torch_pickle.hpp"
#include "fer/io/zip_archive.hpp"

namespace fer::io {

struct TorchCheckpoint {
  NamedTensors tensors;            // in the file's order, names as the model sees them (wrapper and prefix removed)
  std::vector<std::string> notes;  // what was unwrapped or renamed, for the user
  std::string format;              // "torch zip" or "torch legacy"
};

struct TorchCheckpointLimits {
  pickle::Limits pickle;
  uint64_t max_total_bytes = uint64_t(16) << 30;  // all storages read, together
};

namespace torch_ckpt_detail {

using pickle::Kind;
using pickle::Object;

inline const uint8_t kLegacyMagic[] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

inline std::string text_of(const Object* o) {
  if (o->kind == Kind::string) return o->text;
  if (o->kind == Kind::bytes) return std::string(o->bytes.begin(), o->bytes.end());
  return {};
}

// A storage persistent id: ('storage', torch.<T>Storage, key, location, numel[, view]).
struct StorageId {
  DType dtype = DType::f32;
  std::string key;
  int64_t numel = 0;
  const Object* view = nullptr;  // legacy only: None or (view_key, offset, size)
};

inline StorageId parse_storage_id(const Object& pid, const std::string& where, std::string_view what, size_t fields) {
  auto bad = [&](const auto&... parts) { fail(where, ": ", what, ": ", parts...); };
  if (pid.kind != Kind::persistent_id || !pid.pid || pid.pid->kind != Kind::tuple) bad("tensor storage is not a persistent id");
  const auto& id = pid.pid->items;
  if (id.size() != fields || text_of(id[0]) != "storage")
    bad("storage id is not ('storage', type, key, location, numel", fields == 6 ? ", view)" : ")");
  StorageId s;
  if (!torch_pickle::storage_class_dtype(*id[1], &s.dtype)) bad("unsupported storage type ", id[1]->describe());
  s.key = text_of(id[2]);
  if (s.key.empty()) bad("storage key is ", id[2]->describe());
  if (id[4]->kind != Kind::integer || id[4]->integer < 0) bad("storage size is ", id[4]->describe());
  s.numel = id[4]->integer;
  if (fields == 6) {
    s.view = id[5];
    if (s.view->kind != Kind::none && s.view->kind != Kind::tuple) bad("storage view is a ", pickle::kind_name(s.view->kind));
  }
  return s;
}

// Every persistent id reachable from `root` (each object visited once: shared references and cycles cost nothing).
inline void collect_persistent_ids(const Object* root, std::vector<const Object*>& out) {
  std::set<const Object*> seen;
  std::vector<const Object*> todo{root};
  while (!todo.empty()) {
    const Object* o = todo.back();
    todo.pop_back();
    if (!o || !seen.insert(o).second) continue;
    if (o->kind == Kind::persistent_id) out.push_back(o);
    for (const Object* i : o->items) todo.push_back(i);
    for (auto& [k, v] : o->entries) todo.push_back(k), todo.push_back(v);
    for (const Object* p : {o->callable, o->args, o->kwargs, o->state, o->pid}) todo.push_back(p);
  }
}

// Picks the state dict out of the root object and turns it into tensors.
inline TorchCheckpoint extract_state_dict(torch_pickle::Reader& reader, const Object* root, const std::string& where,
                                          std::string format) {
  TorchCheckpoint out;
  out.format = std::move(format);
  const Object* dict = root;
  std::string path;
  for (int level = 0;; ++level) {
    const auto* items = reader.dict_items(*dict);
    if (!items) {
      if (dict->kind == Kind::call || dict->kind == Kind::global)
        fail(where, ": holds ", dict->describe(), path.empty() ? "" : " under " + path,
             ", not a state dict (a pickled module or object; save model.state_dict() instead)");
      fail(where, ": holds a ", pickle::kind_name(dict->kind), path.empty() ? "" : " under " + path, ", not a state dict");
    }
    bool all_tensors = !items->empty();
    for (auto& [k, v] : *items) all_tensors = all_tensors && reader.is_tensor(*v);
    if (all_tensors) break;
    const Object* inner = nullptr;
    std::string key;
    for (const char* name : {"state_dict", "model_state_dict", "model"})
      if (const Object* v = dict->get(name); v && reader.dict_items(*v)) {
        inner = v, key = name;
        break;
      }
    if (!inner || level == 3) {
      // Name what was found instead of tensors: a callable other than torch's tensor rebuilders is never run.
      for (auto& [k, v] : *items)
        if ((v->kind == Kind::call || v->kind == Kind::global) && !reader.is_tensor(*v) && k->kind == Kind::string)
          fail(where, ": entry '", k->text, "'", path.empty() ? "" : " under " + path, " is a ", v->describe(),
               ", which fer never runs (a state dict holds only tensors)");
      std::string keys;
      for (size_t i = 0; i < items->size() && i < 8; ++i)
        keys += (i ? ", " : "") + ((*items)[i].first->kind == Kind::string ? "'" + (*items)[i].first->text + "'" : (*items)[i].first->describe());
      if (items->empty()) fail(where, ": the state dict", path.empty() ? "" : " under " + path, " is empty");
      fail(where, ": no state dict found", path.empty() ? "" : " under " + path, ": a dict with keys ", keys,
           items->size() > 8 ? ", ..." : "", " that are not all tensors, and no 'state_dict' or 'model' entry");
    }
    path += "['" + key + "']";
    out.notes.push_back("using the state dict under " + path);
    dict = inner;
  }
  for (auto& [k, v] : *reader.dict_items(*dict)) {
    if (k->kind != Kind::string) fail(where, ": state dict key is a ", k->describe(), ", not a str");
    out.tensors.emplace_back(k->text, reader.tensor(*v, k->text));
  }
  std::set<std::string> names;
  for (auto& [name, t] : out.tensors)
    if (!names.insert(name).second) fail(where, ": duplicate state dict key '", name, "'");
  // DataParallel/DistributedDataParallel save every key under "module.".
  bool all_module = true;
  for (auto& [name, t] : out.tensors) all_module = all_module && name.rfind("module.", 0) == 0;
  if (all_module) {
    for (auto& [name, t] : out.tensors) name.erase(0, 7);
    out.notes.push_back("removed the 'module.' prefix (DataParallel) from all " + std::to_string(out.tensors.size()) + " keys");
  }
  return out;
}

inline void charge(uint64_t& used, uint64_t bytes, const TorchCheckpointLimits& limits, const std::string& where) {
  if (bytes > limits.max_total_bytes - used)
    fail(where, ": storages exceed ", limits.max_total_bytes, " bytes in total (the file declares more than it can hold)");
  used += bytes;
}

inline TorchCheckpoint read_zip(std::span<const uint8_t> bytes, const std::string& where, const TorchCheckpointLimits& limits) {
  ZipArchive zip(bytes, where);
  // The record prefix: torch.save names every entry "<archive name>/..."; data.pkl is the object.
  std::string prefix;
  int64_t pkl = -1;
  for (size_t i = 0; i < zip.entries().size(); ++i) {
    const std::string& n = zip.entries()[i].name;
    const size_t slash = n.find('/');
    if (slash != std::string::npos && slash > 0 && n.compare(slash, std::string::npos, "/data.pkl") == 0) {
      if (pkl >= 0) fail(where, ": two pickles in one archive ('", prefix, "data.pkl' and '", n, "')");
      prefix = n.substr(0, slash + 1), pkl = int64_t(i);
    }
  }
  if (pkl < 0) fail(where, ": a zip archive without '<name>/data.pkl' (not written by torch.save)");
  if (int64_t bo = zip.find(prefix + "byteorder"); bo >= 0) {
    if (zip.entries()[size_t(bo)].size > 16) fail(where, ": malformed byteorder record");
    std::vector<uint8_t> order = zip.read(bo);
    if (std::string(order.begin(), order.end()) != "little") fail(where, ": big-endian checkpoints are not supported");
  }
  uint64_t used = 0;
  charge(used, zip.entries()[size_t(pkl)].size, limits, where);
  const std::vector<uint8_t> pkl_bytes = zip.read(pkl);
  pickle::Unpickler u(pkl_bytes, where + " (data.pkl)", limits.pickle);
  const Object* root = u.load();

  torch_pickle::Reader reader(where, limits.pickle);
  std::map<std::string, torch_pickle::LoadedStorage> by_key;
  reader.set_storage_resolver([&](const Object& pid, std::string_view what) {
    const StorageId id = parse_storage_id(pid, where, what, 5);
    if (auto it = by_key.find(id.key); it != by_key.end()) {
      if (it->second.dtype != id.dtype || it->second.numel != id.numel)
        fail(where, ": ", what, ": storage '", id.key, "' is declared twice with different types or sizes");
      return it->second;
    }
    const int64_t entry = zip.find(prefix + "data/" + id.key);
    if (entry < 0) fail(where, ": ", what, ": storage '", id.key, "' has no entry '", prefix, "data/", id.key, "'");
    const uint64_t size = zip.entries()[size_t(entry)].size, esize = dtype_size(id.dtype);
    if (uint64_t(id.numel) > size / esize || size != uint64_t(id.numel) * esize)
      fail(where, ": ", what, ": storage '", id.key, "' declares ", id.numel, " elements of ", esize, " bytes, its entry holds ",
           size, " bytes");
    charge(used, size, limits, where);
    torch_pickle::LoadedStorage st;
    st.dtype = id.dtype, st.numel = id.numel;
    st.storage = std::make_shared<Storage>(size_t(size), Device::cpu());
    if (size) zip.read(entry, st.storage->data());
    return by_key[id.key] = st;
  });
  return extract_state_dict(reader, root, where, "torch zip");
}

inline TorchCheckpoint read_legacy(std::span<const uint8_t> bytes, const std::string& where, const TorchCheckpointLimits& limits) {
  pickle::Unpickler u(bytes, where, limits.pickle);
  const Object* magic = u.load();
  if (magic->kind != Kind::big_integer || magic->bytes.size() != sizeof(kLegacyMagic) ||
      std::memcmp(magic->bytes.data(), kLegacyMagic, sizeof(kLegacyMagic)) != 0)
    fail(where, ": a pickle without torch's magic number (not a torch.save file)");
  const Object* version = u.load();
  if (version->kind != Kind::integer || version->integer != 1001) fail(where, ": unsupported torch.save protocol ", version->describe());
  const Object* sys_info = u.load();
  if (sys_info->kind != Kind::dict) fail(where, ": sys info is a ", pickle::kind_name(sys_info->kind), ", not a dict");
  if (const Object* le = sys_info->get("little_endian"); le && !(le->kind == Kind::boolean && le->boolean))
    fail(where, ": big-endian checkpoints are not supported");
  const Object* root = u.load();
  if ((root->kind == Kind::call || root->kind == Kind::global) && !torch_pickle::Reader(where).dict_items(*root))
    fail(where, ": holds ", root->describe(), ", not a state dict (fer never runs it; save model.state_dict() instead)");
  const Object* keys = u.load();
  if (keys->kind != Kind::list) fail(where, ": the storage key list is a ", pickle::kind_name(keys->kind));

  // Element types per key come from the persistent ids; the data blocks follow in the key list's order.
  std::vector<const Object*> pids;
  collect_persistent_ids(root, pids);
  std::map<std::string, StorageId> ids;
  for (const Object* p : pids) {
    StorageId id = parse_storage_id(*p, where, "storage", 6);
    if (auto [it, fresh] = ids.emplace(id.key, id); !fresh && (it->second.dtype != id.dtype || it->second.numel != id.numel))
      fail(where, ": storage '", id.key, "' is declared twice with different types or sizes");
  }
  struct Block {
    size_t offset;  // of the first element
    StorageId id;
  };
  std::map<std::string, Block> blocks;
  size_t pos = u.position();
  for (const Object* k : keys->items) {
    const std::string key = text_of(k);
    auto it = ids.find(key);
    if (it == ids.end()) fail(where, ": storage key '", key, "' in the key list is not used by any tensor");
    if (bytes.size() - pos < 8) fail(where, ": truncated before the element count of storage '", key, "'");
    uint64_t count = 0;
    for (int i = 7; i >= 0; --i) count = (count << 8) | bytes[pos + size_t(i)];
    pos += 8;
    const uint64_t esize = dtype_size(it->second.dtype);
    if (count != uint64_t(it->second.numel))
      fail(where, ": storage '", key, "' holds ", count, " elements, its id declares ", it->second.numel);
    if (count > (bytes.size() - pos) / esize)
      fail(where, ": truncated: storage '", key, "' needs ", count, " elements of ", esize, " bytes, ", bytes.size() - pos, " bytes left");
    if (!blocks.emplace(key, Block{pos, it->second}).second) fail(where, ": storage key '", key, "' listed twice");
    pos += size_t(count * esize);
  }

  torch_pickle::Reader reader(where, limits.pickle);
  std::map<std::string, torch_pickle::LoadedStorage> by_key;
  uint64_t used = 0;
  reader.set_storage_resolver([&](const Object& pid, std::string_view what) {
    const StorageId id = parse_storage_id(pid, where, what, 6);
    auto b = blocks.find(id.key);
    if (b == blocks.end()) fail(where, ": ", what, ": storage '", id.key, "' is missing from the key list");
    const size_t esize = dtype_size(id.dtype);
    // A view selects [offset, offset + size) of its root storage (copied: such files are rare and small).
    uint64_t first = 0, n = uint64_t(id.numel);
    std::string key = id.key;
    if (id.view && id.view->kind == Kind::tuple) {
      const auto& v = id.view->items;
      if (v.size() != 3 || v[1]->kind != Kind::integer || v[2]->kind != Kind::integer) fail(where, ": ", what, ": malformed storage view");
      if (v[1]->integer < 0 || v[2]->integer < 0 || v[1]->integer > id.numel || v[2]->integer > id.numel - v[1]->integer)
        fail(where, ": ", what, ": storage view [", v[1]->integer, ", +", v[2]->integer, ") outside a storage of ", id.numel);
      first = uint64_t(v[1]->integer), n = uint64_t(v[2]->integer);
      key = text_of(v[0]) + "@" + id.key;
    }
    if (auto it = by_key.find(key); it != by_key.end()) return it->second;
    charge(used, n * esize, limits, where);
    torch_pickle::LoadedStorage st;
    st.dtype = id.dtype, st.numel = int64_t(n);
    st.storage = std::make_shared<Storage>(size_t(n * esize), Device::cpu());
    if (n) std::memcpy(st.storage->data(), bytes.data() + b->second.offset + first * esize, size_t(n * esize));
    return by_key[key] = st;
  });
  return extract_state_dict(reader, root, where, "torch legacy");
}

}  // namespace torch_ckpt_detail

// True when the bytes start like torch.save's legacy format (a protocol-2 pickle of torch's magic number).
inline bool looks_like_legacy_torch(std::span<const uint8_t> b) {
  return b.size() >= 14 && b[0] == 0x80 && b[2] == 0x8a && b[3] == 0x0a &&
         std::memcmp(b.data() + 4, torch_ckpt_detail::kLegacyMagic, sizeof(torch_ckpt_detail::kLegacyMagic)) == 0;
}

// Reads a checkpoint from memory; `where` (normally the path) prefixes every error.
inline TorchCheckpoint read_torch_checkpoint(std::span<const uint8_t> bytes, const std::string& where,
                                             const TorchCheckpointLimits& limits = {}) {
  if (looks_like_zip(bytes)) return torch_ckpt_detail::read_zip(bytes, where, limits);
  if (looks_like_legacy_torch(bytes)) return torch_ckpt_detail::read_legacy(bytes, where, limits);
  if (bytes.size() >= 262 && std::memcmp(bytes.data() + 257, "ustar", 5) == 0)
    fail(where, ": a tar archive (torch.save's format before PyTorch 0.4) is not supported; re-save it with a recent PyTorch");
  fail(where, ": not a PyTorch checkpoint (neither torch.save's zip format nor its legacy pickle format)");
}

inline TorchCheckpoint read_torch_checkpoint(const std::string& path, const TorchCheckpointLimits& limits = {}) {
  auto file = MappedFile::open(path);
  return read_torch_checkpoint(std::span<const uint8_t>(file->data(), file->size()), "'" + path + "'", limits);
}

}  // namespace fer::io
