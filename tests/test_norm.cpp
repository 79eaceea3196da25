// Batch norm and layer norm: values and running statistics against PyTorch (tools/make_norm_pool_fixtures.py ->
// tests/data/norm_pool/norm.json) in f64 and f32, f64 gradient checks in every mode, record/replay updating the
// running statistics, f32 accuracy on data with a large mean, thread-count independence, and argument errors.
#include <doctest/doctest.h>

#include <memory>

#include "fixture_json.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::gradcheck;
using fer::testing::max_abs_diff;
using fer::testing::rand_input;
using fer::testing::shape_of;
using fer::testing::tensor_of;

namespace {

const nlohmann::json& norm_fixture() {
  static const nlohmann::json j = fer::testing::load_json_fixture("norm_pool/norm.json");
  return j;
}

// Tolerance for comparing with PyTorch's f64 results (stored to 12 significant digits) in dtype `dt`.
double tolerance(DType dt) { return dt == DType::f64 ? 1e-9 : 2e-5; }

// A non-contiguous view of every other element along the last dim (shares `base`'s storage), requiring grad.
Tensor every_other_last(const Tensor& base) {
  auto impl = std::make_shared<TensorImpl>(*base.impl());
  impl->shape[impl->shape.nd - 1] = base.size(-1) / 2;
  impl->strides[impl->strides.nd - 1] *= 2;
  impl->grad.reset();
  Tensor v(impl);
  v.set_requires_grad(true);
  return v;
}

}  // namespace

TEST_CASE("batch_norm matches PyTorch: training steps, running statistics, eval, untracked, 2-d input") {
  for (const auto& c : norm_fixture()["batch_norm"])
    for (DType dt : {DType::f64, DType::f32}) {
      CAPTURE(c["name"].get<std::string>());
      CAPTURE(dtype_name(dt));
      Shape s = shape_of(c["shape"]);
      int64_t ch = s.back();
      double mom = c["momentum"], eps = c["eps"], tol = tolerance(dt);
      Tensor w = c["affine"] ? tensor_of(c["weight"], {ch}, dt) : Tensor();
      Tensor b = c["affine"] ? tensor_of(c["bias"], {ch}, dt) : Tensor();
      if (c.value("untracked", false)) {
        Tensor y = batch_norm(tensor_of(c["eval_x"], s, dt), w, b, Tensor(), Tensor(), false, mom, eps);
        CHECK(max_abs_diff(y, tensor_of(c["eval_y"], s)) < tol);
        continue;
      }
      // PyTorch's initial running statistics.
      Tensor rm = Tensor::zeros({ch}, dt), rv = Tensor::ones({ch}, dt), nbt = Tensor::zeros({1}, DType::i64);
      for (const auto& step : c["steps"]) {
        Tensor y = batch_norm(tensor_of(step["x"], s, dt), w, b, rm, rv, true, mom, eps, nbt);
        CHECK(max_abs_diff(y, tensor_of(step["y"], s)) < tol);
      }
      CHECK(max_abs_diff(rm, tensor_of(c["running_mean"], {ch})) < tol);
      CHECK(max_abs_diff(rv, tensor_of(c["running_var"], {ch})) < tol);
      CHECK(nbt.flat(0) == c["num_batches_tracked"].get<double>());
      if (c.contains("eval_x")) {
        Tensor rm_before = rm.clone();
        Tensor y = batch_norm(tensor_of(c["eval_x"], s, dt), w, b, rm, rv, false, mom, eps, nbt);
        CHECK(max_abs_diff(y, tensor_of(c["eval_y"], s)) < tol);
        CHECK(max_abs_diff(rm, rm_before) == 0.0);  // eval leaves the running statistics alone
        CHECK(nbt.flat(0) == c["num_batches_tracked"].get<double>());
      }
    }
}

