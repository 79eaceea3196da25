// verify: a model with reference weights against the reference's own outputs.
//   verify --model resnet18 --weights r18.pt --io r18.io.safetensors [--num-classes N] [--input-size S] [--tol 1e-4]
//          [--train-step] [--grad-tol 1e-3] [--no-fold] [--dump OUT.safetensors]
// The weights (safetensors or PyTorch .pt/.pth) load strictly: every key and shape must match, and missing or
// unexpected keys are listed. Every tensor `input<suffix>` of IO (NCHW float32, as PyTorch writes it) runs through
// the model in eval mode and is compared with `logits<suffix>`: relative L2 error and largest absolute difference
// per output; the exit status is 1 when any error is above the tolerance (2 when the inputs are unusable).
// Eval mode runs conv -> BN pairs folded into one convolution, as evaluate and predict do (--no-fold: apart).
// --train-step also runs one training-mode step (batch norm in training mode, dropout and stochastic depth off) on
// `train_input`/`train_target` and compares the cross-entropy with `loss` and every `grad.<param>` present in IO
// (PyTorch layouts; relative L2 <= --grad-tol, or every element within --grad-atol). Where IO also holds PyTorch's
// float64 results (logits64*, loss64, grad64.*), an output beyond its tolerance still passes when fer is no further
// from the float64 result than 3x PyTorch's float32 is (ill-conditioned outputs), or than 3x the farthest of
// PyTorch's float32 runs that change only rounding (loss32spread, grad32spread.*) is. tools/make_verify_io.py writes such IO files from torchvision/timm models.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "fer/cli/program.hpp"
#include "fer/fer.hpp"
#include "fer/nn/fold_bn.hpp"
#include "fer/nn/load_weights.hpp"
#include "models/blocks.hpp"
#include "models/registry.hpp"

namespace verify_program {

using namespace fer;

namespace {

struct Error2 {
  double rel_l2 = 0, max_abs = 0;
};

Error2 compare(const Tensor& got_t, const Tensor& want_t) {
  const std::vector<double> got = got_t.to_vector(), want = want_t.to_vector();
  Error2 e;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = got[i] - want[i];
    num += d * d, den += want[i] * want[i];
    e.max_abs = std::max(e.max_abs, std::abs(d));
  }
  e.rel_l2 = std::sqrt(num / std::max(den, 1e-300));
  if (!std::isfinite(e.rel_l2) || !std::isfinite(e.max_abs)) e.rel_l2 = e.max_abs = INFINITY;
  return e;
}

}  // namespace

