#pragma once
// A safe reader of Python pickles (protocols 2-5, plus the binary opcodes of protocol 1).
//
// Nothing is ever executed. GLOBAL / STACK_GLOBAL produce inert `global` objects (a module and a name);
// REDUCE / NEWOBJ produce inert `call` records (callable + arguments) that later receive BUILD state,
// appended list items and set dict items, exactly as the pickle protocol would hand them to the object.
// Whoever reads the result decides which callables it understands (a whitelist) and refuses the rest.
//
// Every length and memo index is checked against the input, the number of objects is limited, and all
// objects live in one arena owned by the Unpickler, so reference cycles cannot leak or recurse here.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstddef>
#include <cstring>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "fer/core/error.hpp"

namespace fer::pickle {

static_assert(std::endian::native == std::endian::little, "the pickle reader assumes a little-endian host");

enum class Kind : uint8_t {
  none, boolean, integer, big_integer, floating, string, bytes, tuple, list, dict, set,
  global,         // module + name from GLOBAL / STACK_GLOBAL
  call,           // callable(*args) from REDUCE, or cls.__new__(cls, *args) from NEWOBJ / NEWOBJ_EX
  persistent_id,  // BINPERSID: the pickled id, resolved by the reader of the result
};

inline std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::none: return "None";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::big_integer: return "int (more than 64 bits)";
    case Kind::floating: return "float";
    case Kind::string: return "str";
    case Kind::bytes: return "bytes";
    case Kind::tuple: return "tuple";
    case Kind::list: return "list";
    case Kind::dict: return "dict";
    case Kind::set: return "set";
    case Kind::global: return "global";
    case Kind::call: return "call record";
    case Kind::persistent_id: return "persistent id";
  }
  return "?";
}

struct Object {
  Kind kind = Kind::none;
  bool boolean = false;
  int64_t integer = 0;
  double floating = 0;
  std::string text;                    // string
  std::string module, name;            // global
  std::span<const uint8_t> bytes;      // bytes; big_integer (little-endian two's complement)
  std::vector<Object*> items;          // tuple, list, set; call: items appended by APPEND(S)
  std::vector<std::pair<Object*, Object*>> entries;  // dict; call: items set by SETITEM(S)
  Object* callable = nullptr;          // call
  Object* args = nullptr;              // call (a tuple)
  Object* kwargs = nullptr;            // call from NEWOBJ_EX
  Object* state = nullptr;             // call: the BUILD argument
  Object* pid = nullptr;               // persistent_id
  bool newobj = false;                 // call made by NEWOBJ / NEWOBJ_EX

  bool is(Kind k) const { return kind == k; }
  bool is_global(std::string_view m, std::string_view n) const { return kind == Kind::global && module == m && name == n; }
  // A call whose callable is the global m.n.
  bool is_call_to(std::string_view m, std::string_view n) const {
    return kind == Kind::call && callable && callable->is_global(m, n);
  }
  std::string qualified_name() const { return module + "." + name; }
  // A short description for error messages.
  std::string describe() const {
    switch (kind) {
      case Kind::global: return "global " + qualified_name();
      case Kind::call:
        if (callable && callable->kind == Kind::global) return "call to " + callable->qualified_name();
        return "call record";
      case Kind::string: return "str '" + (text.size() > 40 ? text.substr(0, 40) + "..." : text) + "'";
      case Kind::integer: return "int " + std::to_string(integer);
      default: return std::string(kind_name(kind));
    }
  }
  // The value stored under a string key of a dict (the last one wins, as in Python), or nullptr.
  const Object* get(std::string_view key) const {
    for (auto it = entries.rbegin(); it != entries.rend(); ++it)
      if (it->first->kind == Kind::string && it->first->text == key) return it->second;
    return nullptr;
  }
};

struct Limits {
  size_t max_objects = size_t(1) << 23;  // objects created by one Unpickler
  int max_depth = 256;                   // nesting followed by readers of the result (guards against cycles)
  size_t max_copied_bytes = size_t(1) << 30;  // strided tensor views copied out, in total (views can share storage)
  // Work of all walks over one pickle's objects (nodes visited, bytes of text copied), per byte of the input.
  // Shared references make a tree walk of a DAG exponential in its size (a list holding one list twice, 40 levels
  // deep, is 80 bytes); the depth and object limits do not bound that, this does.
  size_t walk_work_per_input_byte = 16;
};

