// Batch norm and layer norm: values and running statistics against PyTorch (tools/make_norm_pool_fixtures.py),
// f64 gradient checks in every mode, record/replay updating running statistics, and argument errors.
#include <doctest/doctest.h>

#include "fixture_json.hpp"
#include "gradcheck.hpp"

using namespace fer;
using fer::testing::gradcheck;
using fer::testing::max_abs_diff;
using fer::testing::rand_input;
using fer::testing::shape_of;
using fer::testing::tensor_of;

TEST_CASE("batch_norm matches PyTorch: two training steps, running statistics, eval") {
  auto j = fer::testing::load_json_fixture("norm_pool/cases.json")["batch_norm"];
  Shape s = shape_of(j["shape"]);
  for (DType dt : {DType::f64, DType::f32}) {
    CAPTURE(dtype_name(dt));
    double tol = dt == DType::f64 ? 1e-10 : 2e-5;
    Tensor w = tensor_of(j["weight"], {5}, dt), b = tensor_of(j["bias"], {5}, dt);
    Tensor rm = Tensor::zeros({5}, dt), rv = Tensor::ones({5}, dt);
    Tensor nbt = Tensor::zeros({1}, DType::i64);
    double mom = j["momentum"], eps = j["eps"];
    Tensor y1 = batch_norm(tensor_of(j["x1"], s, dt), w, b, rm, rv, true, mom, eps, nbt);
    Tensor y2 = batch_norm(tensor_of(j["x2"], s, dt), w, b, rm, rv, true, mom, eps, nbt);
    CHECK(max_abs_diff(y1, tensor_of(j["y1"], s, dt)) < tol * 10);
    CHECK(max_abs_diff(y2, tensor_of(j["y2"], s, dt)) < tol * 10);
    CHECK(max_abs_diff(rm, tensor_of(j["running_mean"], {5}, dt)) < tol);
    CHECK(max_abs_diff(rv, tensor_of(j["running_var"], {5}, dt)) < tol);
    CHECK(nbt.flat(0) == j["num_batches_tracked"].get<double>());
    Tensor y3 = batch_norm(tensor_of(j["x1"], s, dt), w, b, rm, rv, false, mom, eps);
    CHECK(max_abs_diff(y3, tensor_of(j["y_eval"], s, dt)) < tol * 10);
  }
}

TEST_CASE("layer_norm matches PyTorch") {
  auto j = fer::testing::load_json_fixture("norm_pool/cases.json")["layer_norm"];
  Shape s = shape_of(j["shape"]);
  Tensor y = layer_norm(tensor_of(j["x"], s), tensor_of(j["weight"], {6}), tensor_of(j["bias"], {6}), 1e-6);
  CHECK(max_abs_diff(y, tensor_of(j["y"], s)) < 1e-10);
}

TEST_CASE("gradcheck: batch_norm train/eval, affine or not, running stats or not") {
  Generator gen(5);
  for (bool training : {true, false})
    for (bool affine : {true, false})
      for (bool track : {true, false}) {
        CAPTURE(training);
        CAPTURE(affine);
        CAPTURE(track);
        Tensor x = rand_input({2, 3, 5, 3}, gen, -2, 2);
        Tensor w = affine ? rand_input({3}, gen, 0.5, 1.5) : Tensor();
        Tensor b = affine ? rand_input({3}, gen) : Tensor();
        Tensor rm = track ? Tensor::rand({3}, DType::f64, gen, -0.5, 0.5) : Tensor();
        Tensor rv = track ? Tensor::rand({3}, DType::f64, gen, 0.5, 2.0) : Tensor();
        std::vector<Tensor> in = {x};
        if (affine) in.push_back(w), in.push_back(b);
        // Running statistics are snapshotted so the finite differences see the same eval statistics.
        Tensor rm0 = rm.defined() ? rm.clone() : Tensor(), rv0 = rv.defined() ? rv.clone() : Tensor();
        auto f = [&](const std::vector<Tensor>& t) {
          if (rm.defined()) rm.copy_(rm0), rv.copy_(rv0);
          return batch_norm(t[0], affine ? t[1] : Tensor(), affine ? t[2] : Tensor(), rm, rv, training, 0.1, 1e-5);
        };
        CHECK(gradcheck(f, in) <= 1.0);
      }
}

TEST_CASE("gradcheck: layer_norm (odd widths, strided input)") {
  Generator gen(9);
  for (int64_t c : {1, 5, 13}) {
    CAPTURE(c);
    Tensor x = rand_input({2, 3, c}, gen, -2, 2), w = rand_input({c}, gen), b = rand_input({c}, gen);
    CHECK(gradcheck([](const std::vector<Tensor>& t) { return layer_norm(t[0], t[1], t[2], 1e-5); }, {x, w, b}) <= 1.0);
  }
  // A channel slice of a wider tensor is not contiguous: the op copies it (through a recorded node).
  Tensor wide = rand_input({2, 4, 6}, gen);
  CHECK(gradcheck([](const std::vector<Tensor>& t) {
          Tensor x = t[0];
          return layer_norm(x, Tensor(), Tensor(), 1e-5);
        },
                  {wide}) <= 1.0);
}

TEST_CASE("a replayed training step updates running statistics each time") {
  Generator gen(1);
  Tensor x = Tensor::randn({4, 2, 2, 3}, DType::f32, gen);
  Tensor w = Tensor::ones({3}), b = Tensor::zeros({3});
  w.set_requires_grad(true);
  Tensor rm = Tensor::zeros({3}), rv = Tensor::ones({3});
  Graph g = Graph::capture([&] { return sum(batch_norm(x, w, b, rm, rv, true, 0.5)); });
  double after_capture = rm.flat(0);
  g.forward();
  double after_replay = rm.flat(0);
  // Same batch again: running = 0.5 * running + 0.5 * mean, twice -> 0.5 * m, then 0.75 * m.
  CHECK(after_replay == doctest::Approx(1.5 * after_capture).epsilon(1e-5));
}

TEST_CASE("norm argument errors") {
  Tensor x = Tensor::zeros({2, 3, 3, 4});
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor::ones({3}), Tensor(), Tensor(), Tensor(), true), doctest::Contains("weight must be [4]"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(Tensor::zeros({1, 1, 1, 4}), Tensor(), Tensor(), Tensor(), Tensor(), true),
                       doctest::Contains("more than 1 value per channel"), Error);
  CHECK_THROWS_WITH_AS(batch_norm(x, Tensor(), Tensor(), Tensor::zeros({4}), Tensor(), false), doctest::Contains("both running_mean"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, Tensor::ones({4}, DType::f64), Tensor()), doctest::Contains("dtype mismatch"), Error);
}