int program_main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::unique_ptr<CLI::App> app_owner = fer::cli::make_app("Verify a model with reference weights against reference outputs");
  CLI::App& app = *app_owner;
  std::string model_name, weights, io_path, dump;
  int64_t num_classes = 0, input_size = 0;
  double tol = 1e-4, grad_tol = 1e-3, grad_atol = 1e-6;
  bool train_step = false, float32_only = false, no_fold = false;
  app.add_option("--model", model_name, "registry name (resnet18, tf_efficientnet_b0_ns, ...)")->required();
  app.add_option("--weights", weights, "state dict: safetensors or PyTorch .pt/.pth")->required();
  app.add_option("--io", io_path, "safetensors with input*/logits* (and train_input, train_target, loss, grad.*)")->required();
  app.add_option("--num-classes", num_classes, "default: from the logits in IO");
  app.add_option("--input-size", input_size, "the size the model is built for (custom_cnn, mlp); default: the first input's");
  app.add_option("--tol", tol, "largest relative L2 error of logits (and loss)");
  app.add_option("--grad-tol", grad_tol, "largest relative L2 error of a gradient");
  app.add_option("--grad-atol", grad_atol,
                 "a gradient also passes when no element differs by more than this (gradients that are zero up to "
                 "rounding, e.g. of a bias before a training-mode batch norm, have no meaningful relative error)");
  app.add_flag("--float32-only", float32_only, "ignore IO's float64 results: every output within its tolerance of PyTorch's float32");
  app.add_flag("--no-fold", no_fold,
               "run the eval-mode outputs with every batch norm apart from its convolution (by default conv -> BN "
               "pairs run folded into one conv, as evaluate and predict run them)");
  app.add_flag("--train-step", train_step, "also compare the loss and gradients of one training step");
  app.add_option("--dump", dump, "write fer's outputs (logits*, loss, grad.*) to this safetensors file");
  if (auto code = fer::cli::parse(app, argc, argv)) return *code;

  io::NamedTensors io_tensors;
  std::map<std::string, Tensor> ref;
  std::vector<std::string> suffixes;
  try {
    io_tensors = io::load_safetensors(io_path);
    for (auto& [n, t] : io_tensors) ref[n] = t;
    for (auto& [n, t] : io_tensors)
      if (n.rfind("input", 0) == 0) {
        const std::string suffix = n.substr(5);
        FER_CHECK(ref.count("logits" + suffix), io_path, ": '", n, "' has no 'logits", suffix, "' to compare with");
        FER_CHECK(t.dim() == 4 && t.size(1) == 3, io_path, ": '", n, "' must be NCHW with 3 channels, is ", t.shape().str());
        FER_CHECK(ref["logits" + suffix].dim() == 2 && ref["logits" + suffix].size(0) == t.size(0), io_path, ": 'logits",
                  suffix, "' ", ref["logits" + suffix].shape().str(), " does not match '", n, "' ", t.shape().str());
        suffixes.push_back(suffix);
      }
    FER_CHECK(!suffixes.empty(), io_path, ": no tensor named input*");
    if (train_step)
      for (const char* k : {"train_input", "train_target", "loss"})
        FER_CHECK(ref.count(k), io_path, ": --train-step needs '", k, "' (make_verify_io.py --train-step)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "verify: error: %s\n", e.what());
    return 2;
  }
  if (num_classes <= 0) num_classes = ref["logits" + suffixes[0]].size(1);
  if (input_size <= 0) input_size = ref["input" + suffixes[0]].size(2);

  std::shared_ptr<nn::Layer> model;
  try {
    Generator gen(0);
    model = models::make_model(model_name, num_classes, input_size, gen);
    nn::WeightsReport rep = nn::load_weights(*model, weights);  // strict
    std::printf("%s\n", rep.summary(weights).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "verify: error: %s\n", e.what());
    return 2;
  }

  io::NamedTensors out;
  bool ok = true;
  // fer against PyTorch's float32 result; where that is off by more than the tolerance and IO holds PyTorch's float64
  // result too (`<name>64`), fer passes if it is no further from the float64 result than 3x PyTorch's own float32 is
  // (an ill-conditioned output, e.g. a gradient through training-mode batch norm on 4 images, moves by percents with
  // rounding alone; that is not an error of either implementation).
  // `spread32` (IO's `<name>32spread`, one value): the largest distance from float64 over PyTorch float32 runs that
  // differ only in rounding (layout, thread count, the input moved by one rounding): fer may be 3x that far too.
  auto report = [&](const std::string& what, const Tensor& got, const Tensor& want, const Tensor* want64,
                    const Tensor* spread32, double limit, double abs_limit = 0) {
    const Error2 e = compare(got, want);
    bool pass = e.rel_l2 <= limit || e.max_abs <= abs_limit;
    std::string how;
    if (!pass && want64 && !float32_only) {
      const double fer64 = compare(got, *want64).rel_l2, torch64 = compare(want, *want64).rel_l2;
      const double spread = spread32 ? spread32->to_vector().at(0) : 0.0;
      char buf[200];
      if (spread32)
        std::snprintf(buf, sizeof buf, ", vs float64: fer %.1e, PyTorch f32 %.1e, up to %.1e with other rounding",
                      fer64, torch64, spread);
      else
        std::snprintf(buf, sizeof buf, ", vs float64: fer %.1e, PyTorch f32 %.1e", fer64, torch64);
      how = buf;
      pass = fer64 <= 3 * std::max(torch64, spread);
    } else if (pass && e.rel_l2 > limit) {
      how = ", within --grad-atol";
    }
    ok = ok && pass;
    std::printf("%-40s rel-L2 %.3e  max-abs %.3e  %s (tol %.1e%s)\n", what.c_str(), e.rel_l2, e.max_abs, pass ? "ok" : "FAIL",
                limit, how.c_str());
  };
  auto find64 = [&](const std::string& name) -> const Tensor* {
    auto it = ref.find(name);
    return it == ref.end() ? nullptr : &it->second;
  };
  try {
    model->eval();
    {
      // Folded as evaluate and predict run the model; unfolded again for the training step (the snapshot would not
      // follow the parameters).
      std::optional<nn::FoldedBatchNormScope> folded;
      if (!no_fold) folded.emplace(*model);
      std::printf("batch norm: %zu conv -> BN pairs %s\n", nn::conv_bn_folds_of(*model).size(),
                  no_fold ? "run apart (--no-fold)" : "folded into their convolutions");
      InferenceGuard guard;
      for (const std::string& s : suffixes) {
        const Tensor x = contiguous(nchw_to_nhwc(ref["input" + s].to(DType::f32)));
        const Tensor logits = model->forward(x);
        const Tensor& want = ref["logits" + s];
        FER_CHECK(logits.shape() == want.shape(), "logits", s, ": fer gives ", logits.shape().str(), ", IO holds ", want.shape().str());
        report("logits" + s + " " + want.shape().str() + " from " + ref["input" + s].shape().str(), logits, want,
               find64("logits64" + s), nullptr, tol);
        // A reference whose logits hardly differ between images checks little beyond the biases: say so.
        if (want.size(0) > 1) {
          const std::vector<double> w = want.to_vector();
          const int64_t k = want.size(1);
          double d = 0, n = 0;
          for (int64_t i = 0; i < k; ++i) d += (w[size_t(k + i)] - w[size_t(i)]) * (w[size_t(k + i)] - w[size_t(i)]), n += w[size_t(i)] * w[size_t(i)];
          const double spread = std::sqrt(d / std::max(n, 1e-300));
          if (spread < 1e-3)
            std::printf("  warning: the reference logits of the first two images differ by only %.1e (relative): this "
                        "comparison checks little beyond the biases\n", spread);
        }
        out.emplace_back("logits" + s, logits);
      }
    }
    if (train_step) {
      model->train();
      for (auto& [n, m] : model->named_modules())
        if (dynamic_cast<nn::Dropout*>(m) || dynamic_cast<models::StochasticDepth*>(m)) m->eval();
      model->zero_grad();
      const Tensor x = contiguous(nchw_to_nhwc(ref["train_input"].to(DType::f32)));
      const Tensor loss = cross_entropy(model->forward(x), ref["train_target"].to(DType::i64));
      backward(loss);
      report("loss", loss, ref["loss"], find64("loss64"), find64("loss32spread"), tol);
      out.emplace_back("loss", reshape(loss, Shape{1}));
      std::map<std::string, Tensor> params;
      for (auto& [n, p] : model->named_parameters()) params[n] = p;
      size_t grads = 0;
      for (auto& [n, want] : io_tensors) {
        if (n.rfind("grad.", 0) != 0) continue;
        const std::string pname = n.substr(5);
        FER_CHECK(params.count(pname), io_path, ": '", n, "' names no parameter of ", model_name);
        Tensor g = params[pname].grad();
        FER_CHECK(g.defined(), "parameter ", pname, " received no gradient");
        if (g.dim() == 4) g = nn::to_external_layout(g, nn::ParamLayout::conv_ohwi);  // OHWI -> PyTorch's OIHW
        FER_CHECK(g.shape() == want.shape(), n, ": fer gives ", g.shape().str(), ", IO holds ", want.shape().str());
        report(n, g, want, find64("grad64." + pname), find64("grad32spread." + pname), grad_tol, grad_atol);
        out.emplace_back(n, contiguous(g));
        ++grads;
      }
      std::printf("%zu gradients compared\n", grads);
    }
    if (!dump.empty()) io::save_safetensors(dump, out, {{"model", model_name}, {"weights", weights}});
  } catch (const std::exception& e) {
    std::fprintf(stderr, "verify: error: %s\n", e.what());
    return 2;
  }
  std::printf("%s: %s\n", model_name.c_str(), ok ? "PASS" : "FAIL");
  return ok ? 0 : 1;
}

}  // namespace verify_program
