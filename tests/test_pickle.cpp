// The safe pickle reader and the StyleGAN2-ADA network pickle reader: NVIDIA's G_small.pkl against the same
// weights in safetensors, a hand-made network pickle (tools/make_pickle_fixtures.py) with known values, and
// malformed / hostile pickles, which must all end in a fer::Error naming the file and the problem.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "fer/io/stylegan2_pkl.hpp"
#include "models/stylegan2.hpp"

using namespace fer;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {

// The shared fixtures sit beside the checkout (/work/shared next to /work/main) or two levels up from a worktree.
std::string shared_fixtures() {
  for (const char* dir : {FER_SOURCE_DIR "/../shared/fixtures/stylegan2/", FER_SOURCE_DIR "/../../shared/fixtures/stylegan2/"})
    if (fs::exists(std::string(dir) + "G_small.pkl")) return dir;
  return FER_SOURCE_DIR "/../shared/fixtures/stylegan2/";
}
const std::string kShared = shared_fixtures();
const std::string kData = FER_TEST_DATA "/pickle/";

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE_MESSAGE(f, "cannot open ", path);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// Just enough of safetensors for the cross-check: name -> (dtype, shape, bytes).
struct StEntry {
  std::string dtype;
  std::vector<int64_t> shape;
  std::span<const uint8_t> bytes;
};
std::map<std::string, StEntry> read_safetensors(const std::vector<uint8_t>& file) {
  REQUIRE(file.size() >= 8);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file[size_t(i)];
  REQUIRE(n <= file.size() - 8);
  auto header = nlohmann::json::parse(file.begin() + 8, file.begin() + 8 + std::ptrdiff_t(n));
  const size_t base = 8 + size_t(n);
  std::map<std::string, StEntry> out;
  for (auto& [name, v] : header.items()) {
    if (name == "__metadata__") continue;
    size_t lo = v["data_offsets"][0], hi = v["data_offsets"][1];
    REQUIRE((lo <= hi && hi <= file.size() - base));
    out[name] = {v["dtype"], v["shape"].get<std::vector<int64_t>>(), std::span(file).subspan(base + lo, hi - lo)};
  }
  return out;
}

// The error message of reading `bytes` as a network pickle named `source`, or "" when it reads fine.
std::string read_error(std::span<const uint8_t> bytes, const std::string& source = "mem.pkl") {
  try {
    read_stylegan2_pkl(bytes, source);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::span<const uint8_t> as_bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

// Parses one in-memory pickle with the bare VM.
const pickle::Object* parse(pickle::Unpickler& u) { return u.load(); }

}  // namespace

TEST_CASE("G_small.pkl: every G_ema tensor is bit-identical to G_small.safetensors, under the same name and shape") {
  if (!fs::exists(kShared + "G_small.pkl")) {
    MESSAGE("SKIPPED: ", kShared, " is absent");
    return;
  }
  const Stylegan2Checkpoint ck = load_stylegan2_pkl(kShared + "G_small.pkl");
  CHECK(ck.class_name == "Generator");

  // keys.txt: "name [d0, d1, ...]"
  std::ifstream keys(kShared + "keys.txt");
  std::string line;
  size_t listed = 0;
  while (std::getline(keys, line)) {
    if (line.empty()) continue;
    ++listed;
    const std::string name = line.substr(0, line.find(' '));
    const std::string shape = line.substr(line.find(' ') + 1);
    REQUIRE_MESSAGE(ck.state.count(name), name, " is missing");
    CHECK_MESSAGE(ck.state.at(name).shape().str() == shape, name);
  }
  CHECK(listed == 77);
  CHECK(ck.state.size() == listed);

  const std::vector<uint8_t> st_file = read_file(kShared + "G_small.safetensors");
  const auto st = read_safetensors(st_file);
  CHECK(st.size() == ck.state.size());
  for (auto& [name, ref] : st) {
    REQUIRE_MESSAGE(ck.state.count(name), name);
    const Tensor& t = ck.state.at(name);
    CHECK(ref.dtype == "F32");
    CHECK(t.dtype() == DType::f32);
    CHECK(t.is_contiguous());
    CHECK(t.shape() == Shape(ref.shape));
    REQUIRE(t.nbytes() == ref.bytes.size());
    CHECK_MESSAGE(std::memcmp(t.raw_data(), ref.bytes.data(), t.nbytes()) == 0, name, " differs");
  }
}

TEST_CASE("G_small.pkl: constructor arguments and module attributes") {
  if (!fs::exists(kShared + "G_small.pkl")) {
    MESSAGE("SKIPPED: ", kShared, " is absent");
    return;
  }
  const Stylegan2Checkpoint ck = load_stylegan2_pkl(kShared + "G_small.pkl");
  const auto& kw = ck.init_kwargs;
  CHECK(kw["z_dim"] == 64);
  CHECK(kw["w_dim"] == 64);
  CHECK(kw["c_dim"] == 7);
  CHECK(kw["img_resolution"] == 32);
  CHECK(kw["img_channels"] == 1);
  CHECK(kw["mapping_kwargs"]["num_layers"] == 2);
  CHECK(kw["synthesis_kwargs"]["channel_base"] == 2048);
  CHECK(kw["synthesis_kwargs"]["channel_max"] == 64);
  CHECK(kw["synthesis_kwargs"]["num_fp16_res"] == 0);
  CHECK(kw["synthesis_kwargs"]["conv_clamp"] == 256);
  // 'skip' is the default architecture, so it is not among the constructor arguments but is an attribute.
  CHECK_FALSE(kw["synthesis_kwargs"].contains("architecture"));
  for (const char* block : {"synthesis.b4", "synthesis.b8", "synthesis.b16", "synthesis.b32"})
    CHECK(ck.attributes[block]["architecture"] == "skip");
  CHECK(ck.attributes["synthesis"]["num_ws"] == 8);
  CHECK(ck.attributes["synthesis"]["block_resolutions"] == nlohmann::json::array({4, 8, 16, 32}));
  CHECK(ck.attributes["synthesis.b32"]["is_last"] == true);
  // act_gain is a numpy float64 scalar in the pickle: sqrt(2)
  CHECK(ck.attributes["synthesis.b4.conv1"]["act_gain"].get<double>() == doctest::Approx(std::sqrt(2.0)).epsilon(1e-15));
  CHECK(ck.attributes["mapping"]["w_avg_beta"].get<double>() == 0.995);
}

TEST_CASE("tiny_G.pkl in protocols 4 and 2: names, dtypes, strided views, skipped entries, kwargs") {
  for (const char* file : {"tiny_G.pkl", "tiny_G_proto2.pkl"}) {
    INFO(std::string(file));
    const Stylegan2Checkpoint ck = load_stylegan2_pkl(kData + file);
    CHECK(ck.class_name == "Generator");
    // None parameters, the None submodule and the non-persistent buffer 'scratch' are not in the state dict.
    std::vector<std::string> names;
    for (auto& [k, v] : ck.state) names.push_back(k);
    CHECK(names == std::vector<std::string>{"bias", "layer.affine.weight", "layer.half", "layer.idx",
                                            "layer.noise_strength", "layer.weight"});

    const Tensor& bias = ck.state.at("bias");
    CHECK(bias.dtype() == DType::f64);
    CHECK(bias.to_vector() == std::vector<double>{1.5, -2.25, 1e-3});

    // weight = (arange(24).reshape(4, 6) * 0.5 - 3).t()[1:]: a [5, 4] view with strides [1, 6] at offset 1.
    const Tensor& w = ck.state.at("layer.weight");
    CHECK(w.dtype() == DType::f32);
    CHECK(w.shape() == Shape{5, 4});
    CHECK(w.is_contiguous());
    for (int r = 0; r < 5; ++r)
      for (int c = 0; c < 4; ++c) CHECK(w.at(r, c) == 0.5 * (6 * c + r + 1) - 3);

    const Tensor& ns = ck.state.at("layer.noise_strength");
    CHECK(ns.dim() == 0);
    CHECK(ns.item() == 0.25);

    const Tensor& idx = ck.state.at("layer.idx");
    REQUIRE(idx.dtype() == DType::i64);
    CHECK(idx.data<int64_t>()[0] == 7);
    CHECK(idx.data<int64_t>()[1] == -1);
    CHECK(idx.data<int64_t>()[2] == (int64_t(1) << 40));

    const Tensor& half = ck.state.at("layer.half");
    CHECK(half.dtype() == DType::f16);
    CHECK(half.to_vector() == std::vector<double>{0.5, -1.0, 65504.0});
    CHECK(ck.state.at("layer.affine.weight").to_vector() == std::vector<double>(6, 1.0));

    const auto& kw = ck.init_kwargs;
    CHECK(kw["z_dim"] == 8);  // given positionally (init_args)
    CHECK(kw["w_dim"] == 4);
    CHECK(kw["mapping_kwargs"]["num_layers"] == 2);              // a dnnlib.util.EasyDict
    CHECK(kw["mapping_kwargs"]["lr_multiplier"] == 0.01);        // numpy float64
    CHECK(kw["synthesis_kwargs"]["channel_base"] == 512);        // numpy int64
    CHECK(kw["synthesis_kwargs"]["conv_clamp"].is_null());
    CHECK(kw["synthesis_kwargs"]["flag"] == true);
    CHECK(kw["synthesis_kwargs"]["names"] == nlohmann::json::array({"a", "b"}));
    CHECK(kw["synthesis_kwargs"]["channels"] == nlohmann::json({{"4", 8}, {"8", 4}}));  // int keys become text
    CHECK(ck.attributes["layer"]["act_gain"] == 1.25);           // numpy float32
    CHECK(ck.attributes["layer"]["architecture"] == "skip");
    CHECK(ck.attributes["layer.affine"]["activation"] == "linear");
  }
}

TEST_CASE("malformed and hostile pickles: a fer::Error naming the file and the problem") {
  const std::pair<const char*, const char*> cases[] = {
      {"truncated.pkl", "truncated"},
      {"bad_opcode.pkl", "unknown opcode 0xff"},
      {"memo_out_of_range.pkl", "memo index 7 was never stored"},
      {"huge_length.pkl", "BINUNICODE needs 4294967295 bytes"},
      {"huge_bytes8.pkl", "BINBYTES8 needs 9223372036854775808 bytes"},
      {"stack_underflow.pkl", "stack underflow"},
      {"os_system.pkl", "got call to posix.system"},
      {"os_system_tensor.pkl", "G_ema.weight: expected a tensor, got call to posix.system (not on the whitelist)"},
      {"deep_nesting.pkl", "G_ema._init_kwargs.deep: nested deeper than 256 levels"},
      {"cycle.pkl", "G_ema._init_kwargs.loop: nested deeper than 256 levels (or a cycle)"},
      {"view_beyond_storage.pkl", "G_ema.layer.weight: tensor view [100] with strides [1] at offset 0 reaches element 99 of a storage of 10"},
      {"view_offset_beyond.pkl", "reaches element 10 of a storage of 10"},
      {"view_overflow.pkl", "G_ema.layer.weight: element count overflows"},
      {"view_expanded.pkl", "G_ema.layer.weight: tensor view of 1000 elements over a storage of 10 (expanded views are not supported)"},
      {"storage_truncated.pkl", "torch storage blob: truncated: 10 elements of 4 bytes, 30 bytes left"},
      {"storage_bad_magic.pkl", "torch storage blob: wrong magic number"},
      {"no_G_ema.pkl", "G_ema: not in the pickle (its keys: G, D)"},
  };
  for (auto [file, problem] : cases) {
    INFO(std::string(file));
    const std::string path = kData + file;
    std::string msg;
    try {
      load_stylegan2_pkl(path);
    } catch (const Error& e) {
      msg = e.what();
    }
    CHECK_MESSAGE(msg.find(path) == 0, msg);
    CHECK_MESSAGE(msg.find(problem) != std::string::npos, msg);
  }
  // The strided weight of tiny_G.pkl is copied out (80 bytes): a budget of 64 bytes refuses it.
  pickle::Limits tight;
  tight.max_copied_bytes = 64;
  CHECK_THROWS_WITH_AS(load_stylegan2_pkl(kData + "tiny_G.pkl", "G_ema", tight),
                       doctest::Contains("G_ema.layer.weight: strided tensor copies exceed 64 bytes in total"), Error);
  CHECK_THROWS_WITH_AS(load_stylegan2_pkl(kData + "does_not_exist.pkl"),
                       doctest::Contains("does_not_exist.pkl: cannot open the network pickle"), Error);
}

TEST_CASE("pickle VM: opcodes build the values Python would, calls stay inert records") {
  // {'a': (1, -2, 300, 70000, -5, 2**70, 1.5), 'b': [b'xy', None, True], 'c': os.system('x') built later}
  // written by hand: PROTO 4, EMPTY_DICT, MARK, ... SETITEMS, STOP.
  std::string p = "\x80\x04}\x94(";
  p += "\x8c\x01" "a" "(K\x01J\xfe\xff\xff\xffM\x2c\x01J\x70\x11\x01\x00\x8a\x01\xfb"s;
  p += std::string("\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40", 11);  // 2**70
  p += std::string("G\x3f\xf8\x00\x00\x00\x00\x00\x00", 9);              // 1.5 (big-endian)
  p += "t";
  p += "\x8c\x01" "b" "]\x94(C\x02xyN\x88" "e";
  p += "\x8c\x01" "c" "\x8c\x02os\x8c\x06system\x93\x8c\x01x\x85R";
  p += "u.";
  pickle::Unpickler u(as_bytes(p), "mem");
  const pickle::Object* root = parse(u);
  REQUIRE(root->kind == pickle::Kind::dict);
  const pickle::Object* a = root->get("a");
  REQUIRE(a);
  REQUIRE(a->items.size() == 7);
  CHECK(a->items[0]->integer == 1);
  CHECK(a->items[1]->integer == -2);
  CHECK(a->items[2]->integer == 300);
  CHECK(a->items[3]->integer == 70000);
  CHECK(a->items[4]->integer == -5);
  CHECK(a->items[5]->kind == pickle::Kind::big_integer);
  CHECK(a->items[6]->floating == 1.5);
  const pickle::Object* b = root->get("b");
  REQUIRE(b->items.size() == 3);
  CHECK(std::string(b->items[0]->bytes.begin(), b->items[0]->bytes.end()) == "xy");
  CHECK(b->items[1]->kind == pickle::Kind::none);
  CHECK(b->items[2]->boolean);
  const pickle::Object* c = root->get("c");
  CHECK(c->is_call_to("os", "system"));  // recorded, never run
  CHECK(c->describe() == "call to os.system");
  CHECK(u.position() == p.size());

  // LONG1 sign handling at the int64 edges.
  auto long1 = [](std::string bytes) {
    std::string s = "\x80\x02\x8a";
    s += char(bytes.size());
    s += bytes + ".";
    pickle::Unpickler v(as_bytes(s), "mem");
    const pickle::Object* o = v.load();
    return o->kind == pickle::Kind::integer ? o->integer : int64_t(42);
  };
  CHECK(long1(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8)) == INT64_MAX);
  CHECK(long1(std::string("\x00\x00\x00\x00\x00\x00\x00\x80", 8)) == INT64_MIN);
  CHECK(long1(std::string("\x00\x00\x00\x00\x00\x00\x00\x80\xff", 9)) == INT64_MIN);
  CHECK(long1(std::string("\x00\x00\x00\x00\x00\x00\x00\x80\x00", 9)) == 42);  // 2**63 does not fit
  CHECK(long1(std::string("\x00\x80", 2)) == -32768);
  CHECK(long1("") == 0);
}

TEST_CASE("pickle VM: malformed streams in memory") {
  const std::pair<std::string, const char*> cases[] = {
      {std::string("\x80\x06N.", 4), "unsupported pickle protocol 6"},
      {"\x80\x02N", "the pickle ends without STOP"},
      {"\x80\x02.", "stack underflow"},
      {"\x80\x02N(0.", "stack underflow"},            // POP below the MARK
      {"\x80\x02Nt.", "no MARK on the stack"},
      {"\x80\x02\x8c\x02\xff\xfe.", "invalid UTF-8 in SHORT_BINUNICODE"},
      {"\x80\x02\x8c\x03\xed\xa0\x80.", "invalid UTF-8"},  // an encoded surrogate
      {"\x80\x02NN\x93.", "STACK_GLOBAL needs two str"},
      {"\x80\x02]Nb.", "BUILD on a list"},
      {"\x80\x02NNs.", "stack underflow"},
      {"\x80\x02}N(Nu.", "SETITEMS with an odd number of items"},
      {"\x80\x02NNNs.", "SETITEM(S) on a None"},
      {"\x80\x02" "cos\nsystem", "GLOBAL name has no end of line"},
      {"\x80\x02I1\n.", "unsupported protocol-0/1 opcode 'I'"},
      {"\x80\x02\x82\x01.", "unsupported opcode EXT1"},
      {std::string("\x80\x02\x8b\xff\xff\xff\xff.", 8), "LONG4 with negative length"},
      {"\x80\x02j\xff\xff\xff\xff.", "memo index 4294967295 was never stored"},
      {"\x80\x02)N\x81.", "NEWOBJ arguments are a None, not a tuple"},
  };
  for (auto& [bytes, problem] : cases) {
    const std::string msg = read_error(as_bytes(bytes), "mem.pkl");
    INFO(std::string(problem));
    CHECK_MESSAGE(msg.find("mem.pkl: pickle: ") == 0, msg);
    CHECK_MESSAGE(msg.find(problem) != std::string::npos, msg);
  }
  // The object limit bounds memory: 1000 EMPTY_TUPLEs with a limit of 100.
  std::string many = "\x80\x02" + std::string(1000, ')') + ".";
  pickle::Limits small;
  small.max_objects = 100;
  pickle::Unpickler u(as_bytes(many), "mem.pkl", small);
  CHECK_THROWS_WITH_AS(u.load(), doctest::Contains("more than 100 objects"), Error);
}

TEST_CASE("every truncation of a valid network pickle or storage blob is a clean error") {
  const std::vector<uint8_t> file = read_file(kData + "tiny_G_proto2.pkl");
  REQUIRE(read_error(file).empty());
  for (size_t n = 0; n < file.size(); ++n) {
    const std::string msg = read_error(std::span(file).first(n));
    if (msg.empty()) FAIL_CHECK("prefix of ", n, " bytes was accepted");
  }
  // The first storage blob inside tiny_G.pkl: BINBYTES (4-byte length) holding torch's legacy magic pickle.
  const std::vector<uint8_t> p4 = read_file(kData + "tiny_G.pkl");
  const std::vector<uint8_t> magic = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46};
  auto it = std::search(p4.begin(), p4.end(), magic.begin(), magic.end());
  REQUIRE(it != p4.end());
  const size_t at = size_t(it - p4.begin());
  REQUIRE((at >= 5 && p4[at - 5] == 'B'));
  const size_t len = p4[at - 4] | p4[at - 3] << 8 | p4[at - 2] << 16 | size_t(p4[at - 1]) << 24;
  REQUIRE(at + len <= p4.size());
  const std::span<const uint8_t> blob(p4.data() + at, len);
  const torch_pickle::LoadedStorage whole = torch_pickle::read_legacy_storage(blob, "blob", {});
  CHECK(whole.dtype == DType::f64);  // the first tensor is G's f64 bias
  CHECK(whole.numel == 3);
  for (size_t n = 0; n < len; ++n) {
    bool threw = false;
    try {
      torch_pickle::read_legacy_storage(blob.first(n), "blob", {});
    } catch (const Error& e) {
      threw = std::string(e.what()).find("blob") == 0;
    }
    if (!threw) FAIL_CHECK("blob prefix of ", n, " bytes was not rejected cleanly");
  }
}