// The total walk work allowed over a pickle of `input_bytes` bytes (a small floor for tiny pickles).
inline size_t walk_budget(const Limits& limits, size_t input_bytes) {
  const size_t floor = 4096;
  if (input_bytes > (SIZE_MAX - floor) / std::max<size_t>(limits.walk_work_per_input_byte, 1)) return SIZE_MAX;
  return floor + input_bytes * limits.walk_work_per_input_byte;
}

// Reads one or more consecutive pickles from `data` (which must outlive the Unpickler and its objects).
class Unpickler {
 public:
  Unpickler(std::span<const uint8_t> data, std::string source, Limits limits = {})
      : data_(data), source_(std::move(source)), limits_(limits) {}
  Unpickler(const Unpickler&) = delete;
  Unpickler& operator=(const Unpickler&) = delete;

  // Parses the pickle that starts at position() and returns its value; position() moves past its STOP.
  const Object* load();
  size_t position() const { return pos_; }
  const std::string& source() const { return source_; }
  const Limits& limits() const { return limits_; }

  template <class... Parts>
  [[noreturn]] void error(const Parts&... parts) const {
    fail(source_, ": pickle: ", parts..., " (at byte ", op_pos_, ")");
  }

 private:
  Object* make(Kind k) {
    if (arena_.size() >= limits_.max_objects) error("more than ", limits_.max_objects, " objects");
    Object& o = arena_.emplace_back();
    o.kind = k;
    return &o;
  }
  // ---- input
  void need(uint64_t n, const char* what) const {
    if (n > data_.size() - pos_) error("truncated: ", what, " needs ", n, " bytes, ", data_.size() - pos_, " left");
  }
  std::span<const uint8_t> take(uint64_t n, const char* what) {
    need(n, what);
    auto s = data_.subspan(pos_, size_t(n));
    pos_ += size_t(n);
    return s;
  }
  uint64_t read_le(int n, const char* what) {
    auto s = take(uint64_t(n), what);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | s[size_t(i)];
    return v;
  }
  std::string_view read_line(const char* what) {
    size_t start = pos_;
    while (pos_ < data_.size() && data_[pos_] != '\n') ++pos_;
    if (pos_ >= data_.size()) error("truncated: ", what, " has no end of line");
    std::string_view line(reinterpret_cast<const char*>(data_.data()) + start, pos_ - start);
    ++pos_;
    return line;
  }
  // ---- stack
  Object* pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) error("stack underflow");
    Object* o = stack_.back();
    stack_.pop_back();
    return o;
  }
  Object*& top() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back())) error("stack underflow");
    return stack_.back();
  }
  // Removes and returns the objects pushed since the last MARK.
  std::vector<Object*> pop_mark() {
    if (marks_.empty()) error("no MARK on the stack");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Object*> v(stack_.begin() + std::ptrdiff_t(m), stack_.end());
    stack_.resize(m);
    return v;
  }
  // ---- values
  Object* string_value(std::span<const uint8_t> s, const char* what) {
    if (!valid_utf8(s)) error("invalid UTF-8 in ", what);
    Object* o = make(Kind::string);
    o->text.assign(reinterpret_cast<const char*>(s.data()), s.size());
    return o;
  }
  Object* bytes_value(std::span<const uint8_t> s) {
    Object* o = make(Kind::bytes);
    o->bytes = s;
    return o;
  }
  Object* int_value(int64_t v) {
    Object* o = make(Kind::integer);
    o->integer = v;
    return o;
  }
  Object* long_value(std::span<const uint8_t> s);
  Object* tuple_value(std::vector<Object*> items) {
    Object* o = make(Kind::tuple);
    o->items = std::move(items);
    return o;
  }
  Object* global_value(std::string_view module, std::string_view name) {
    Object* o = make(Kind::global);
    o->module = module;
    o->name = name;
    return o;
  }
  void memo_put(uint64_t index) {
    if (stack_.empty()) error("memo store from an empty stack");
    memo_[index] = stack_.back();
  }
  Object* memo_get(uint64_t index) const {
    auto it = memo_.find(index);
    if (it == memo_.end()) error("memo index ", index, " was never stored");
    return it->second;
  }
  void set_items(Object* target, const std::vector<Object*>& kv);
  void append_items(Object* target, const std::vector<Object*>& items);
  static bool valid_utf8(std::span<const uint8_t> s);

  std::span<const uint8_t> data_;
  std::string source_;
  Limits limits_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  std::deque<Object> arena_;
  std::vector<Object*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Object*> memo_;
};