TEST_CASE("layer_norm matches PyTorch (affine or not, C = 1)") {
  for (const auto& c : norm_fixture()["layer_norm"])
    for (DType dt : {DType::f64, DType::f32}) {
      CAPTURE(c["shape"].dump());
      CAPTURE(dtype_name(dt));
      Shape s = shape_of(c["shape"]);
      int64_t ch = s.back();
      Tensor w = c.contains("weight") ? tensor_of(c["weight"], {ch}, dt) : Tensor();
      Tensor b = c.contains("bias") ? tensor_of(c["bias"], {ch}, dt) : Tensor();
      Tensor y = layer_norm(tensor_of(c["x"], s, dt), w, b, c["eps"].get<double>());
      CHECK(max_abs_diff(y, tensor_of(c["y"], s)) < tolerance(dt));
    }
}

TEST_CASE("gradcheck: batch_norm train/eval, affine or not, running stats or not (odd shapes, 2-d and 4-d)") {
  Generator gen(5);
  const Shape shapes[] = {{2, 3, 5, 3}, {3, 1, 3, 4}, {7, 5}, {1, 2, 3, 1}};
  int k = 0;
  for (bool training : {true, false})
    for (bool affine : {true, false})
      for (bool track : {true, false}) {
        Shape s = shapes[k++ % 4];
        int64_t c = s.back();
        CAPTURE(training);
        CAPTURE(affine);
        CAPTURE(track);
        CAPTURE(s.str());
        Tensor x = rand_input(s, gen, -2, 2);
        Tensor w = affine ? rand_input({c}, gen, 0.5, 1.5) : Tensor();
        Tensor b = affine ? rand_input({c}, gen) : Tensor();
        Tensor rm = track ? Tensor::rand({c}, DType::f64, gen, -0.5, 0.5) : Tensor();
        Tensor rv = track ? Tensor::rand({c}, DType::f64, gen, 0.5, 2.0) : Tensor();
        std::vector<Tensor> in = {x};
        if (affine) in.push_back(w), in.push_back(b);
        // Training updates the running statistics on every call; restoring them keeps every evaluation alike.
        Tensor rm0 = track ? rm.clone() : Tensor(), rv0 = track ? rv.clone() : Tensor();
        auto f = [&](const std::vector<Tensor>& t) {
          if (track) rm.copy_(rm0), rv.copy_(rv0);
          return batch_norm(t[0], affine ? t[1] : Tensor(), affine ? t[2] : Tensor(), rm, rv, training, 0.1, 1e-5);
        };
        CHECK(gradcheck(f, in) <= 1.0);
      }
}

TEST_CASE("gradcheck: batch_norm with only a weight, and with strided (non-contiguous) input and weight") {
  Generator gen(11);
  Tensor x = rand_input({2, 3, 3, 4}, gen, -2, 2), w = rand_input({4}, gen, 0.5, 1.5);
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return batch_norm(t[0], t[1], Tensor(), Tensor(), Tensor(), true); },
                  {x, w}) <= 1.0);
  Tensor xs = every_other_last(Tensor::rand({3, 2, 3, 6}, DType::f64, gen, -2, 2));
  Tensor ws = every_other_last(Tensor::rand({6}, DType::f64, gen, 0.5, 1.5));
  REQUIRE(!xs.is_contiguous());
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return batch_norm(t[0], t[1], Tensor(), Tensor(), Tensor(), true); },
                  {xs, ws}) <= 1.0);
}

