// The StyleGAN2 generator (models/stylegan2.hpp): its configuration readers, loading and forward passes.
#include "models/stylegan2.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "fer/io/json_excerpt.hpp"
#include "fer/io/json_text.hpp"
#include "fer/io/safetensors.hpp"
#include "fer/io/stylegan2_pkl.hpp"

namespace fer::models {

namespace {

// Typed reads of a generator's configuration (JSON from a pickle's constructor arguments, safetensors metadata or a
// side file): a value of the wrong type or out of range is a fer::Error naming the file and the key, never a JSON
// library exception and never silently replaced by the default.
class Stylegan2ConfigReader {
 public:
  explicit Stylegan2ConfigReader(std::string where) : where_(std::move(where)) {}

  // obj[key] as an integer in [lo, hi]; `fallback` when absent.
  int64_t integer(const nlohmann::json& obj, const std::string& path, const char* key, int64_t fallback, int64_t lo,
                  int64_t hi) const {
    const nlohmann::json* v = find(obj, key);
    if (!v) return fallback;
    bool integral = v->is_number_integer() || (v->is_number_float() && std::trunc(v->get<double>()) == v->get<double>());
    FER_CHECK(integral, where_, ": config ", path, key, " is ", shown(*v), ", not an integer");
    const double d = v->is_number_float() ? v->get<double>() : 0;
    const bool in_range = v->is_number_float()    ? d >= double(lo) && d <= double(hi)
                          : v->is_number_unsigned() ? v->get<uint64_t>() <= uint64_t(hi)
                                                    : v->get<int64_t>() >= lo && v->get<int64_t>() <= hi;
    FER_CHECK(in_range, where_, ": config ", path, key, " is ", shown(*v), ", outside [", lo, ", ", hi, "]");
    return v->is_number_float() ? int64_t(d) : v->get<int64_t>();
  }
  // obj[key] as a number; `fallback` when absent, or when null and `null_is_default` (Python's None).
  double number(const nlohmann::json& obj, const std::string& path, const char* key, double fallback,
                bool null_is_default = false) const {
    const nlohmann::json* v = find(obj, key);
    if (!v || (null_is_default && v->is_null())) return fallback;
    FER_CHECK(v->is_number(), where_, ": config ", path, key, " is ", shown(*v), ", not a number");
    return v->get<double>();
  }
  std::string text(const nlohmann::json& obj, const std::string& path, const char* key, const std::string& fallback) const {
    const nlohmann::json* v = find(obj, key);
    if (!v) return fallback;
    FER_CHECK(v->is_string(), where_, ": config ", path, key, " is ", shown(*v), ", not a string");
    return v->get<std::string>();
  }
  // obj[key] as an object (nullptr when absent).
  const nlohmann::json* object(const nlohmann::json& obj, const std::string& path, const char* key) const {
    const nlohmann::json* v = find(obj, key);
    FER_CHECK(!v || v->is_object(), where_, ": config ", path, key, " is ", v ? shown(*v) : "", ", not a dict");
    return v;
  }
  const std::string& where() const { return where_; }