TEST_CASE("random corruption of a valid network pickle is read or rejected, never a crash") {
  // Run under AddressSanitizer/UBSan (FER_SANITIZE=address,undefined) to catch out-of-bounds reads.
  for (const char* file : {"tiny_G.pkl", "tiny_G_proto2.pkl"}) {
    const std::vector<uint8_t> clean = read_file(kData + file);
    std::mt19937 gen(1234);
    int rejected = 0;
    const int trials = 3000;
    for (int t = 0; t < trials; ++t) {
      std::vector<uint8_t> bytes = clean;
      const int flips = 1 + int(gen() % 4);
      for (int k = 0; k < flips; ++k) {
        const size_t pos = gen() % bytes.size();
        bytes[pos] = (gen() % 2) ? uint8_t(gen()) : uint8_t(bytes[pos] ^ (1u << (gen() % 8)));
      }
      try {
        read_stylegan2_pkl(bytes, "fuzz.pkl");
      } catch (const Error&) {
        ++rejected;
      }
      // anything else (std::bad_alloc, nlohmann exceptions, crashes) fails the test
    }
    MESSAGE(std::string(file), ": ", rejected, " of ", trials, " corrupted copies rejected");
    CHECK(rejected > trials / 4);
  }
}

namespace {

// Pieces of hand-written network pickles (protocol 2): SHORT_BINUNICODE strings and NVIDIA persistent modules.
std::string str(const std::string& s) { return "\x8c"s + char(s.size()) + s; }
// A persistent module record whose state dict holds empty _parameters and _buffers, the given _modules items
// and _init_kwargs value, and `state_items` (more key/value opcodes).
std::string module(const std::string& modules_items, const std::string& state_items = "",
                   const std::string& init_kwargs = "}", const std::string& parameters = "}") {
  std::string p = "ctorch_utils.persistence\n_reconstruct_persistent_obj\n";
  p += "}(" + str("type") + str("class") + str("class_name") + str("Generator") + str("state");
  p += "}(" + str("_parameters") + parameters + str("_buffers") + "}" + str("_modules") + "}(" + modules_items + "u";
  p += str("_init_kwargs") + init_kwargs + state_items + "u";
  return p + "u\x85R";
}
std::string network_pickle(const std::string& g_ema) { return "\x80\x02}(" + str("G_ema") + g_ema + "u."; }

}  // namespace