// ------------------------------------------------------------------------------------------ implementation

inline std::string hex_byte(uint8_t b) {
  static constexpr char digits[] = "0123456789abcdef";
  return std::string("0x") + digits[b >> 4] + digits[b & 15];
}

inline bool Unpickler::valid_utf8(std::span<const uint8_t> s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    uint8_t c = s[i];
    int extra = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
    if (extra < 0 || size_t(extra) >= n - i) return false;
    uint32_t cp = extra == 0 ? c : extra == 1 ? (c & 0x1Fu) : extra == 2 ? (c & 0x0Fu) : (c & 0x07u);
    for (int k = 1; k <= extra; ++k) {
      if ((s[i + size_t(k)] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + size_t(k)] & 0x3Fu);
    }
    static constexpr uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += size_t(extra) + 1;
  }
  return true;
}

inline Object* Unpickler::long_value(std::span<const uint8_t> s) {
  if (s.empty()) return int_value(0);
  const bool negative = s.back() & 0x80;
  // Fits in int64 when every byte above the 8th is sign extension and bit 63 carries the same sign.
  bool fits = true;
  for (size_t i = 8; i < s.size(); ++i) fits = fits && s[i] == (negative ? 0xFF : 0x00);
  if (s.size() > 8) fits = fits && bool(s[7] & 0x80) == negative;
  if (!fits) {
    Object* o = make(Kind::big_integer);
    o->bytes = s;
    return o;
  }
  const size_t n = std::min<size_t>(s.size(), 8);
  uint64_t v = 0;
  for (size_t i = n; i-- > 0;) v = (v << 8) | s[i];
  if (n < 8 && negative) v |= ~uint64_t(0) << (8 * n);
  return int_value(std::bit_cast<int64_t>(v));
}

inline void Unpickler::set_items(Object* target, const std::vector<Object*>& kv) {
  if (kv.size() % 2) error("SETITEMS with an odd number of items");
  if (target->kind != Kind::dict && target->kind != Kind::call) error("SETITEM(S) on a ", kind_name(target->kind));
  for (size_t i = 0; i < kv.size(); i += 2) target->entries.emplace_back(kv[i], kv[i + 1]);
}

inline void Unpickler::append_items(Object* target, const std::vector<Object*>& items) {
  if (target->kind != Kind::list && target->kind != Kind::call) error("APPEND(S) on a ", kind_name(target->kind));
  target->items.insert(target->items.end(), items.begin(), items.end());
}