 private:
  static std::string shown(const nlohmann::json& v) { return io::json_excerpt(v); }
  const nlohmann::json* find(const nlohmann::json& obj, const char* key) const {
    FER_CHECK(obj.is_object(), where_, ": config is ", shown(obj), ", not a dict");
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }
  std::string where_;
};

nlohmann::json parse_config_text(std::string text, const std::string& where) {
  // Accept JSON, or the Python dict repr ({'z_dim': 64, ...}) that some converters store.
  for (char& ch : text)
    if (ch == '\'') ch = '"';
  for (auto [from, to] : {std::pair<std::string, std::string>{"True", "true"}, {"False", "false"}, {"None", "null"}})
    for (size_t pos = 0; (pos = text.find(from, pos)) != std::string::npos; pos += to.size())  // linear, not from 0
      text.replace(pos, from.size(), to);
  try {
    return fer::io::parse_json(text);
  } catch (const std::exception& e) {
    fail(where, ": metadata \"config\" is not readable (", e.what(), ")");
  }
}
nlohmann::json parse_config_file(const std::filesystem::path& side) {
  std::ifstream in(side);
  FER_CHECK(in.good(), side.string(), ": cannot open for reading");
  try {
    return fer::io::parse_json(in);
  } catch (const nlohmann::json::exception& e) {
    fail(side.string(), ": not valid JSON (", e.what(), ")");
  }
}
Stylegan2Config config_from_checkpoint(const Stylegan2Checkpoint& ck, const std::string& where) {
  Stylegan2Config c = Stylegan2Config::from_kwargs(ck.init_kwargs, where);
  // Defaults NVIDIA's code applies are recorded on the built modules.
  const Stylegan2ConfigReader r(where);
  if (const nlohmann::json* b4 = r.object(ck.attributes, "attributes of ", "synthesis.b4"))
    c.architecture = r.text(*b4, "attributes of synthesis.b4.", "architecture", c.architecture);
  return c;
}


}  // namespace

Stylegan2Config Stylegan2Config::from_kwargs(const nlohmann::json& k, const std::string& where) {
  const Stylegan2ConfigReader r(where);
  constexpr int64_t kMaxDim = int64_t(1) << 20;  // far above any StyleGAN2 width, resolution or class count
  Stylegan2Config c;
  c.z_dim = r.integer(k, "", "z_dim", c.z_dim, 0, kMaxDim), c.w_dim = r.integer(k, "", "w_dim", c.w_dim, 1, kMaxDim);
  c.c_dim = r.integer(k, "", "c_dim", c.c_dim, 0, kMaxDim);
  c.img_resolution = r.integer(k, "", "img_resolution", c.img_resolution, 0, kMaxDim);
  c.img_channels = r.integer(k, "", "img_channels", c.img_channels, 1, 4);
  if (const nlohmann::json* m = r.object(k, "", "mapping_kwargs")) {
    c.mapping_layers = r.integer(*m, "mapping_kwargs.", "num_layers", c.mapping_layers, 1, 1024);
    c.mapping_lr_multiplier = r.number(*m, "mapping_kwargs.", "lr_multiplier", c.mapping_lr_multiplier);
  }
  if (const nlohmann::json* s = r.object(k, "", "synthesis_kwargs")) {
    c.architecture = r.text(*s, "synthesis_kwargs.", "architecture", c.architecture);
    c.conv_clamp = r.number(*s, "synthesis_kwargs.", "conv_clamp", c.conv_clamp, /*null_is_default=*/true);
  }
  return c;
}

NoiseMode parse_noise_mode(const std::string& s) {
  if (s == "const") return NoiseMode::constant;
  if (s == "random") return NoiseMode::random;
  if (s == "none") return NoiseMode::none;
  fail("noise mode '", s, "' is not one of const, random, none");
}

Stylegan2Generator::Stylegan2Generator(std::map<std::string, Tensor> state, const Stylegan2Config& cfg,
                                       std::string source)
    : state_(std::move(state)), cfg_(cfg), source_(std::move(source)) {
  FER_CHECK(cfg_.architecture == "skip" || cfg_.architecture == "resnet" || cfg_.architecture == "orig", source_,
            ": unknown architecture '", cfg_.architecture, "'");
  FER_CHECK(cfg_.img_resolution >= 4 && (cfg_.img_resolution & (cfg_.img_resolution - 1)) == 0, source_,
            ": img_resolution ", cfg_.img_resolution, " is not a power of two >= 4");
  for (auto& [name, t] : state_) t = t.dtype() == DType::f32 ? t : t.to(DType::f32);
  expect("mapping.w_avg", {cfg_.w_dim});
  int64_t in = cfg_.z_dim + (cfg_.c_dim > 0 ? cfg_.w_dim : 0);
  if (cfg_.c_dim > 0) expect("mapping.embed.weight", {cfg_.w_dim, cfg_.c_dim}), expect("mapping.embed.bias", {cfg_.w_dim});
  for (int64_t i = 0; i < cfg_.mapping_layers; ++i) {
    std::string p = "mapping.fc" + std::to_string(i);
    expect(p + ".weight", {cfg_.w_dim, i == 0 ? in : cfg_.w_dim});
    expect(p + ".bias", {cfg_.w_dim});
  }
  for (int64_t res = 4; res <= cfg_.img_resolution; res *= 2) {
    std::string b = block(res);
    if (res == 4) FER_CHECK(state_.count(b + ".const"), source_, ": missing ", b, ".const");
    for (const char* conv : {"conv0", "conv1"}) {
      if (res == 4 && std::string(conv) == "conv0") continue;
      std::string p = b + "." + conv;
      for (const char* leaf : {".weight", ".bias", ".affine.weight", ".affine.bias", ".noise_strength", ".noise_const"})
        FER_CHECK(state_.count(p + leaf), source_, ": missing ", p, leaf);
      ohwi_[p] = to_ohwi(state_.at(p + ".weight"));
    }
    if (has_torgb(res)) {
      std::string p = b + ".torgb";
      for (const char* leaf : {".weight", ".bias", ".affine.weight", ".affine.bias"})
        FER_CHECK(state_.count(p + leaf), source_, ": missing ", p, leaf);
      FER_CHECK(state_.at(p + ".weight").size(0) == cfg_.img_channels, source_, ": ", p, ".weight has ",
                state_.at(p + ".weight").size(0), " output channels, img_channels is ", cfg_.img_channels);
      ohwi_[p] = to_ohwi(state_.at(p + ".weight"));
    }
    if (cfg_.architecture == "resnet" && res > 4) {
      FER_CHECK(state_.count(b + ".skip.weight"), source_, ": missing ", b, ".skip.weight");
      ohwi_[b + ".skip"] = to_ohwi(state_.at(b + ".skip.weight"));
    }
  }
  filter_ = setup_filter({1, 3, 3, 1});
}

Stylegan2Generator Stylegan2Generator::load(const std::filesystem::path& path) {
  FER_CHECK(std::filesystem::exists(path), path.string(), ": no such file");
  if (path.extension() == ".pkl") {
    Stylegan2Checkpoint ck = load_stylegan2_pkl(path.string());
    return Stylegan2Generator(ck.state, config_from_checkpoint(ck, path.string()), path.string());
  }
  io::SafetensorsFile f(path.string());
  std::map<std::string, Tensor> state;
  for (const auto& [name, t] : f.load_all()) state[name] = t;
  nlohmann::json kwargs;
  auto side = path;
  side += ".json";
  if (f.metadata().count("config")) kwargs = parse_config_text(f.metadata().at("config"), path.string());
  else if (std::filesystem::exists(side)) kwargs = parse_config_file(side);
  else fail(path.string(), ": no generator configuration (metadata \"config\" or ", side.string(), ")");
  return Stylegan2Generator(std::move(state), Stylegan2Config::from_kwargs(kwargs, path.string()), path.string());
}

Stylegan2Generator& Stylegan2Generator::to(Device d) {
  for (auto* m : {&state_, &ohwi_})
    for (auto& [name, t] : *m) t = t.to(d);
  filter_ = filter_.to(d);
  device_ = d;
  return *this;
}

int64_t Stylegan2Generator::num_ws() const {
  int64_t n = 1;  // b4.conv1
  for (int64_t res = 8; res <= cfg_.img_resolution; res *= 2) n += 2;
  return n + 1;  // the last block's toRGB
}

Tensor Stylegan2Generator::mapping(const Tensor& z, const Tensor& c, double psi, int64_t cutoff) const {
  NoGradGuard ng;
  FER_CHECK(z.dim() == 2 && z.size(1) == cfg_.z_dim, source_, ": z must be [N, ", cfg_.z_dim, "], got ", z.shape().str());
  int64_t n = z.size(0);
  Tensor x = normalize_2nd_moment(z.to(DType::f32).to(device_));
  if (cfg_.c_dim > 0) {
    FER_CHECK(c.defined() && c.dim() == 2 && c.size(0) == n && c.size(1) == cfg_.c_dim, source_, ": c must be [", n,
              ", ", cfg_.c_dim, "], got ", c.defined() ? c.shape().str() : std::string("none"));
    Tensor y = fc("mapping.embed", c.to(DType::f32).to(device_), 1.0, Activation::linear);
    x = concat({x, normalize_2nd_moment(y)}, 1);
  }
  for (int64_t i = 0; i < cfg_.mapping_layers; ++i)
    x = fc("mapping.fc" + std::to_string(i), x, cfg_.mapping_lr_multiplier, Activation::lrelu);
  // Broadcast to every w and truncate the first `cutoff` of them toward w_avg.
  int64_t nw = num_ws(), wd = cfg_.w_dim, cut = cutoff < 0 ? nw : std::min(cutoff, nw);
  // (on the host: [N, num_ws, w_dim] is small)
  Tensor ws = Tensor::empty({n, nw, wd});
  Tensor xh = x.host(), avg_h = state_.at("mapping.w_avg").host();
  const float* px = xh.data<float>();
  const float* avg = avg_h.data<float>();
  float* pw = ws.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < nw; ++k)
      for (int64_t d = 0; d < wd; ++d) {
        float v = px[i * wd + d];
        if (k < cut && psi != 1.0) v = avg[d] + float(psi) * (v - avg[d]);
        pw[(i * nw + k) * wd + d] = v;
      }
  return ws.to(device_);
}