// Issue 15 (9b): shared references (the same list or module referenced twice, nested) made the readers' tree walks
// exponential: 2^levels visits from 2 bytes per level. Every walk is now bounded by a multiple of the input size.
TEST_CASE("a pickle that shares references (a DAG) is refused in time linear in its size, not walked exponentially") {
  // An attribute holding (x, x) where x = (y, y), ... 24 levels deep: DUP + TUPLE2 per level, 2^24 leaves.
  std::string dag = "]";
  for (int i = 0; i < 24; ++i) dag += "2\x86";
  const std::string attr = network_pickle(module("", str("shared") + dag));
  CHECK(attr.size() < 300);
  const std::string msg = read_error(as_bytes(attr), "dag.pkl");
  CHECK_MESSAGE(msg.find("dag.pkl: G_ema: reading takes more than ") == 0, msg);
  CHECK_MESSAGE(msg.find("a multiple of the input size") != std::string::npos, msg);

  // The same through _init_kwargs (read with to_json as well, outside the attribute loop).
  const std::string kwargs = network_pickle(module("", "", "}" + str("deep") + dag + "s"));
  CHECK(read_error(as_bytes(kwargs), "kw.pkl").find("kw.pkl: G_ema._init_kwargs.deep: reading takes more than") == 0);

  // A module tree where every module holds the same child twice (memoized), 18 levels: 2^18 module visits.
  std::string m = module("");
  for (int level = 0; level < 18; ++level) {
    m = module(str("a") + m + "q" + char(level) + str("b") + "h" + char(level));
  }
  const std::string modules = network_pickle(m);
  const std::string msg2 = read_error(as_bytes(modules), "modules.pkl");
  CHECK_MESSAGE(msg2.find("reading takes more than") != std::string::npos, msg2);

  // A 60000-byte key shared by 200 nested dicts: the dotted names built for error messages grew to 12 MB each, 1.2 GB
  // along one path (found by reading the walk for costs beyond its visits). The names are charged too.
  std::string nested = "}";
  for (int level = 0; level < 199; ++level) nested = "}h\xff" + nested + "s";
  const std::string key = "X" + std::string("\x60\xea\x00\x00", 4) + std::string(60000, 'k') + "q\xff";
  const std::string long_keys = network_pickle(module("", "", "}" + str("deep") + "}" + key + nested + "ss"));
  CHECK(read_error(as_bytes(long_keys), "keys.pkl").find("keys.pkl: G_ema._init_kwargs.deep.kkkk") == 0);
  CHECK(read_error(as_bytes(long_keys), "keys.pkl").find("reading takes more than") != std::string::npos);

  // The budget grows with the input: the same shapes a few levels deep read fine.
  std::string small = "]";
  for (int i = 0; i < 4; ++i) small += "2\x86";
  CHECK(read_error(as_bytes(network_pickle(module("", str("shared") + small)))).empty());
  std::string m3 = module("");
  for (int level = 0; level < 3; ++level) m3 = module(str("a") + m3 + "q" + char(level) + str("b") + "h" + char(level));
  const Stylegan2Checkpoint ck = read_stylegan2_pkl(as_bytes(network_pickle(m3)), "m3.pkl");
  CHECK(ck.attributes.contains("a.b.a"));
  CHECK(ck.attributes.contains("b.b.b"));
}