TEST_CASE("gradcheck: batch_norm_relu in training and eval, affine or not") {
  Generator gen(21);
  for (bool training : {true, false}) {
    CAPTURE(training);
    Tensor x = rand_input({3, 2, 3, 5}, gen, -2, 2), w = rand_input({5}, gen, 0.5, 1.5), b = rand_input({5}, gen, -0.5, 0.5);
    Tensor rm = Tensor::rand({5}, DType::f64, gen, -0.5, 0.5), rv = Tensor::rand({5}, DType::f64, gen, 0.5, 2.0);
    // Running statistics change in training: the checked function must not see them move, so training uses none.
    auto f = [&](const std::vector<Tensor>& t) {
      return training ? batch_norm_relu(t[0], t[1], t[2], Tensor(), Tensor(), true)
                      : batch_norm_relu(t[0], t[1], t[2], rm, rv, false);
    };
    CHECK(gradcheck(f, {x, w, b}) <= 1.0);
    Tensor x2 = rand_input({4, 7, 3}, gen, -2, 2);
    CHECK(gradcheck([&](const std::vector<Tensor>& t) { return batch_norm_relu(t[0], Tensor(), Tensor(), Tensor(), Tensor(), true); },
                    {x2}) <= 1.0);
  }
}

TEST_CASE("batch_norm_relu equals relu(batch_norm) in f32: outputs, gradients, running statistics") {
  Generator gen(5);
  const Shape s{4, 5, 5, 24};
  Tensor x0 = Tensor::randn(s, DType::f32, gen, 0.3, 1.2), gy = Tensor::randn(s, DType::f32, gen);
  Tensor w0 = Tensor::rand({24}, DType::f32, gen, 0.5, 1.5), b0 = Tensor::rand({24}, DType::f32, gen, -0.5, 0.5);
  struct Run {
    Tensor y, gx, gw, gb, rm, rv;
  };
  auto run = [&](bool fused) {
    Tensor x = x0.clone(), w = w0.clone(), b = b0.clone();
    x.set_requires_grad(true), w.set_requires_grad(true), b.set_requires_grad(true);
    Tensor rm = Tensor::zeros({24}), rv = Tensor::ones({24});
    Tensor y = fused ? batch_norm_relu(x, w, b, rm, rv, true, 0.1, 1e-5) : relu(batch_norm(x, w, b, rm, rv, true, 0.1, 1e-5));
    backward(y, gy);
    Run r{y.detach(), x.grad(), w.grad(), b.grad(), rm, rv};
    Tape::current().clear();
    return r;
  };
  Run plain = run(false), fused = run(true);
  int64_t zeros = 0;
  for (int64_t i = 0; i < fused.y.numel(); ++i) zeros += fused.y.flat(i) == 0.0;
  CHECK(zeros > fused.y.numel() / 5);  // the ReLU cuts a good part of the outputs
  CHECK(max_abs_diff(fused.y, plain.y) == 0.0);
  CHECK(max_abs_diff(fused.gx, plain.gx) < 1e-5);
  CHECK(max_abs_diff(fused.gw, plain.gw) < 1e-4);
  CHECK(max_abs_diff(fused.gb, plain.gb) < 1e-4);
  CHECK(max_abs_diff(fused.rm, plain.rm) == 0.0);
  CHECK(max_abs_diff(fused.rv, plain.rv) == 0.0);
}