Tensor Stylegan2Generator::synthesis(const Tensor& ws_in, NoiseMode noise, Generator& gen) const {
  NoGradGuard ng;
  FER_CHECK(ws_in.dim() == 3 && ws_in.size(1) == num_ws() && ws_in.size(2) == cfg_.w_dim, source_, ": ws must be [N, ",
            num_ws(), ", ", cfg_.w_dim, "], got ", ws_in.shape().str());
  Tensor ws = ws_in.to(DType::f32).to(device_);
  int64_t n = ws.size(0);
  Tensor x = nchw_to_nhwc(expand_const(state_.at(block(4) + ".const"), n));
  Tensor img;
  int64_t w_index = 0;
  for (int64_t res = 4; res <= cfg_.img_resolution; res *= 2) {
    std::string b = block(res);
    if (res == 4) {
      x = layer(b + ".conv1", x, w_at(ws, w_index), 1, noise, gen, 1.0);
    } else if (cfg_.architecture == "resnet") {
      Tensor y = skip(b + ".skip", x);
      x = layer(b + ".conv0", x, w_at(ws, w_index), 2, noise, gen, 1.0);
      x = layer(b + ".conv1", x, w_at(ws, w_index + 1), 1, noise, gen, std::sqrt(0.5));
      x = add(y, x);
    } else {
      x = layer(b + ".conv0", x, w_at(ws, w_index), 2, noise, gen, 1.0);
      x = layer(b + ".conv1", x, w_at(ws, w_index + 1), 1, noise, gen, 1.0);
    }
    int64_t num_conv = res == 4 ? 1 : 2;
    if (img.defined()) img = upsample2d(img, filter_);
    if (has_torgb(res)) {
      Tensor y = torgb(b + ".torgb", x, w_at(ws, w_index + num_conv));
      img = img.defined() ? add(img, y) : y;
    }
    w_index += num_conv;
  }
  return img;
}