// Issue 15 (9c): a value of the wrong type where the generator's configuration expects a string escaped as a JSON
// library exception (nlohmann type_error), and wrong-typed numbers were silently replaced by defaults. Every read
// now goes through typed accessors that throw fer::Error naming the file and the key.
TEST_CASE("a generator configuration with a value of the wrong type is a fer::Error naming the file and the key") {
  const fs::path dir = fs::temp_directory_path() / "fer_test_pickle_config";
  fs::create_directories(dir);
  const fs::path pkl = dir / "arch_int.pkl";
  const std::string bytes = network_pickle(module(str("synthesis") + module(str("b4") + module("", str("architecture") + "K\x05"))));
  std::ofstream(pkl, std::ios::binary) << bytes;
  CHECK_THROWS_WITH_AS(models::Stylegan2Generator::load(pkl),
                       doctest::Contains((pkl.string() + ": config attributes of synthesis.b4.architecture is 5, not a string").c_str()),
                       Error);

  using models::Stylegan2Config;
  const std::pair<const char*, const char*> cases[] = {
      {R"({"synthesis_kwargs": {"architecture": 5}})", "g.safetensors: config synthesis_kwargs.architecture is 5, not a string"},
      {R"({"synthesis_kwargs": {"architecture": ["skip"]}})", "synthesis_kwargs.architecture is [\"skip\"], not a string"},
      {R"({"z_dim": "512"})", "g.safetensors: config z_dim is \"512\", not an integer"},
      {R"({"z_dim": 2.5})", "config z_dim is 2.5, not an integer"},
      {R"({"w_dim": -3})", "config w_dim is -3, outside [1, 1048576]"},
      {R"({"img_resolution": 18446744073709551615})", "config img_resolution is 18446744073709551615, outside"},
      {R"({"mapping_kwargs": [8]})", "config mapping_kwargs is [8], not a dict"},
      {R"({"mapping_kwargs": {"lr_multiplier": "0.01"}})", "config mapping_kwargs.lr_multiplier is \"0.01\", not a number"},
      {R"({"synthesis_kwargs": {"conv_clamp": true}})", "config synthesis_kwargs.conv_clamp is true, not a number"},
      {R"([1, 2])", "g.safetensors: config is [1,2], not a dict"},
  };
  for (auto [text, problem] : cases) {
    INFO(text);
    CHECK_THROWS_WITH_AS(Stylegan2Config::from_kwargs(nlohmann::json::parse(text), "g.safetensors"),
                         doctest::Contains(problem), Error);
  }
  // Well-typed values read as before; None (null) leaves conv_clamp at "none".
  const Stylegan2Config c = Stylegan2Config::from_kwargs(nlohmann::json::parse(
      R"({"z_dim": 64, "w_dim": 32.0, "c_dim": 7, "img_resolution": 16, "img_channels": 1,
          "mapping_kwargs": {"num_layers": 2, "lr_multiplier": 0.5},
          "synthesis_kwargs": {"architecture": "resnet", "conv_clamp": null}})"), "g.safetensors");
  CHECK(c.z_dim == 64);
  CHECK(c.w_dim == 32);
  CHECK(c.c_dim == 7);
  CHECK(c.img_resolution == 16);
  CHECK(c.mapping_layers == 2);
  CHECK(c.mapping_lr_multiplier == 0.5);
  CHECK(c.architecture == "resnet");
  CHECK(c.conv_clamp == -1);
}