TEST_CASE("batch_norm_add_relu equals relu(batch_norm + residual) in f32 and f64: outputs, gradients, statistics") {
  for (DType dt : {DType::f32, DType::f64}) {
    CAPTURE(dtype_name(dt));
    Generator gen(17);
    const Shape s{4, 5, 5, 24};
    const Tensor x0 = Tensor::randn(s, dt, gen, 0.3, 1.2), r0 = Tensor::randn(s, dt, gen, -0.2, 1.0);
    const Tensor gy = Tensor::randn(s, dt, gen);
    const Tensor w0 = Tensor::rand({24}, dt, gen, 0.5, 1.5), b0 = Tensor::rand({24}, dt, gen, -0.5, 0.5);
    struct Run {
      Tensor y, gx, gr, gw, gb, rm, rv, nbt;
    };
    auto run = [&](bool fused, bool training) {
      Tensor x = x0.clone(), r = r0.clone(), w = w0.clone(), b = b0.clone();
      for (Tensor* t : {&x, &r, &w, &b}) t->set_requires_grad(true);
      Tensor rm = Tensor::full({24}, 0.1, dt), rv = Tensor::full({24}, 1.5, dt), nbt = Tensor::zeros({1}, DType::i64);
      Tensor y = fused ? batch_norm_add_relu(x, r, w, b, rm, rv, training, 0.1, 1e-5, nbt)
                       : relu(add(batch_norm(x, w, b, rm, rv, training, 0.1, 1e-5, nbt), r));
      backward(y, gy);
      Run out{y.detach(), x.grad(), r.grad(), w.grad(), b.grad(), rm, rv, nbt};
      Tape::current().clear();
      return out;
    };
    for (bool training : {true, false}) {
      CAPTURE(training);
      const Run plain = run(false, training), fused = run(true, training);
      int64_t zeros = 0;
      for (int64_t i = 0; i < fused.y.numel(); ++i) zeros += fused.y.flat(i) == 0.0;
      CHECK(zeros > fused.y.numel() / 10);  // the ReLU cuts a good part of the outputs
      CHECK(zeros < fused.y.numel() * 9 / 10);
      const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
      CHECK(max_abs_diff(fused.y, plain.y) == 0.0);
      CHECK(max_abs_diff(fused.gx, plain.gx) < tol);
      CHECK(max_abs_diff(fused.gr, plain.gr) == 0.0);  // both pass gy where the output is positive
      CHECK(max_abs_diff(fused.gw, plain.gw) < 10 * tol);
      CHECK(max_abs_diff(fused.gb, plain.gb) < 10 * tol);
      CHECK(max_abs_diff(fused.rm, plain.rm) == 0.0);
      CHECK(max_abs_diff(fused.rv, plain.rv) == 0.0);
      CHECK(fused.nbt.flat(0) == plain.nbt.flat(0));
      CHECK(fused.nbt.flat(0) == (training ? 1 : 0));
    }
  }
}

TEST_CASE("gradcheck: batch_norm_add_relu in training and eval, affine or not, residual not requiring grad") {
  Generator gen(23);
  for (bool training : {true, false}) {
    CAPTURE(training);
    Tensor x = rand_input({3, 2, 3, 5}, gen, -2, 2), w = rand_input({5}, gen, 0.5, 1.5), b = rand_input({5}, gen, -0.5, 0.5);
    Tensor r = rand_input({3, 2, 3, 5}, gen, -1, 1);
    Tensor rm = Tensor::rand({5}, DType::f64, gen, -0.5, 0.5), rv = Tensor::rand({5}, DType::f64, gen, 0.5, 2.0);
    auto f = [&](const std::vector<Tensor>& t) {
      return training ? batch_norm_add_relu(t[0], t[3], t[1], t[2], Tensor(), Tensor(), true)
                      : batch_norm_add_relu(t[0], t[3], t[1], t[2], rm, rv, false);
    };
    CHECK(gradcheck(f, {x, w, b, r}) <= 1.0);
    const Tensor rc = Tensor::rand({3, 2, 3, 5}, DType::f64, gen, -1, 1);  // a constant residual
    CHECK(gradcheck([&](const std::vector<Tensor>& t) { return batch_norm_add_relu(t[0], rc, Tensor(), Tensor(), Tensor(), Tensor(), true); },
                    {x}) <= 1.0);
  }
}

