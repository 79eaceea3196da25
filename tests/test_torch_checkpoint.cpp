// PyTorch checkpoints read without Python (io/torch_checkpoint.hpp, nn/load_weights.hpp) against files written by
// torch.save itself (tools/make_pt_fixtures.py, PyTorch 1.13 and 2.x): both formats, wrappers, "module." prefixes,
// f32/f16/bf16/f64 storages, shared storages and strided views, the thesis's EfficientNet-B0 state dict without its
// classifier, and hostile files (truncated, corrupt CRC, code-running pickles, unknown globals, sizes and offsets
// out of range), each refused with an error naming the file and the problem.
#include <doctest/doctest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "fer/io/torch_checkpoint.hpp"
#include "fer/nn/load_weights.hpp"
#include "models/registry.hpp"

using namespace fer;
namespace fs = std::filesystem;

namespace {

std::string pt(const std::string& name) { return std::string(FER_TEST_DATA) + "/pt/" + name; }

// Exact equality of two tensors: dtype, shape and every value.
void check_same(const Tensor& got, const Tensor& want, const std::string& what) {
  CAPTURE(what);
  REQUIRE(got.dtype() == want.dtype());
  REQUIRE(got.shape() == want.shape());
  CHECK(got.to_vector() == want.to_vector());
}

std::map<std::string, Tensor> by_name(const io::NamedTensors& v) {
  std::map<std::string, Tensor> m;
  for (const auto& [n, t] : v) m[n] = t;
  return m;
}

// The reference values of dtype `tag` from base.safetensors (written by the fixture script, not by fer).
std::map<std::string, Tensor> reference(const std::string& tag) {
  std::map<std::string, Tensor> m;
  for (const auto& [n, t] : io::load_safetensors(pt("base.safetensors")))
    if (n.rfind(tag + "/", 0) == 0) m[n.substr(tag.size() + 1)] = t;
  return m;
}

// A gunzip'd copy of a committed fixture in a temporary file.
std::string gunzip_to_temp(const std::string& gz_name) {
  std::ifstream in(pt(gz_name), std::ios::binary);
  std::string packed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(packed.data());
  z.avail_in = uInt(packed.size());
  std::string out;
  char buf[1 << 16];
  int rc;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    REQUIRE((rc == Z_OK || rc == Z_STREAM_END));
    out.append(buf, sizeof buf - z.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&z);
  fs::path p = fs::temp_directory_path() / ("fer_test_" + std::to_string(::getpid()) + "_" + gz_name.substr(0, gz_name.size() - 3));
  std::ofstream(p, std::ios::binary).write(out.data(), std::streamsize(out.size()));
  return p.string();
}

}  // namespace

TEST_CASE("torch.save files of both formats, wrappers, prefixes and dtypes give the reference tensors") {
  struct Case {
    const char* file;
    const char* tag;
    const char* format;
    const char* note;  // a substring of the notes, or ""
  };
  const Case cases[] = {
      {"zip_f32.pt", "f32", "torch zip", ""},
      {"zip_f32_torch2.pt", "f32", "torch zip", ""},
      {"legacy_f32.pt", "f32", "torch legacy", ""},
      {"wrap_state_dict.pt", "f32", "torch zip", "['state_dict']"},
      {"wrap_model.pt", "f32", "torch zip", "['model']"},
      {"module_prefix.pt", "f32", "torch zip", "'module.' prefix"},
      {"zip_f16.pt", "f16", "torch zip", ""},
      {"zip_bf16.pt", "bf16", "torch zip", ""},
      {"zip_f64.pt", "f64", "torch zip", ""},
      {"legacy_f16.pt", "f16", "torch legacy", ""},
  };
  for (const Case& c : cases) {
    CAPTURE(c.file);
    io::TorchCheckpoint ck = io::read_torch_checkpoint(pt(c.file));
    CHECK(ck.format == c.format);
    std::string notes;
    for (auto& n : ck.notes) notes += n + "\n";
    if (*c.note) CHECK(notes.find(c.note) != std::string::npos);
    else CHECK(ck.notes.empty());
    auto want = reference(c.tag);
    REQUIRE(ck.tensors.size() == want.size());
    const char* order[] = {"conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var",
                           "bn.num_batches_tracked", "fc.weight", "fc.bias"};
    for (size_t i = 0; i < ck.tensors.size(); ++i) {
      CHECK(ck.tensors[i].first == order[i]);  // the file's order
      check_same(ck.tensors[i].second, want.at(ck.tensors[i].first), ck.tensors[i].first);
    }
  }
}

TEST_CASE("views of one storage keep their offsets and strides; contiguous views share the storage") {
  auto want = by_name(io::load_safetensors(pt("views.safetensors")));
  for (const char* file : {"views_zip.pt", "views_zip_torch2.pt", "views_legacy.pt"}) {
    CAPTURE(file);
    auto got = by_name(io::read_torch_checkpoint(pt(file)).tensors);
    REQUIRE(got.size() == want.size());
    for (auto& [n, t] : want) check_same(got.at(n), t, n);
    CHECK(got.at("a").impl()->storage == got.at("b").impl()->storage);  // one storage read once, not copied
    CHECK(got.at("b").impl()->offset == 12);
  }
}

