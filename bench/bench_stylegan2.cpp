// StyleGAN2 generator throughput on the CPU: images/s of mapping + synthesis at batch 8, for 64x64 and 256x256
// outputs, with StyleGAN2-ADA's paper256 widths (channel_base 16384, channel_max 512, z/w 512, 8 mapping layers),
// 7 classes, 3 channels, noise const, conv clamp 256. tools/bench_stylegan2_peer.py times NVIDIA's reference
// formulation (grouped-conv modulated convolution, upfirdn2d, bias_act as plain PyTorch ops) on the same network.
#include <benchmark/benchmark.h>

#include "models/stylegan2.hpp"
#include "registered_benchmarks.hpp"

namespace bench_stylegan2 {

using namespace fer;

namespace {

models::Stylegan2Generator random_generator(int64_t resolution) {
  const int64_t z = 512, w = 512, c = 7, img = 3, cbase = 16384, cmax = 512;
  auto ch = [&](int64_t res) { return std::min(cbase / res, cmax); };
  Generator g(1);
  std::map<std::string, Tensor> s;
  auto put = [&](const std::string& name, Shape shape, double scale = 0.1) { s[name] = Tensor::randn(shape, DType::f32, g).to(DType::f32), s[name] = fer::scale(s[name], scale); };
  put("mapping.w_avg", {w});
  put("mapping.embed.weight", {w, c}), put("mapping.embed.bias", {w});
  for (int i = 0; i < 8; ++i) put("mapping.fc" + std::to_string(i) + ".weight", {w, i == 0 ? z + w : w}, 1.0), put("mapping.fc" + std::to_string(i) + ".bias", {w});
  for (int64_t res = 4; res <= resolution; res *= 2) {
    std::string b = "synthesis.b" + std::to_string(res);
    int64_t out = ch(res), in = res == 4 ? out : ch(res / 2);
    if (res == 4) put(b + ".const", {out, 4, 4}, 1.0);
    for (const char* conv : {"conv0", "conv1"}) {
      if (res == 4 && std::string(conv) == "conv0") continue;
      std::string p = b + "." + conv;
      int64_t cin = std::string(conv) == "conv0" ? in : out;
      put(p + ".weight", {out, cin, 3, 3}, 1.0), put(p + ".bias", {out});
      put(p + ".affine.weight", {cin, w}, 1.0), put(p + ".affine.bias", {cin});
      put(p + ".noise_const", {res, res}, 1.0), put(p + ".noise_strength", Shape{});
    }
    put(b + ".torgb.weight", {img, out, 1, 1}, 1.0), put(b + ".torgb.bias", {img});
    put(b + ".torgb.affine.weight", {out, w}, 1.0), put(b + ".torgb.affine.bias", {out});
  }
  models::Stylegan2Config cfg;
  cfg.z_dim = z, cfg.w_dim = w, cfg.c_dim = c, cfg.img_resolution = resolution, cfg.img_channels = img;
  cfg.conv_clamp = 256;
  return models::Stylegan2Generator(s, cfg, "random paper256 generator");
}

void BM_Stylegan2Generate(benchmark::State& state) {
  const int64_t res = state.range(0), batch = 8;
  auto G = random_generator(res);
  Generator g(2);
  Tensor z = Tensor::randn({batch, 512}, DType::f32, g);
  Tensor c = Tensor::zeros({batch, 7});
  for (int64_t i = 0; i < batch; ++i) c.set_flat(i * 7 + i % 7, 1.0);
  for (auto _ : state) {
    Tensor img = G.generate(z, c, 0.7);
    benchmark::DoNotOptimize(img.raw_data());
  }
  state.counters["images/s"] = benchmark::Counter(double(batch) * double(state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

int program_main(int argc, char** argv) {
  benchmark::RegisterBenchmark("BM_Stylegan2Generate", BM_Stylegan2Generate)
      ->ArgName("resolution")
      ->Arg(64)
      ->Arg(256)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(2.0);
  return run_registered_benchmarks(argc, argv);
}

}  // namespace bench_stylegan2
