#pragma once
// NVIDIA's StyleGAN2(-ADA) generator (G_ema), class-conditional, in f32 inference: mapping network (2nd-moment
// normalization of z and of the class embedding, equalized-lr fully-connected layers, truncation around w_avg
// with an optional cutoff) and synthesis network (4x4 constant, modulated/demodulated convolutions, up-sampling
// with the [1,3,3,1] filter, const/random/no noise, bias + leaky ReLU with gain sqrt(2) and conv clamp, and the
// `skip`, `resnet` or `orig` architecture). Parameters keep NVIDIA's G_ema state_dict names and layouts; they load
// from safetensors or, without Python, from NVIDIA's network pickle. Activations are NHWC.
//
// Proven against NVIDIA's own outputs in ../shared/fixtures/stylegan2 (tests/test_stylegan2.cpp). The `skip`
// architecture is what those fixtures cover; `resnet` and `orig` follow the same code paths of NVIDIA's
// SynthesisBlock but have no fixture here.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "fer/fer.hpp"

// The generator is compiled once, into fer_models (models/stylegan2.cpp).
namespace fer::models {

struct Stylegan2Config {
  int64_t z_dim = 512, w_dim = 512, c_dim = 0, img_resolution = 0, img_channels = 3;
  int64_t mapping_layers = 8;
  double mapping_lr_multiplier = 0.01;
  std::string architecture = "skip";  // skip | resnet | orig
  double conv_clamp = -1;             // < 0: none

  // From NVIDIA's constructor arguments (the network pickle's init_kwargs, or the JSON a converter stored);
  // `where` (the file) names errors.
  static Stylegan2Config from_kwargs(const nlohmann::json& k, const std::string& where = "generator");
};

enum class NoiseMode { constant, random, none };

// "const", "random" or "none" (NVIDIA's noise_mode names).
NoiseMode parse_noise_mode(const std::string& s);

class Stylegan2Generator {
 public:
  // Validates that `state` holds every tensor the configuration needs, with consistent shapes.
  Stylegan2Generator(std::map<std::string, Tensor> state, const Stylegan2Config& cfg, std::string source = "generator");

  // Loads NVIDIA's network pickle (.pkl) or a safetensors file with G_ema's state_dict; the configuration comes
  // from the pickle's constructor arguments, or from the safetensors metadata "config" (JSON or the Python dict repr
  // NVIDIA-side converters write), or from a JSON file beside it (<file>.json).
  static Stylegan2Generator load(const std::filesystem::path& path);

  // Moves the weights to `d` (CUDA synthesis); inputs given on any device are brought there.
  Stylegan2Generator& to(Device d);
  Device device() const { return device_; }

  const Stylegan2Config& config() const { return cfg_; }
  const std::map<std::string, Tensor>& state() const { return state_; }
  int64_t num_ws() const;

  // z [N, z_dim], c [N, c_dim] (one-hot or soft labels; undefined when c_dim == 0) -> ws [N, num_ws, w_dim].
  Tensor mapping(const Tensor& z, const Tensor& c, double psi = 1.0, int64_t cutoff = -1) const;

  // ws [N, num_ws, w_dim] -> images [N, R, R, img_channels] in NVIDIA's range (about [-1, 1]).
  Tensor synthesis(const Tensor& ws_in, NoiseMode noise = NoiseMode::constant, Generator& gen = default_generator()) const;

  Tensor generate(const Tensor& z, const Tensor& c, double psi = 1.0, int64_t cutoff = -1,
                  NoiseMode noise = NoiseMode::constant, Generator& gen = default_generator()) const {
    return synthesis(mapping(z, c, psi, cutoff), noise, gen);
  }

  // NVIDIA's conversion to 8-bit pixels: clamp(img * 127.5 + 128, 0, 255), truncated.
  static std::vector<uint8_t> to_pixels(const Tensor& img);

 private:
  static std::string block(int64_t res) { return "synthesis.b" + std::to_string(res); }
  bool has_torgb(int64_t res) const { return cfg_.architecture == "skip" || res == cfg_.img_resolution; }

  void expect(const std::string& name, Shape shape) const;
  static Tensor to_ohwi(const Tensor& oihw);
  static Tensor normalize_2nd_moment(const Tensor& x);

  // Equalized-lr fully-connected layer: weight * (lr_mul / sqrt(in)), bias * lr_mul, then the activation (lrelu
  // gain sqrt(2)).
  Tensor fc(const std::string& p, const Tensor& x, double lr_mul, Activation act) const;

  Tensor affine(const std::string& p, const Tensor& w) const;
  static Tensor w_at(const Tensor& ws, int64_t k) { return reshape(slice(ws, 1, k, k + 1), {ws.size(0), ws.size(2)}); }

  static Tensor expand_const(const Tensor& cst, int64_t n);  // [C, 4, 4] -> [N, C, 4, 4]
  Tensor layer(const std::string& p, const Tensor& x, const Tensor& w, int64_t up, NoiseMode mode, Generator& gen,
               double gain) const;
  Tensor torgb(const std::string& p, const Tensor& x, const Tensor& w) const;

  // resnet skip: 1x1 conv (weight gain 1/sqrt(in), no bias) after 2x up-sampling with the resample filter,
  // times sqrt(0.5).
  Tensor skip(const std::string& p, const Tensor& x) const;

  std::map<std::string, Tensor> state_;
  std::map<std::string, Tensor> ohwi_;
  Stylegan2Config cfg_;
  std::string source_;
  Tensor filter_;
  Device device_ = Device::cpu();
};

}  // namespace fer::models