TEST_CASE("the thesis's file shape: tf_efficientnet_b0_ns without classifier into an 8-class model, head reported") {
  for (const char* gz : {"thesis_shape.pt.gz", "thesis_no_nbt_legacy.pt.gz"}) {
    CAPTURE(gz);
    const std::string path = gunzip_to_temp(gz);
    Generator gen(1);
    auto model = models::make_model("tf_efficientnet_b0_ns", 8, 224, gen);
    const Tensor head_before = model->state_dict().back().second.clone();  // classifier.bias
    // Strict loading (verify, evaluate) refuses a file without the classifier, naming it.
    CHECK_THROWS_WITH_AS(nn::load_weights(*model, path), doctest::Contains("classifier.weight"), fer::Error);
    nn::WeightsOptions opt;
    opt.pretrained = true;
    nn::WeightsReport rep = nn::load_weights(*model, path, opt);
    const nn::StateDict sd = model->state_dict();
    const bool has_nbt = std::string(gz) == "thesis_shape.pt.gz";
    size_t nbt = 0;
    for (auto& [n, t] : sd) nbt += n.find("num_batches_tracked") != std::string::npos;
    CHECK(nbt == 49);
    CHECK(rep.reinitialized == std::vector<std::string>{"classifier.weight", "classifier.bias"});
    CHECK(rep.load.loaded.size() == sd.size() - 2 - (has_nbt ? 0 : nbt));
    const std::string summary = rep.summary(path);
    CHECK(summary.find("head re-initialized") != std::string::npos);
    CHECK((summary.find("num_batches_tracked") != std::string::npos) == !has_nbt);
    // Every tensor holds (its index in timm's state dict + 1) / 1000, which is also its index in fer's order.
    for (size_t i = 0; i + 2 < sd.size(); ++i) {
      CAPTURE(sd[i].first);
      const Tensor& t = sd[i].second;
      if (sd[i].first.find("num_batches_tracked") != std::string::npos) {
        CHECK(t.flat(0) == (has_nbt ? double(i + 1) : 0.0));
        continue;
      }
      const double want = double(float(double(i + 1) / 1000.0));
      CHECK(t.flat(0) == want);
      CHECK(t.flat(t.numel() - 1) == want);
    }
    CHECK(sd.back().second.to_vector() == head_before.to_vector());  // left at its initialization
    fs::remove(path);
  }
}

TEST_CASE("pretrained weights of another architecture are refused, naming the first mismatches") {
  Generator gen(2);
  auto effnet = models::make_model("tf_efficientnet_b0_ns", 7, 64, gen);
  nn::WeightsOptions opt;
  opt.pretrained = true;
  const Tensor stem = effnet->state_dict().front().second.clone();
  CHECK_THROWS_WITH_AS(nn::load_weights(*effnet, pt("zip_f32.pt"), opt),
                       doctest::Contains("only 0 of the model's 309 backbone tensors would load"), fer::Error);
  CHECK_THROWS_WITH_AS(nn::load_weights(*effnet, pt("zip_f32.pt"), opt), doctest::Contains("conv_stem.weight: not in the file"),
                       fer::Error);
  CHECK(effnet->state_dict().front().second.to_vector() == stem.to_vector());  // nothing was loaded
  auto resnet = models::make_model("resnet18", 7, 64, gen);
  CHECK_THROWS_WITH_AS(nn::load_weights(*resnet, pt("zip_f32.pt"), opt), doctest::Contains("conv1.weight: not in the file"),
                       fer::Error);
}

TEST_CASE("the format comes from the content: a .pt named .safetensors still loads; garbage is refused") {
  fs::path p = fs::temp_directory_path() / ("fer_test_" + std::to_string(::getpid()) + "_renamed.safetensors");
  fs::copy_file(pt("zip_f32.pt"), p, fs::copy_options::overwrite_existing);
  std::string format;
  CHECK(nn::read_weights(p.string(), &format).size() == 8);
  CHECK(format == "torch zip");
  std::ofstream(p, std::ios::binary) << "this is not a checkpoint at all";
  CHECK_THROWS_WITH_AS(nn::read_weights(p.string()), doctest::Contains("not a weights file"), fer::Error);
  const std::string junk = "not a checkpoint";
  CHECK_THROWS_WITH_AS(io::read_torch_checkpoint(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(junk.data()), junk.size()), "junk"),
                       doctest::Contains("junk: not a PyTorch checkpoint"), fer::Error);
  fs::remove(p);
}

TEST_CASE("hostile and malformed .pt files are refused with a clear error") {
  struct Case {
    const char* file;
    const char* message;
  };
  const Case cases[] = {
      {"bad_truncated.pt", "not a readable zip archive"},
      {"bad_crc.pt", "damaged"},
      {"bad_os_system.pt", "entry 'w' is a call to posix.system, which fer never runs"},
      {"bad_os_system_legacy.pt", "holds call to posix.system"},
      {"bad_unknown_global.pt", "entry 'w' is a call to collections.Counter"},
      {"bad_huge_numel.pt", "declares 1099511627776 elements of 4 bytes, its entry holds 48 bytes"},
      {"bad_offset_range.pt", "reaches element 19 of a storage of 4 elements"},
      {"bad_no_entry.pt", "has no entry 'archive/data/0'"},
      {"bad_no_pickle.pt", "without '<name>/data.pkl'"},
      {"bad_module.pt", "call to torch.nn.modules.linear.Linear"},
      {"bad_no_state_dict.pt", "no state dict found"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.file);
    CHECK_THROWS_WITH_AS(io::read_torch_checkpoint(pt(c.file)), doctest::Contains(c.message), fer::Error);
    CHECK_THROWS_WITH_AS(io::read_torch_checkpoint(pt(c.file)), doctest::Contains(c.file), fer::Error);
  }
  // Memory is bounded: storages beyond the limit are refused before they are allocated.
  io::TorchCheckpointLimits small;
  small.max_total_bytes = 200;
  CHECK_THROWS_WITH_AS(io::read_torch_checkpoint(pt("zip_f32.pt"), small), doctest::Contains("exceed 200 bytes"), fer::Error);
}