std::vector<uint8_t> Stylegan2Generator::to_pixels(const Tensor& img) {
  Tensor h = img.host().to(DType::f32);
  std::vector<uint8_t> out(size_t(h.numel()));
  const float* p = h.data<float>();
  for (size_t i = 0; i < out.size(); ++i) out[i] = uint8_t(std::clamp(p[i] * 127.5f + 128.f, 0.f, 255.f));
  return out;
}

void Stylegan2Generator::expect(const std::string& name, Shape shape) const {
  auto it = state_.find(name);
  FER_CHECK(it != state_.end(), source_, ": missing ", name);
  FER_CHECK(it->second.shape() == shape, source_, ": ", name, " is ", it->second.shape().str(), ", expected ", shape.str());
}

Tensor Stylegan2Generator::to_ohwi(const Tensor& oihw) {
  FER_CHECK(oihw.dim() == 4, "stylegan2: conv weight must be 4-d, got ", oihw.shape().str());
  return permute(oihw, {0, 2, 3, 1});
}

Tensor Stylegan2Generator::normalize_2nd_moment(const Tensor& x) {
  return mul(x, rsqrt(add_scalar(mean(square(x), {1}, true), 1e-8)));
}

Tensor Stylegan2Generator::fc(const std::string& p, const Tensor& x, double lr_mul, Activation act) const {
  const Tensor& w = state_.at(p + ".weight");
  Tensor y = linear(x, scale(w, lr_mul / std::sqrt(double(w.size(1)))));
  return bias_act(y, scale(state_.at(p + ".bias"), lr_mul), act);
}