TEST_CASE("batch_norm_relu reads a channel prefix of a wider buffer in place, size-1 dims included") {
  // DenseNet's in-place blocks: the prefix rows are read without a copy and the input gradient lands in the
  // buffer's gradient, equal to running on a contiguous copy of the prefix.
  for (const Shape& s : {Shape{3, 2, 3, 5}, Shape{4, 1, 1, 5}, Shape{2, 3, 1, 4}, Shape{1, 1, 6, 3}}) {
    CAPTURE(s.str());
    Generator gen(31);
    const Shape wide{s[0], s[1], s[2], s[3] + 3};
    const Tensor base = Tensor::randn(wide, DType::f64, gen), gy = Tensor::randn(s, DType::f64, gen);
    const Tensor w = Tensor::rand({s[3]}, DType::f64, gen, 0.5, 1.5);
    Tensor buf = base.clone();
    buf.set_requires_grad(true);
    const Tensor view = channel_prefix(buf, s[3]);
    REQUIRE(!view.is_contiguous());
    const Tensor y = batch_norm_relu(view, w, Tensor(), Tensor(), Tensor(), true);
    CHECK(Tape::current().size() == 1);  // no contiguous copy recorded
    backward(y, gy);
    Tensor copy = slice(base, -1, 0, s[3]).detach();
    copy.set_requires_grad(true);
    const Tensor want = batch_norm_relu(copy, w, Tensor(), Tensor(), Tensor(), true);
    backward(want, gy);
    CHECK(max_abs_diff(y, want) == 0.0);
    const Tensor g = buf.grad();
    double in_prefix = 0, outside = 0;
    for (int64_t i = 0; i < g.numel(); ++i) {
      const int64_t ch = i % wide[3], row = i / wide[3];
      if (ch < s[3]) in_prefix = std::max(in_prefix, std::abs(g.flat(i) - copy.grad().flat(row * s[3] + ch)));
      else outside = std::max(outside, std::abs(g.flat(i)));
    }
    CHECK(in_prefix == 0.0);
    CHECK(outside == 0.0);
  }
}

TEST_CASE("gradcheck: layer_norm (odd widths, affine or not, strided input and weight)") {
  Generator gen(9);
  for (int64_t c : {1, 5, 13, 19}) {  // 13 and 19 exercise both the lane-parallel part and the tail of a row
    CAPTURE(c);
    Tensor x = rand_input({2, 3, c}, gen, -2, 2), w = rand_input({c}, gen), b = rand_input({c}, gen);
    CHECK(gradcheck([](const std::vector<Tensor>& t) { return layer_norm(t[0], t[1], t[2], 1e-5); }, {x, w, b}) <= 1.0);
    Tensor x2 = rand_input({3, 1, 2, c}, gen, -2, 2);
    CHECK(gradcheck([](const std::vector<Tensor>& t) { return layer_norm(t[0], Tensor(), Tensor()); }, {x2}) <= 1.0);
  }
  Tensor xs = every_other_last(Tensor::rand({2, 3, 10}, DType::f64, gen, -2, 2));
  Tensor ws = every_other_last(Tensor::rand({10}, DType::f64, gen));
  REQUIRE(!xs.is_contiguous());
  CHECK(gradcheck([](const std::vector<Tensor>& t) { return layer_norm(t[0], t[1], Tensor(), 1e-5); }, {xs, ws}) <= 1.0);
}

TEST_CASE("a replayed training step updates running statistics and num_batches_tracked each time") {
  Generator gen(1);
  Tensor x = Tensor::randn({4, 2, 2, 3}, DType::f32, gen, 2.0, 1.5);
  Tensor w = Tensor::ones({3}), b = Tensor::zeros({3});
  w.set_requires_grad(true);
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3}), nbt = Tensor::zeros({1}, DType::i64);
  Graph g = Graph::capture([&] { return sum(batch_norm(x, w, b, rm, rv, true, 0.5, 1e-5, nbt)); });
  std::vector<double> mean1 = rm.to_vector(), var1 = rv.to_vector();
  g.forward();
  g.backward();
  // Same batch again with momentum 0.5: mean 0 -> m/2 -> 3m/4; var 1 -> (1 + v)/2 -> (1 + 3v)/4.
  for (int j = 0; j < 3; ++j) {
    double m = 2 * mean1[j], v = 2 * var1[j] - 1;
    CHECK(rm.flat(j) == doctest::Approx(0.75 * m).epsilon(1e-5));
    CHECK(rv.flat(j) == doctest::Approx((1 + 3 * v) / 4).epsilon(1e-5));
  }
  CHECK(nbt.flat(0) == 2);
  // sum(batch_norm) does not depend on the weight: d/dw sum(xhat) = sum(xhat) = 0.
  for (int j = 0; j < 3; ++j) CHECK(std::abs(w.grad().flat(j)) < 1e-4);
}