namespace {

std::string le32(uint32_t v) { return std::string{char(v), char(v >> 8), char(v >> 16), char(v >> 24)}; }

// torch.save's legacy serialization of one FloatStorage of `numel` elements (what _load_from_bytes reads).
std::string legacy_float_storage(uint32_t numel) {
  std::string b = std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);  // magic number
  b += "\x80\x02M\xe9\x03.";                                                               // protocol 1001
  b += "\x80\x02}" + str("little_endian") + "\x88s.";                                        // sys info
  b += "\x80\x02(" + str("storage") + "ctorch\nFloatStorage\n" + str("0") + str("cpu") + "J" + le32(numel) + "NtQ.";
  b += "\x80\x02](" + str("0") + "e.";                                                        // the key list
  b += le32(numel) + le32(0);                                                                 // int64 element count
  for (uint32_t i = 0; i < numel; ++i) b += le32(0x3f800000);                                 // 1.0f
  return b;
}

}  // namespace

// Issue 15 (9b, the same class): many tensor records sharing one memoized bytes object each decoded and copied it,
// a few bytes of pickle per copy of the whole blob. Tensors and storage copies are charged to the walk budget.
TEST_CASE("tensor records that share one storage blob cannot multiply memory beyond a multiple of the input") {
  const uint32_t numel = 100000;
  const std::string blob = legacy_float_storage(numel);
  auto tensors = [&](int count) {
    // The first record defines the globals (memo 2, 3) and the blob (memo 1); the others refer to them.
    std::string p = "}(";
    for (int i = 0; i < count; ++i) {
      p += str("w" + std::to_string(i));
      if (i == 0)
        p += "ctorch._utils\n_rebuild_tensor_v2\nq\x02(ctorch.storage\n_load_from_bytes\nq\x03" "B" + le32(uint32_t(blob.size())) +
             blob + "q\x01";
      else
        p += "h\x02(h\x03h\x01";
      p += "\x85RK\x00J"s + le32(numel) + "\x85K\x01\x85tR";
    }
    return network_pickle(module("", "", "}", p + "u"));
  };
  const std::string many = tensors(200);
  CHECK(many.size() < blob.size() + 8000);
  const std::string msg = read_error(as_bytes(many), "shared_blob.pkl");
  CHECK_MESSAGE(msg.find("shared_blob.pkl: G_ema.w") == 0, msg);
  CHECK_MESSAGE(msg.find("reading takes more than") != std::string::npos, msg);
  // Two records over one blob stay well inside the budget and read as two tensors of ones.
  const Stylegan2Checkpoint two = read_stylegan2_pkl(as_bytes(tensors(2)), "two.pkl");
  REQUIRE(two.state.size() == 2);
  CHECK(two.state.at("w1").numel() == numel);
  CHECK(two.state.at("w1").data<float>()[numel - 1] == 1.0f);
}