Tensor Stylegan2Generator::affine(const std::string& p, const Tensor& w) const {
  const Tensor& aw = state_.at(p + ".affine.weight");
  return linear(w, scale(aw, 1.0 / std::sqrt(double(aw.size(1)))), state_.at(p + ".affine.bias"));
}

Tensor Stylegan2Generator::expand_const(const Tensor& cst, int64_t n) {
  std::vector<Tensor> copies(size_t(n), reshape(cst, {1, cst.size(0), cst.size(1), cst.size(2)}));
  return concat(copies, 0);
}

Tensor Stylegan2Generator::layer(const std::string& p, const Tensor& x, const Tensor& w, int64_t up, NoiseMode mode,
                                 Generator& gen, double gain) const {
  ModConvParams mp;
  mp.padding = 1;
  mp.up = up;
  int64_t res = x.size(1) * up;
  Tensor noise;
  double strength = state_.at(p + ".noise_strength").item();
  if (mode == NoiseMode::constant) {
    const Tensor& nc = state_.at(p + ".noise_const");
    noise = scale(reshape(nc, {1, nc.size(0), nc.size(1), 1}), strength);
  } else if (mode == NoiseMode::random) {
    noise = scale(Tensor::randn({x.size(0), res, res, 1}, DType::f32, gen).to(x.device()), strength);
  }
  Tensor y = modulated_conv2d(x, ohwi_.at(p), affine(p, w), mp, noise);
  double clamp = cfg_.conv_clamp >= 0 ? cfg_.conv_clamp * gain : -1;
  return bias_act(y, state_.at(p + ".bias"), Activation::lrelu, std::nullopt, std::sqrt(2.0) * gain, clamp);
}

Tensor Stylegan2Generator::torgb(const std::string& p, const Tensor& x, const Tensor& w) const {
  const Tensor& weight = state_.at(p + ".weight");
  Tensor styles = scale(affine(p, w), 1.0 / std::sqrt(double(weight.size(1))));
  ModConvParams mp;
  mp.demodulate = false;
  Tensor y = modulated_conv2d(x, ohwi_.at(p), styles, mp);
  return bias_act(y, state_.at(p + ".bias"), Activation::linear, std::nullopt, std::nullopt, cfg_.conv_clamp);
}

Tensor Stylegan2Generator::skip(const std::string& p, const Tensor& x) const {
  const Tensor& w = ohwi_.at(p);
  Tensor up = upsample2d(x, filter_);
  Tensor y = conv2d(up, scale(w, 1.0 / std::sqrt(double(w.size(3)))), Tensor(), Conv2dParams{});
  return bias_act(y, Tensor(), Activation::linear, std::nullopt, std::sqrt(0.5),
                  cfg_.conv_clamp >= 0 ? cfg_.conv_clamp * std::sqrt(0.5) : -1);
}
}  // namespace fer::models