TEST_CASE("f32 batch/layer norm stay accurate on data with a large mean") {
  // Mean 1000, std 0.5: a one-pass E[x^2] - E[x]^2 in f32 would lose the variance (1e6 vs 0.25). The f64 op on the
  // same f32 values is the reference; what remains is f32 rounding of x * invstd ~ 2000 (ulp 1.2e-4).
  Generator gen(3);
  Tensor x32 = Tensor::randn({8, 5, 5, 7}, DType::f32, gen, 1000.0, 0.5), x64 = x32.to(DType::f64);
  CHECK(max_abs_diff(batch_norm(x32, Tensor(), Tensor(), Tensor(), Tensor(), true),
                     batch_norm(x64, Tensor(), Tensor(), Tensor(), Tensor(), true)) < 5e-4);
  CHECK(max_abs_diff(layer_norm(x32, Tensor(), Tensor()), layer_norm(x64, Tensor(), Tensor())) < 5e-4);
}

TEST_CASE("batch_norm statistics do not depend on the thread count") {
  Generator gen(4);
  Tensor x = Tensor::randn({16, 16, 16, 24}, DType::f32, gen);  // several reduction chunks
  x.set_requires_grad(true);
  Tensor gy = Tensor::randn(x.shape(), DType::f32, gen);
  auto run = [&](int threads) {
    int saved = num_threads();
    set_num_threads(threads);
    Tensor rm = Tensor::zeros({24}), rv = Tensor::ones({24});
    x.drop_grad();
    Tensor y = batch_norm(x, Tensor(), Tensor(), rm, rv, true);
    backward(y, gy);
    set_num_threads(saved);
    std::vector<double> out = y.to_vector(), g = x.grad().to_vector(), r = rv.to_vector();
    out.insert(out.end(), g.begin(), g.end());
    out.insert(out.end(), r.begin(), r.end());
    return out;
  };
  CHECK(run(1) == run(2));
}

TEST_CASE("norm argument errors") {
  Tensor x = Tensor::zeros({2, 3, 3, 4});
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({4}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                       doctest::Contains("at least 2-d"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor::ones({3}), Tensor(), Tensor(), Tensor(), true),
                       doctest::Contains("weight must be [4]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), Tensor::zeros({5}), Tensor::ones({5}), false),
                       doctest::Contains("running_mean must be [4]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), Tensor::zeros({4}), Tensor(), false),
                       doctest::Contains("both running_mean"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), Tensor::zeros({4}, DType::f64), Tensor::ones({4}, DType::f64), true),
                       doctest::Contains("dtype mismatch"), Error);
  // One value per channel: no batch statistics (training, or eval without running statistics), as PyTorch.
  Tensor one = Tensor::zeros({1, 1, 1, 4});
  CHECK_THROWS_WITH_AS(batch_norm(one, Tensor(), Tensor(), Tensor::zeros({4}), Tensor::ones({4}), true),
                       doctest::Contains("more than 1 value per channel"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(one, Tensor(), Tensor(), Tensor(), Tensor(), false),
                       doctest::Contains("more than 1 value per channel"), Error);
  CHECK_NOTHROW(batch_norm(one, Tensor(), Tensor(), Tensor::zeros({4}), Tensor::ones({4}), false));
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5, Tensor::zeros({1})),
                       doctest::Contains("num_batches_tracked"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({2, 4}, DType::i32), Tensor(), Tensor(), Tensor(), Tensor(), true),
                       doctest::Contains("not supported"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, Tensor::ones({4}, DType::f64), Tensor()), doctest::Contains("dtype mismatch"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, Tensor(), Tensor::zeros({3})), doctest::Contains("bias must be [4]"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(Tensor::zeros({}), Tensor(), Tensor()), doctest::Contains("0-d"), Error);
}