inline const Object* Unpickler::load() {
  stack_.clear();
  marks_.clear();
  memo_.clear();
  for (;;) {
    op_pos_ = pos_;
    if (pos_ >= data_.size()) error("truncated: the pickle ends without STOP");
    const uint8_t op = data_[pos_++];
    switch (op) {
      // ---- framing and protocol
      case 0x80: {  // PROTO
        uint64_t v = read_le(1, "PROTO");
        if (v > 5) error("unsupported pickle protocol ", v);
        break;
      }
      case 0x95: {  // FRAME: a hint for buffered readers; only its length is checked
        uint64_t n = read_le(8, "FRAME");
        need(n, "FRAME");
        break;
      }
      case '.': {  // STOP
        Object* result = pop();
        return result;
      }
      // ---- constants
      case 'N': stack_.push_back(make(Kind::none)); break;
      case 0x88:  // NEWTRUE
      case 0x89: {  // NEWFALSE
        Object* o = make(Kind::boolean);
        o->boolean = op == 0x88;
        stack_.push_back(o);
        break;
      }
      case 'K': stack_.push_back(int_value(int64_t(read_le(1, "BININT1")))); break;
      case 'M': stack_.push_back(int_value(int64_t(read_le(2, "BININT2")))); break;
      case 'J': stack_.push_back(int_value(int64_t(int32_t(uint32_t(read_le(4, "BININT")))))); break;
      case 0x8a: {  // LONG1
        uint64_t n = read_le(1, "LONG1");
        stack_.push_back(long_value(take(n, "LONG1")));
        break;
      }
      case 0x8b: {  // LONG4
        int32_t n = int32_t(uint32_t(read_le(4, "LONG4")));
        if (n < 0) error("LONG4 with negative length ", n);
        stack_.push_back(long_value(take(uint64_t(n), "LONG4")));
        break;
      }
      case 'G': {  // BINFLOAT: big-endian IEEE double
        auto s = take(8, "BINFLOAT");
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | s[size_t(i)];
        Object* o = make(Kind::floating);
        o->floating = std::bit_cast<double>(bits);
        stack_.push_back(o);
        break;
      }
      // ---- strings and bytes
      case 0x8c: stack_.push_back(string_value(take(read_le(1, "SHORT_BINUNICODE"), "SHORT_BINUNICODE"), "SHORT_BINUNICODE")); break;
      case 'X': stack_.push_back(string_value(take(read_le(4, "BINUNICODE"), "BINUNICODE"), "BINUNICODE")); break;
      case 0x8d: stack_.push_back(string_value(take(read_le(8, "BINUNICODE8"), "BINUNICODE8"), "BINUNICODE8")); break;
      case 'U': stack_.push_back(string_value(take(read_le(1, "SHORT_BINSTRING"), "SHORT_BINSTRING"), "SHORT_BINSTRING")); break;
      case 'T': {  // BINSTRING (signed length)
        int32_t n = int32_t(uint32_t(read_le(4, "BINSTRING")));
        if (n < 0) error("BINSTRING with negative length ", n);
        stack_.push_back(string_value(take(uint64_t(n), "BINSTRING"), "BINSTRING"));
        break;
      }
      case 'C': stack_.push_back(bytes_value(take(read_le(1, "SHORT_BINBYTES"), "SHORT_BINBYTES"))); break;
      case 'B': stack_.push_back(bytes_value(take(read_le(4, "BINBYTES"), "BINBYTES"))); break;
      case 0x8e: stack_.push_back(bytes_value(take(read_le(8, "BINBYTES8"), "BINBYTES8"))); break;
      case 0x96: stack_.push_back(bytes_value(take(read_le(8, "BYTEARRAY8"), "BYTEARRAY8"))); break;
      // ---- containers
      case '(': marks_.push_back(stack_.size()); break;
      case ')': stack_.push_back(make(Kind::tuple)); break;
      case 0x85: {  // TUPLE1
        Object* a = pop();
        stack_.push_back(tuple_value({a}));
        break;
      }
      case 0x86: {  // TUPLE2
        Object* b = pop();
        Object* a = pop();
        stack_.push_back(tuple_value({a, b}));
        break;
      }
      case 0x87: {  // TUPLE3
        Object* c = pop();
        Object* b = pop();
        Object* a = pop();
        stack_.push_back(tuple_value({a, b, c}));
        break;
      }
      case 't': {  // TUPLE
        auto items = pop_mark();
        stack_.push_back(tuple_value(std::move(items)));
        break;
      }
      case ']': stack_.push_back(make(Kind::list)); break;
      case 'l': {  // LIST
        auto items = pop_mark();
        Object* o = make(Kind::list);
        o->items = std::move(items);
        stack_.push_back(o);
        break;
      }
      case '}': stack_.push_back(make(Kind::dict)); break;
      case 'd': {  // DICT
        auto kv = pop_mark();
        Object* o = make(Kind::dict);
        set_items(o, kv);
        stack_.push_back(o);
        break;
      }
      case 0x8f: stack_.push_back(make(Kind::set)); break;  // EMPTY_SET
      case 0x91: {  // FROZENSET
        auto items = pop_mark();
        Object* o = make(Kind::set);
        o->items = std::move(items);
        stack_.push_back(o);
        break;
      }
      case 0x90: {  // ADDITEMS
        auto items = pop_mark();
        Object* s = top();
        if (s->kind != Kind::set) error("ADDITEMS on a ", kind_name(s->kind));
        s->items.insert(s->items.end(), items.begin(), items.end());
        break;
      }
      case 'a': {  // APPEND
        Object* v = pop();
        append_items(top(), {v});
        break;
      }
      case 'e': {  // APPENDS
        auto items = pop_mark();
        append_items(top(), items);
        break;
      }
      case 's': {  // SETITEM
        Object* v = pop();
        Object* k = pop();
        set_items(top(), {k, v});
        break;
      }
      case 'u': {  // SETITEMS
        auto kv = pop_mark();
        set_items(top(), kv);
        break;
      }
      // ---- stack manipulation and memo
      case '0': pop(); break;  // POP
      case '1': pop_mark(); break;  // POP_MARK
      case '2': {  // DUP
        Object* o = top();
        stack_.push_back(o);
        break;
      }
      case 0x94: memo_put(memo_.size()); break;  // MEMOIZE
      case 'q': memo_put(read_le(1, "BINPUT")); break;
      case 'r': memo_put(read_le(4, "LONG_BINPUT")); break;
      case 'h': stack_.push_back(memo_get(read_le(1, "BINGET"))); break;
      case 'j': stack_.push_back(memo_get(read_le(4, "LONG_BINGET"))); break;
      // ---- globals and calls: recorded, never executed
      case 'c': {  // GLOBAL "module\nname\n"
        std::string module(read_line("GLOBAL module"));
        std::string_view name = read_line("GLOBAL name");
        if (!valid_utf8({reinterpret_cast<const uint8_t*>(module.data()), module.size()}) ||
            !valid_utf8({reinterpret_cast<const uint8_t*>(name.data()), name.size()}))
          error("invalid UTF-8 in GLOBAL");
        stack_.push_back(global_value(module, name));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        Object* name = pop();
        Object* module = pop();
        if (module->kind != Kind::string || name->kind != Kind::string)
          error("STACK_GLOBAL needs two str, got ", module->describe(), " and ", name->describe());
        stack_.push_back(global_value(module->text, name->text));
        break;
      }
      case 'R': {  // REDUCE
        Object* args = pop();
        Object* fn = pop();
        if (args->kind != Kind::tuple) error("REDUCE arguments are a ", kind_name(args->kind), ", not a tuple");
        Object* o = make(Kind::call);
        o->callable = fn;
        o->args = args;
        stack_.push_back(o);
        break;
      }
      case 0x81: {  // NEWOBJ
        Object* args = pop();
        Object* cls = pop();
        if (args->kind != Kind::tuple) error("NEWOBJ arguments are a ", kind_name(args->kind), ", not a tuple");
        Object* o = make(Kind::call);
        o->callable = cls;
        o->args = args;
        o->newobj = true;
        stack_.push_back(o);
        break;
      }
      case 0x92: {  // NEWOBJ_EX
        Object* kwargs = pop();
        Object* args = pop();
        Object* cls = pop();
        if (args->kind != Kind::tuple || kwargs->kind != Kind::dict) error("NEWOBJ_EX needs a tuple and a dict");
        Object* o = make(Kind::call);
        o->callable = cls;
        o->args = args;
        o->kwargs = kwargs;
        o->newobj = true;
        stack_.push_back(o);
        break;
      }
      case 'b': {  // BUILD
        Object* state = pop();
        Object* target = top();
        if (target->kind != Kind::call) error("BUILD on a ", kind_name(target->kind));
        if (target->state) error("BUILD applied twice to one ", target->describe());
        target->state = state;
        break;
      }
      case 'Q': {  // BINPERSID
        Object* o = make(Kind::persistent_id);
        o->pid = pop();
        stack_.push_back(o);
        break;
      }
      default: {
        static constexpr std::string_view text_ops = "IFLSVgpPoi";  // protocol-0 text forms and INST/OBJ
        char c = char(op);
        if (op == 0x82 || op == 0x83 || op == 0x84) error("unsupported opcode EXT", 1 << (op - 0x82));
        if (op == 0x97 || op == 0x98) error("unsupported opcode for out-of-band buffers (", hex_byte(op), ")");
        if (op < 0x80 && text_ops.find(c) != std::string_view::npos)
          error("unsupported protocol-0/1 opcode '", c, "'");
        error("unknown opcode ", hex_byte(op));
      }
    }
  }
}

}  // namespace fer::pickle
