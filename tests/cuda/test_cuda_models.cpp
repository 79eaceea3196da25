// Whole-model parity, CUDA against the CPU backend: for every registered model (the seven backbones and their
// variants, the custom CNN and the baselines), the same weights give the same eval logits, and one training step
// (batch norm in train mode) gives the same loss, parameter gradients and running statistics. Dropout and
// stochastic depth are switched off for the step (the GPU draws its masks from another RNG). Also bf16 autocast
// against f32, and the StyleGAN2 generator against NVIDIA's fixture images.
#include <filesystem>

#include "cuda/cuda_parity.hpp"

#include "fer/nn/layers.hpp"
#include "fer/ops/cast.hpp"
#include "fer/ops/loss.hpp"
#include "models/blocks.hpp"
#include "models/densenet.hpp"
#include "models/registry.hpp"
#include "models/resnet.hpp"
#include "models/stylegan2.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_models {

using namespace fer;
using namespace fer::cuda_test;

namespace {

// Only the random layers go to eval: batch norm keeps training statistics.
void freeze_randomness(nn::Module& m) {
  for (auto& [name, sub] : m.named_modules())
    if (dynamic_cast<nn::Dropout*>(sub) || dynamic_cast<models::StochasticDepth*>(sub)) sub->eval();
}

// f32 against f32 with other summation orders. The first convolution's weight gradient of the deep models sums
// over every pixel of the batch and is known to move by 1.4% (ResNet-50) and 2.3% (DenseNet-121) between PyTorch's
// own f32 and f64 runs, so it gets 5e-2; everything else 1e-3 (gradients) and 1e-4 (outputs).
double grad_tolerance(const std::string& model, const std::string& param) {
  bool first_conv = param == "conv1.weight" || param == "features.conv0.weight" || param == "features.0.0.weight";
  if (first_conv && (model == "resnet50" || model == "densenet121")) return 5e-2;
  return 1e-3;
}

}  // namespace

TEST_CASE("every registered model: eval logits and one training step equal the CPU's") {
  Generator data_gen(11);
  Tensor x = random_cpu({2, 64, 64, 3}, data_gen, -2, 2);
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{3, 5}, {2});
  for (const std::string& name : models::model_names()) {
    CAPTURE(name);
    Generator g_cpu(5), g_gpu(5);
    auto cpu_model = models::make_model(name, 7, 64, g_cpu);
    auto gpu_model = models::make_model(name, 7, 64, g_gpu);
    gpu_model->to(cuda0());
    REQUIRE(gpu_model->device() == cuda0());

    cpu_model->eval(), gpu_model->eval();
    {
      InferenceGuard ng;
      Tensor want = cpu_model->forward(x), got = gpu_model->forward(x.to(cuda0()));
      CHECK(got.device() == cuda0());
      CHECK(rel_l2(got, want) <= 1e-4);
    }

    cpu_model->train(), gpu_model->train();
    freeze_randomness(*cpu_model), freeze_randomness(*gpu_model);
    Tensor loss_cpu = cross_entropy(cpu_model->forward(x), labels);
    Tensor loss_gpu = cross_entropy(gpu_model->forward(x.to(cuda0())), labels.to(cuda0()));
    CHECK(loss_gpu.item() == doctest::Approx(loss_cpu.item()).epsilon(1e-4));
    backward(loss_cpu);
    backward(loss_gpu);
    auto pc = cpu_model->named_parameters(), pg = gpu_model->named_parameters();
    REQUIRE(pc.size() == pg.size());
    for (size_t i = 0; i < pc.size(); ++i) {
      CAPTURE(pc[i].first);
      if (!pc[i].second.grad().defined()) continue;
      REQUIRE(pg[i].second.grad().defined());
      CHECK(rel_l2(pg[i].second.grad(), pc[i].second.grad()) <= grad_tolerance(name, pc[i].first));
    }
    auto bc = cpu_model->named_buffers(), bg = gpu_model->named_buffers();
    REQUIRE(bc.size() == bg.size());
    for (size_t i = 0; i < bc.size(); ++i) {
      CAPTURE(bc[i].first);
      if (is_floating(bc[i].second.dtype())) CHECK(rel_l2(bg[i].second, bc[i].second) <= 1e-4);
      else CHECK(bg[i].second.host().flat(0) == bc[i].second.flat(0));  // num_batches_tracked
    }
  }
}

TEST_CASE("bf16 autocast keeps the seven backbones' logits close to f32") {
  Generator data_gen(12);
  Tensor x = random_cpu({4, 64, 64, 3}, data_gen, -2, 2).to(cuda0());
  for (const char* name : {"resnet18", "resnet50", "efficientnet_b0", "mobilenet_v3_large", "shufflenet_v2_x1_0",
                           "densenet121", "convnext_tiny"}) {
    CAPTURE(name);
    Generator g(6);
    auto model = models::make_model(name, 7, 64, g);
    model->to(cuda0());
    model->eval();
    InferenceGuard ng;
    Tensor f32 = model->forward(x), low;
    {
      AutocastGuard on(DType::bf16);
      low = model->forward(x);
    }
    CHECK(low.dtype() == DType::bf16);  // the classifier ran in bf16 (the loss casts up to f32)
    // bf16 keeps 8 bits of mantissa: after ~50 layers the logits agree to a few percent.
    CHECK(rel_l2(cast(low, DType::f32), f32) <= 5e-2);
  }
}

TEST_CASE("StyleGAN2 on the GPU equals NVIDIA's fixture images") {
  std::filesystem::path dir;
  for (const char* rel : {"/../shared/fixtures/stylegan2", "/../../shared/fixtures/stylegan2"})
    if (std::filesystem::exists(std::string(FER_SOURCE_DIR) + rel + "/G_small.safetensors")) dir = std::string(FER_SOURCE_DIR) + rel;
  if (dir.empty()) {
    MESSAGE("../shared/fixtures/stylegan2 not found: generator parity not checked");
    return;
  }
  auto G = models::Stylegan2Generator::load(dir / "G_small.safetensors");
  io::SafetensorsFile io((dir / "G_small.io.safetensors").string());
  Tensor z = io.load("z"), c = io.load("c");
  Tensor cpu_img = G.generate(z, c, 0.7, -1, models::NoiseMode::constant);
  G.to(cuda0());
  Tensor gpu_img = G.generate(z, c, 0.7, -1, models::NoiseMode::constant);
  CHECK(gpu_img.device() == cuda0());
  CHECK(rel_l2(gpu_img, cpu_img) <= 1e-4);
  Tensor want = io.load("img_psi07_const");  // NCHW, from NVIDIA's code
  Tensor got = gpu_img.host();
  double num = 0, den = 0;
  for (int64_t n = 0; n < want.size(0); ++n)
    for (int64_t ch = 0; ch < want.size(1); ++ch)
      for (int64_t y = 0; y < want.size(2); ++y)
        for (int64_t xx = 0; xx < want.size(3); ++xx) {
          double a = got.at(n, y, xx, ch), b = want.at(n, ch, y, xx);
          num += (a - b) * (a - b), den += b * b;
        }
  CHECK(std::sqrt(num / den) <= 1e-4);
}

}  // namespace test_cuda_models
