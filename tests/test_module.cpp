// nn::Module: PyTorch state_dict names and order, OIHW <-> OHWI conversion by value, safetensors round trips,
// strict/non-strict loading, dtype conversion, modes and gradients.
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>

#include "fer/fer.hpp"
#include "fer/io/safetensors.hpp"
#include "fer/nn/init.hpp"
#include "fer/nn/module.hpp"
#include "fer/nn/state_dict.hpp"

using namespace fer;
using namespace fer::nn;
namespace fs = std::filesystem;

namespace {

// Toy layers with the parameter/buffer names of torch.nn.Conv2d, BatchNorm2d, Linear, Sequential.
struct ToyConv : Module {
  Tensor weight, bias;
  ToyConv(int64_t in, int64_t out, int64_t k, bool with_bias, Generator& gen) {
    weight = Tensor::empty({out, k, k, in});
    register_parameter("weight", weight, ParamLayout::conv_ohwi);
    if (with_bias) {
      bias = Tensor::empty({out});
      register_parameter("bias", bias);
    }
    init::default_conv_init(weight, bias, gen);
  }
};

struct ToyBN : Module {
  Tensor weight, bias, running_mean, running_var, num_batches_tracked;
  explicit ToyBN(int64_t c)
      : weight(Tensor::ones({c})),
        bias(Tensor::zeros({c})),
        running_mean(Tensor::zeros({c})),
        running_var(Tensor::ones({c})),
        num_batches_tracked(Tensor::zeros(Shape{}, DType::i64)) {
    register_parameter("weight", weight);
    register_parameter("bias", bias);
    register_buffer("running_mean", running_mean);
    register_buffer("running_var", running_var);
    register_buffer("num_batches_tracked", num_batches_tracked);
  }
};

struct ToyLinear : Module {
  Tensor weight, bias;
  ToyLinear(int64_t in, int64_t out, Generator& gen) : weight(Tensor::empty({out, in})), bias(Tensor::empty({out})) {
    register_parameter("weight", weight);
    register_parameter("bias", bias);
    init::default_linear_init(weight, bias, gen);
  }
};

struct ToySequential : Module {
  std::vector<std::shared_ptr<Module>> items;
  template <class M>
  std::shared_ptr<M> add(std::shared_ptr<M> m) {
    register_module(std::to_string(items.size()), m);
    items.push_back(m);
    return m;
  }
};

// Children held by value.
struct ToyBlock : Module {
  ToyConv conv1, conv2;
  ToyBN bn1, bn2;
  ToyBlock(int64_t c, Generator& gen) : conv1(c, c, 3, false, gen), conv2(c, c, 3, false, gen), bn1(c), bn2(c) {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("conv2", conv2);
    register_module("bn2", bn2);
  }
};

// Mirrors ToyNet in tools/make_safetensors_fixtures.py (torch: Conv2d(3,4,3,bias=False), BatchNorm2d(4),
// Sequential(Block(4), Block(4)), Linear(4, classes)).
struct ToyNet : Module {
  Generator gen;  // declared first: initializes the layers below
  ToyConv conv1;
  ToyBN bn1;
  std::shared_ptr<ToySequential> layer1;
  ToyLinear fc;
  explicit ToyNet(uint64_t seed, int64_t classes = 5)
      : gen(seed), conv1(3, 4, 3, false, gen), bn1(4), layer1(std::make_shared<ToySequential>()), fc(4, classes, gen) {
    register_module("conv1", conv1);
    register_module("bn1", bn1);
    register_module("layer1", layer1);
    layer1->add(std::make_shared<ToyBlock>(4, gen));
    layer1->add(std::make_shared<ToyBlock>(4, gen));
    register_module("fc", fc);
  }
};

// torch's ToyNet().state_dict().keys(), in order.
const std::vector<std::string> kTorchKeys = {
    "conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var", "bn1.num_batches_tracked",
    "layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias", "layer1.0.bn1.running_mean",
    "layer1.0.bn1.running_var", "layer1.0.bn1.num_batches_tracked", "layer1.0.conv2.weight", "layer1.0.bn2.weight",
    "layer1.0.bn2.bias", "layer1.0.bn2.running_mean", "layer1.0.bn2.running_var", "layer1.0.bn2.num_batches_tracked",
    "layer1.1.conv1.weight", "layer1.1.bn1.weight", "layer1.1.bn1.bias", "layer1.1.bn1.running_mean",
    "layer1.1.bn1.running_var", "layer1.1.bn1.num_batches_tracked", "layer1.1.conv2.weight", "layer1.1.bn2.weight",
    "layer1.1.bn2.bias", "layer1.1.bn2.running_mean", "layer1.1.bn2.running_var", "layer1.1.bn2.num_batches_tracked",
    "fc.weight", "fc.bias"};

std::vector<std::string> names_of(const StateDict& sd) {
  std::vector<std::string> v;
  for (auto& [n, t] : sd) v.push_back(n);
  return v;
}
bool contains(const std::vector<std::string>& v, const std::string& s) { return std::find(v.begin(), v.end(), s) != v.end(); }
bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Deep copies of every state-dict value (to compare before/after).
std::map<std::string, std::vector<double>> snapshot(const Module& m) {
  std::map<std::string, std::vector<double>> s;
  for (auto& [n, t] : m.state_dict()) s[n] = t.to_vector();
  return s;
}

struct ModuleTempDir {
  fs::path path;
  ModuleTempDir() {
    path = fs::temp_directory_path() / ("fer_test_module_" + std::to_string(::getpid()));
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ModuleTempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

const std::string kModuleSafetensorsDir = std::string(FER_TEST_DATA) + "/safetensors/";

}  // namespace

TEST_CASE("state_dict names and order are PyTorch's; parameters vs buffers; module tree") {
  ToyNet net(1);
  CHECK(names_of(net.state_dict()) == kTorchKeys);

  auto params = net.named_parameters();
  auto buffers = net.named_buffers();
  CHECK(params.size() + buffers.size() == kTorchKeys.size());
  for (auto& [n, t] : params) {
    CAPTURE(n);
    CHECK(t.requires_grad());
    CHECK_FALSE(ends_with(n, "running_mean"));
  }
  for (auto& [n, t] : buffers) {
    CAPTURE(n);
    CHECK_FALSE(t.requires_grad());
    CHECK((ends_with(n, "running_mean") || ends_with(n, "running_var") || ends_with(n, "num_batches_tracked")));
  }
  CHECK(buffers.size() == 5 * 3);
  CHECK(net.num_parameters() == 749);  // torch: sum(p.numel() for p in ToyNet().parameters())
  CHECK(net.parameters().size() == params.size());

  std::vector<std::string> modules;
  for (auto& [n, m] : net.named_modules()) modules.push_back(n);
  CHECK(modules == std::vector<std::string>{"", "conv1", "bn1", "layer1", "layer1.0", "layer1.0.conv1",
                                            "layer1.0.bn1", "layer1.0.conv2", "layer1.0.bn2", "layer1.1",
                                            "layer1.1.conv1", "layer1.1.bn1", "layer1.1.conv2", "layer1.1.bn2", "fc"});
  CHECK(net.named_children().size() == 4);

  // Shapes in the state dict are PyTorch's (conv OIHW).
  auto sd = net.state_dict();
  CHECK(sd[0].second.shape() == Shape{4, 3, 3, 3});
  CHECK(sd[6].second.shape() == Shape{4, 4, 3, 3});
  CHECK(sd[5].second.shape() == Shape{});
  CHECK(sd[5].second.dtype() == DType::i64);
}

TEST_CASE("a real torch state_dict (toy_net.safetensors) loads strictly; conv weights become OHWI by value") {
  ToyNet net(1);
  io::SafetensorsFile file(kModuleSafetensorsDir + "toy_net.safetensors");
  CHECK(file.size() == kTorchKeys.size());
  LoadReport r = load_safetensors(net, file.path());
  CHECK(r.complete());
  CHECK(r.loaded.size() == kTorchKeys.size());

  // internal OHWI [o][h][w][i] == torch OIHW [o][i][h][w]; one value hard-coded from the script's output.
  Tensor oihw = file.load("conv1.weight");
  CHECK(net.conv1.weight.at(1, 0, 1, 2) == doctest::Approx(0.12142406404018402).epsilon(1e-7));
  for (int o = 0; o < 4; ++o)
    for (int i = 0; i < 3; ++i)
      for (int h = 0; h < 3; ++h)
        for (int w = 0; w < 3; ++w) CHECK(net.conv1.weight.at(o, h, w, i) == oihw.at(o, i, h, w));
  CHECK(net.bn1.num_batches_tracked.data<int64_t>()[0] == 11);
  CHECK(net.layer1->items.size() == 2);
  auto* block1 = static_cast<ToyBlock*>(net.layer1->items[1].get());
  CHECK(block1->bn2.running_var.to_vector() == file.load("layer1.1.bn2.running_var").to_vector());
  CHECK(net.fc.weight.to_vector() == file.load("fc.weight").to_vector());

  // Exporting gives back exactly the torch values.
  for (auto& [n, t] : net.state_dict()) {
    CAPTURE(n);
    CHECK(t.shape() == file.entry(n).shape);
    CHECK(t.to_vector() == file.load(n).to_vector());
  }
}

TEST_CASE("OIHW <-> OHWI conversion by value, known numbers from torch (arange weights)") {
  // torch_written.safetensors "conv.weight" = arange(1, 25).reshape(2, 3, 2, 2) (OIHW).
  io::SafetensorsFile file(kModuleSafetensorsDir + "torch_written.safetensors");
  Generator gen(0);
  ToyConv conv(/*in*/ 3, /*out*/ 2, /*k*/ 2, false, gen);
  conv.load_state_dict({{"weight", file.borrow("conv.weight")}});
  for (int o = 0; o < 2; ++o)
    for (int h = 0; h < 2; ++h)
      for (int w = 0; w < 2; ++w)
        for (int i = 0; i < 3; ++i) CHECK(conv.weight.at(o, h, w, i) == 1 + ((o * 3 + i) * 2 + h) * 2 + w);
  // The very first internal elements: (o0,h0,w0,i0..2) = OIHW (0,0..2,0,0) = 1, 5, 9.
  CHECK(conv.weight.data<float>()[0] == 1);
  CHECK(conv.weight.data<float>()[1] == 5);
  CHECK(conv.weight.data<float>()[2] == 9);
  Tensor back = conv.state_dict()[0].second;
  CHECK(back.is_contiguous());
  CHECK(back.to_vector() == file.load("conv.weight").to_vector());

  // Every element size (u8, f16, f32, f64) round-trips on an odd shape.
  for (DType dt : {DType::u8, DType::f16, DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    Tensor ohwi = Tensor::empty({5, 3, 2, 7}, dt);
    for (int64_t k = 0; k < ohwi.numel(); ++k) ohwi.set_flat(k, double(k % 200));
    Tensor oihw = to_external_layout(ohwi, ParamLayout::conv_ohwi);
    CHECK(oihw.shape() == Shape{5, 7, 3, 2});
    CHECK(oihw.at(4, 6, 2, 1) == ohwi.at(4, 2, 1, 6));
    CHECK(oihw.at(1, 3, 0, 1) == ohwi.at(1, 0, 1, 3));
    CHECK(to_internal_layout(oihw, ParamLayout::conv_ohwi).to_vector() == ohwi.to_vector());
  }
  CHECK(external_shape(Shape{8, 3, 5, 2}, ParamLayout::conv_ohwi) == Shape{8, 2, 3, 5});
  CHECK(to_external_layout(conv.weight, ParamLayout::plain).same(conv.weight));
}

TEST_CASE("save -> safetensors -> load into a fresh instance restores everything, into the same tensors") {
  ModuleTempDir dir;
  ToyNet a(1), b(2);
  a.bn1.num_batches_tracked.data<int64_t>()[0] = 7;
  a.layer1->items[0]->named_buffers()[0].second.fill_(0.25);  // layer1.0.bn1.running_mean
  CHECK(snapshot(a) != snapshot(b));

  std::string path = dir.file("net.safetensors");
  save_safetensors(a, path, {{"epoch", "4"}});
  io::SafetensorsFile f(path);
  CHECK(f.metadata().at("epoch") == "4");
  std::vector<std::string> sorted = kTorchKeys;
  std::sort(sorted.begin(), sorted.end());
  CHECK(f.names() == sorted);  // written sorted by name
  CHECK(f.entry("layer1.0.conv2.weight").shape == Shape{4, 4, 3, 3});

  // Handles taken before loading (as an optimizer holds them) must see the loaded values.
  std::vector<Tensor> handles = b.parameters();
  Tensor bn_mean = b.bn1.running_mean;
  LoadReport r = load_safetensors(b, path);
  CHECK(r.complete());
  CHECK(snapshot(a) == snapshot(b));
  auto pa = a.parameters();
  for (size_t k = 0; k < handles.size(); ++k) {
    CHECK(handles[k].same(b.parameters()[k]));
    CHECK(handles[k].to_vector() == pa[k].to_vector());
    CHECK(handles[k].requires_grad());
  }
  CHECK(bn_mean.same(b.bn1.running_mean));
  CHECK(b.bn1.num_batches_tracked.data<int64_t>()[0] == 7);
  CHECK(b.layer1->items[0]->named_buffers()[0].second.flat(3) == 0.25);
}

TEST_CASE("strict loading lists missing, unexpected and mismatched names and changes nothing") {
  ToyNet a(1), b(2);
  StateDict sd;
  for (auto& [n, t] : a.state_dict()) {
    if (n == "bn1.running_var") continue;                                              // missing
    if (n == "fc.weight") sd.emplace_back(n, Tensor::zeros({9, 4}));                    // wrong shape
    else if (n == "layer1.0.conv1.weight") sd.emplace_back(n, Tensor::zeros({4, 3, 3, 4}));  // OHWI given: wrong
    else sd.emplace_back(n, t);
  }
  sd.emplace_back("extra.weight", Tensor::zeros({2}));  // unexpected
  auto before = snapshot(b);
  std::string msg;
  try {
    b.load_state_dict(sd);
  } catch (const fer::Error& e) {
    msg = e.what();
  }
  CAPTURE(msg);
  CHECK(msg.find("1 missing: bn1.running_var") != std::string::npos);
  CHECK(msg.find("1 unexpected: extra.weight") != std::string::npos);
  CHECK(msg.find("2 mismatched") != std::string::npos);
  CHECK(msg.find("fc.weight: shape [9, 4] in the source, the model expects [5, 4]") != std::string::npos);
  CHECK(msg.find("layer1.0.conv1.weight: shape [4, 3, 3, 4] in the source, the model expects [4, 4, 3, 3]") !=
        std::string::npos);
  CHECK(msg.find("nothing was loaded") != std::string::npos);
  CHECK(snapshot(b) == before);

  // Non-strict: the same source loads what matches and reports the rest.
  LoadReport r = b.load_state_dict(sd, {.strict = false});
  CHECK(r.missing == std::vector<std::string>{"bn1.running_var"});
  CHECK(r.unexpected == std::vector<std::string>{"extra.weight"});
  REQUIRE(r.mismatched.size() == 2);
  CHECK(r.mismatched[0].name == "layer1.0.conv1.weight");
  CHECK(r.mismatched[1].name == "fc.weight");
  CHECK(r.loaded.size() == kTorchKeys.size() - 3);
  CHECK_FALSE(r.complete());
  auto after = snapshot(b), source = snapshot(a);
  CHECK(after["conv1.weight"] == source["conv1.weight"]);
  CHECK(after["bn1.running_var"] == before["bn1.running_var"]);
  CHECK(after["fc.weight"] == before["fc.weight"]);

  // Duplicate names in a source are an error.
  CHECK_THROWS_WITH_AS(b.load_state_dict({{"fc.bias", a.fc.bias}, {"fc.bias", a.fc.bias}}, {.strict = false}),
                       doctest::Contains("duplicate name \"fc.bias\""), fer::Error);
}

TEST_CASE("a checkpoint with another classifier head loads with skip_prefixes (strict for everything else)") {
  ModuleTempDir dir;
  ToyNet imagenet(1, /*classes*/ 1000), fer7(2, /*classes*/ 7);
  std::string path = dir.file("backbone.safetensors");
  save_safetensors(imagenet, path);
  Tensor fc_before = fer7.fc.weight.clone();
  CHECK_THROWS_WITH_AS(load_safetensors(fer7, path), doctest::Contains("fc.weight: shape [1000, 4]"), fer::Error);
  LoadReport r = load_safetensors(fer7, path, {.skip_prefixes = {"fc."}});
  CHECK(r.complete());
  CHECK(r.skipped == std::vector<std::string>{"fc.weight", "fc.bias"});
  CHECK(r.loaded.size() == kTorchKeys.size() - 2);
  CHECK(fer7.fc.weight.to_vector() == fc_before.to_vector());
  CHECK(fer7.conv1.weight.to_vector() == imagenet.conv1.weight.to_vector());
}

TEST_CASE("dtype conversion on load: f16/bf16/f64 sources into f32 parameters; float <-> int is a mismatch") {
  ToyNet a(1), b(2);
  for (DType dt : {DType::f64, DType::f16, DType::bf16}) {
    CAPTURE(dtype_name(dt));
    StateDict sd;
    for (auto& [n, t] : a.state_dict()) sd.emplace_back(n, is_floating(t.dtype()) ? t.to(dt) : t);
    CHECK(b.load_state_dict(sd).complete());
    CHECK(b.conv1.weight.dtype() == DType::f32);
    double tol = dt == DType::f64 ? 0.0 : dt == DType::f16 ? 1e-3 : 8e-3;  // half ulps of f16 / bf16 (relative)
    auto x = a.conv1.weight.to_vector(), y = b.conv1.weight.to_vector();
    for (size_t k = 0; k < x.size(); ++k) CHECK(std::abs(y[k] - x[k]) <= tol * std::abs(x[k]) + 1e-7);
    // The converted value is exactly the source's rounded value.
    CHECK(b.fc.bias.flat(2) == float(a.fc.bias.to(dt).flat(2)));
  }
  StateDict sd = a.state_dict();
  for (auto& [n, t] : sd)
    if (n == "bn1.num_batches_tracked") t = Tensor::zeros(Shape{}, DType::f32);
  CHECK_THROWS_WITH_AS(b.load_state_dict(sd),
                       doctest::Contains("bn1.num_batches_tracked: dtype f32 in the source, the model has i64"),
                       fer::Error);
  StateDict halves;
  for (auto& [n, t] : a.state_dict()) halves.emplace_back(n, is_floating(t.dtype()) ? t.to(DType::f16) : t);
  LoadReport r = b.load_state_dict(halves, {.strict = false, .convert_dtype = false});
  CHECK(r.mismatched.size() == kTorchKeys.size() - 5);  // every floating entry
  CHECK(r.loaded.size() == 5);                  // the five num_batches_tracked
}

TEST_CASE("train/eval recurse; zero_grad zeroes or drops gradients") {
  ToyNet net(1);
  CHECK(net.is_training());
  net.eval();
  for (auto& [n, m] : net.named_modules()) {
    CAPTURE(n);
    CHECK_FALSE(m->is_training());
  }
  net.layer1->train();
  CHECK_FALSE(net.is_training());
  CHECK(net.layer1->items[1]->is_training());
  CHECK_FALSE(net.fc.is_training());
  net.train();
  for (auto& [n, m] : net.named_modules()) CHECK(m->is_training());

  for (Tensor& p : net.parameters()) p.grad_buffer().fill_(3.0);
  Tensor g = net.fc.weight.grad();
  net.zero_grad();
  for (Tensor& p : net.parameters()) CHECK(p.grad().to_vector() == std::vector<double>(size_t(p.numel()), 0.0));
  CHECK(g.same(net.fc.weight.grad()));  // zeroed in place
  net.zero_grad(/*set_to_none*/ true);
  for (Tensor& p : net.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("registration rules, shared parameters, non-persistent buffers") {
  struct Bad : Module {
    Tensor w = Tensor::zeros({2, 2}), b = Tensor::zeros({2}), idx = Tensor::zeros({2}, DType::i64);
  };
  Bad m;
  m.register_parameter("w", m.w);
  CHECK_THROWS_WITH_AS(m.register_parameter("w", m.b), doctest::Contains("\"w\" is already registered"), fer::Error);
  CHECK_THROWS_WITH_AS(m.register_buffer("a.b", m.b), doctest::Contains("invalid name \"a.b\""), fer::Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("", m.b), doctest::Contains("invalid name"), fer::Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("c", m.b, ParamLayout::conv_ohwi), doctest::Contains("must be 4-d"),
                       fer::Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("i", m.idx), doctest::Contains("must be floating"), fer::Error);
  Tensor undefined;
  CHECK_THROWS_WITH_AS(m.register_parameter("u", undefined), doctest::Contains("undefined"), fer::Error);
  CHECK_THROWS_WITH_AS(m.register_module("self", m), doctest::Contains("cannot contain itself"), fer::Error);

  // A parameter shared by two children (tied weights): listed once by named_parameters, under both names in the
  // state dict (as PyTorch does).
  struct Holder : Module {
    Tensor w;
    explicit Holder(const Tensor& shared) : w(shared) { register_parameter("w", w); }
  };
  struct Tied : Module {
    Tensor shared = Tensor::ones({3});
    Holder left{shared}, right{shared};
    Tensor scratch = Tensor::zeros({4});
    Tied() {
      register_module("left", left);
      register_module("right", right);
      register_buffer("scratch", scratch, /*persistent*/ false);
    }
  };
  Tied tied;
  CHECK(names_of(tied.named_parameters()) == std::vector<std::string>{"left.w"});
  CHECK(tied.num_parameters() == 3);
  CHECK(names_of(tied.state_dict()) == std::vector<std::string>{"left.w", "right.w"});
  CHECK(names_of(tied.named_buffers()) == std::vector<std::string>{"scratch"});  // listed, but not in the state dict
  LoadReport r = tied.load_state_dict({{"left.w", Tensor::full({3}, 2.0)}, {"right.w", Tensor::full({3}, 2.0)}});
  CHECK(r.complete());
  CHECK(tied.shared.flat(1) == 2.0);
  CHECK(contains(tied.load_state_dict({{"left.w", Tensor::full({3}, 2.0)}, {"scratch", Tensor::zeros({4})}},
                                      {.strict = false})
                     .unexpected,
                 "scratch"));
}
