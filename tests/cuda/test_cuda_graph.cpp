// CUDA graphs: a captured training step of a small CNN replays the eager step (same logits, gradients and batch-norm
// statistics), replays allocate nothing, what cannot be captured is a clear error, the graph's private memory pool
// keeps its blocks from other tensors and goes back to the cache when the graph is destroyed, and an upload from
// pinned memory does not wait for the stream.
#include <chrono>
#include <cstring>
#include <set>

#include "cuda/cuda_parity.hpp"

#include "fer/autograd/cuda_graph.hpp"
#include "fer/kernels/runtime.hpp"
#include "fer/nn/layers.hpp"
#include "fer/ops/linear.hpp"
#include "fer/ops/loss.hpp"
#include "models/custom_cnn.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_graph {

using namespace fer;
using namespace fer::cuda_test;

namespace {

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  Tensor x = a.host(), y = b.host();
  return x.shape() == y.shape() && x.dtype() == y.dtype() && std::memcmp(x.raw_data(), y.raw_data(), x.nbytes()) == 0;
}

// Graph vs eager, same device and kernels: bitwise where the kernels are deterministic, else within rel-L2 1e-6.
constexpr double kTolReplay = 1e-6;

// Two copies of the custom CNN (16x16 input, 7 classes) with the same weights on cuda:0, batch norm in training
// mode, dropout off (a captured dropout would repeat its mask).
struct TwoCnns {
  Generator ga{3}, gb{3};
  models::CustomCnn eager{7, 16, ga}, captured{7, 16, gb};
  TwoCnns() {
    for (models::CustomCnn* m : {&eager, &captured}) {
      m->to(cuda0());
      m->train();
      for (auto& [name, sub] : m->named_modules())
        if (dynamic_cast<nn::Dropout*>(sub)) sub->eval();
    }
  }
  // Every parameter gradient and buffer of `captured` against `eager`; counts the tensors that differ in any bit.
  int compare(const char* when) {
    CAPTURE(when);
    int inexact = 0;
    auto pe = eager.named_parameters(), pc = captured.named_parameters();
    REQUIRE(pe.size() == pc.size());
    for (size_t i = 0; i < pe.size(); ++i) {
      CAPTURE(pe[i].first);
      REQUIRE(pc[i].second.grad().defined());
      CHECK(rel_l2(pc[i].second.grad(), pe[i].second.grad()) <= kTolReplay);
      inexact += !bitwise_equal(pc[i].second.grad(), pe[i].second.grad());
    }
    auto be = eager.named_buffers(), bc = captured.named_buffers();
    REQUIRE(be.size() == bc.size());
    for (size_t i = 0; i < be.size(); ++i) {
      CAPTURE(be[i].first);
      CHECK(bitwise_equal(bc[i].second, be[i].second));  // running stats: deterministic forward reductions
    }
    return inexact;
  }
};

const Shape kInput{5, 16, 16, 3};
const Shape kLogits{5, 7};

}  // namespace

TEST_CASE("fused graph: forward + backward replayed with new inputs equal the eager step") {
  TwoCnns m;
  Generator data(17);
  Tensor x = Tensor::empty(kInput, DType::f32, cuda0()), seed = Tensor::empty(kLogits, DType::f32, cuda0());

  // Step 0, eager on both: the recording run and the warm-up backward of the captured model.
  Tensor x0 = random_cpu(kInput, data), s0 = random_cpu(kLogits, data);
  x.copy_(x0), seed.copy_(s0);
  Graph g = Graph::capture([&] { return m.captured.forward(x); });
  g.backward(seed);
  Tensor l0 = m.eager.forward(x0.to(cuda0()));
  backward(l0, s0.to(cuda0()));
  CHECK(bitwise_equal(g.output(), l0));
  m.compare("eager step 0");

  CudaGraphStep step(std::move(g), seed);
  CHECK(step.num_graph_nodes() > 20);
  int inexact = 0;
  for (int it = 1; it <= 3; ++it) {
    CAPTURE(it);
    Tensor xi = random_cpu(kInput, data, -2, 2), si = random_cpu(kLogits, data);
    m.eager.zero_grad(), m.captured.zero_grad();
    Tensor li = m.eager.forward(xi.to(cuda0()));
    backward(li, si.to(cuda0()));
    x.copy_(xi), seed.copy_(si);  // new values into the placeholders
    step.replay();
    CHECK(bitwise_equal(step.output(), li));  // forward kernels are deterministic
    inexact += m.compare("replay");
  }
  MESSAGE("parameter gradients not bitwise equal over 3 replays: ", inexact);

  // Without zero_grad the replay accumulates into the existing gradients, as an eager backward does.
  Tensor x4 = random_cpu(kInput, data), s4 = random_cpu(kLogits, data);
  backward(m.eager.forward(x4.to(cuda0())), s4.to(cuda0()));
  x.copy_(x4), seed.copy_(s4);
  step.replay();
  m.compare("accumulating replay");

  // A dropped gradient buffer would silently stop receiving: replay refuses.
  m.captured.zero_grad(/*set_to_none=*/true);
  CHECK_THROWS_WITH_AS(step.replay(), doctest::Contains("gradient buffer was dropped"), fer::Error);
}

TEST_CASE("split graphs with an eager cross-entropy between them equal the eager training step") {
  TwoCnns m;
  Generator data(23);
  Tensor x = Tensor::empty(kInput, DType::f32, cuda0()), dlogits = Tensor::zeros(kLogits, DType::f32, cuda0());
  auto labels_for = [](int it) {
    std::vector<int64_t> y;
    for (int i = 0; i < 5; ++i) y.push_back((i * 3 + it) % 7);
    return Tensor::from_vector(y, {5}).to(cuda0());
  };
  auto loss_and_grad = [&](const Tensor& logits, const Tensor& y) {  // the documented pattern
    Tensor l = logits.detach().set_requires_grad(true);
    Tensor loss = cross_entropy(l, y);
    backward(loss);
    dlogits.copy_(l.grad());
    return loss.item();
  };

  Tensor x0 = random_cpu(kInput, data);
  x.copy_(x0);
  Graph g = Graph::capture([&] { return m.captured.forward(x); });
  loss_and_grad(g.output(), labels_for(0));
  g.backward(dlogits);
  backward(cross_entropy(m.eager.forward(x0.to(cuda0())), labels_for(0)));
  m.compare("eager step 0");

  CudaGraphStep step(std::move(g), dlogits, CudaGraphStep::Mode::split);
  CHECK_THROWS_WITH_AS(step.replay(), doctest::Contains("Mode::fused"), fer::Error);
  for (int it = 1; it <= 3; ++it) {
    CAPTURE(it);
    Tensor xi = random_cpu(kInput, data, -2, 2);
    m.eager.zero_grad(), m.captured.zero_grad();
    Tensor want = cross_entropy(m.eager.forward(xi.to(cuda0())), labels_for(it));
    backward(want);
    x.copy_(xi);
    step.forward();
    double got = loss_and_grad(step.output(), labels_for(it));
    step.backward();
    CHECK(got == want.item());
    m.compare("split replay");
  }
}

TEST_CASE("replays allocate nothing: the allocator's counters do not move over 10 steps") {
  TwoCnns m;
  Generator data(29);
  Tensor x = Tensor::empty(kInput, DType::f32, cuda0()), seed = Tensor::empty(kLogits, DType::f32, cuda0());
  x.copy_(random_cpu(kInput, data)), seed.copy_(random_cpu(kLogits, data));
  Graph g = Graph::capture([&] { return m.captured.forward(x); });
  g.backward(seed);
  CudaGraphStep step(std::move(g), seed);
  Tensor xs = random_cpu(kInput, data), ss = random_cpu(kLogits, data);  // host inputs made before counting
  step.replay();
  cuda::synchronize(0);
  Allocator& a = cuda::caching_allocator(0);
  AllocatorStats before = a.stats();
  size_t pool = cuda::graph_pool_bytes(0);
  for (int it = 0; it < 10; ++it) {
    x.copy_(xs), seed.copy_(ss);
    m.captured.zero_grad();
    step.replay();
  }
  cuda::synchronize(0);
  AllocatorStats after = a.stats();
  CHECK(after.allocs == before.allocs);  // not even from the cache
  CHECK(after.system_allocs == before.system_allocs);
  CHECK(after.bytes_in_use == before.bytes_in_use);
  CHECK(after.bytes_cached == before.bytes_cached);
  CHECK(cuda::graph_pool_bytes(0) == pool);
}

TEST_CASE("host copies and synchronizations during a capture are clear errors; the stream works afterwards") {
  Generator g(31);
  Tensor h = random_cpu({33}, g);
  Tensor d = h.to(cuda0());
  const char* msg = "being captured into a CUDA graph";
  CHECK_THROWS_WITH_AS(cuda::capture(0, [&] { (void)d.host(); }), doctest::Contains(msg), fer::Error);
  CHECK_FALSE(cuda::is_capturing(0));
  CHECK_THROWS_WITH_AS(cuda::capture(0, [&] { d.copy_(h); }), doctest::Contains(msg), fer::Error);
  CHECK_THROWS_WITH_AS(cuda::capture(0, [&] { cuda::synchronize(0); }), doctest::Contains(msg), fer::Error);
  CHECK_THROWS_WITH_AS(cuda::capture(0, [&] { (void)cuda::stream_idle(0); }), doctest::Contains(msg), fer::Error);
  CHECK_FALSE(cuda::is_capturing(0));
  CHECK(cuda::graph_pool_bytes(0) == 0);  // the aborted captures' pools were released
  CHECK(rel_l2(d.clone(), h) == 0.0);     // eager work runs again

  // A captured step containing cross_entropy (its forward returns a host value) cannot be made.
  TwoCnns m;
  Tensor x = random_cpu(kInput, g).to(cuda0());
  Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 3, 4}, {5}).to(cuda0());
  Graph lg = Graph::capture([&] { return cross_entropy(m.captured.forward(x), y); });
  Tensor one = Tensor::ones(Shape{}).to(cuda0());
  lg.backward(one);
  CHECK_THROWS_WITH_AS(CudaGraphStep(std::move(lg), one), doctest::Contains(msg), fer::Error);
  CHECK_FALSE(cuda::is_capturing(0));
  CHECK(cuda::graph_pool_bytes(0) == 0);
}

TEST_CASE("the graph's private pool: its blocks are not handed out while it lives and return to the cache after") {
  Allocator& a = cuda::caching_allocator(0);
  cuda::synchronize(0);
  a.empty_cache();
  const int64_t n = 3'000'017;  // f32, ~12 MB: a size class nothing else in this test uses
  const size_t cls = pool_size_class(size_t(n) * 4);
  AllocatorStats before = a.stats();
  void* scratch = nullptr;
  Tensor kept;  // allocated during the capture, outlives the graph
  {
    cuda::CapturedGraph cg = cuda::capture(0, [&] {
      Tensor t = Tensor::zeros({n}, DType::f32, cuda0());  // a memset node writing t's block at every replay
      scratch = t.raw_data();
      kept = Tensor::zeros({n}, DType::f32, cuda0());
    });  // t was freed inside the capture: back to the pool, not to the cache
    CHECK(cg.valid());
    CHECK(cg.num_nodes() >= 2);  // the two memsets
    CHECK(cuda::graph_pool_bytes(0) == 2 * cls);
    AllocatorStats mid = a.stats();
    CHECK(mid.system_allocs == before.system_allocs + 2);  // cudaMalloc during capture: once, not per replay
    CHECK(mid.bytes_in_use == before.bytes_in_use + cls);  // `kept`
    {
      Tensor u = Tensor::empty({n}, DType::f32, cuda0());
      CHECK(u.raw_data() != scratch);  // the graph still writes `scratch` at each replay
      CHECK(u.raw_data() != kept.raw_data());
    }
    for (int i = 0; i < 3; ++i) cg.launch();
    cuda::synchronize(0);
    CHECK(a.stats().system_allocs == before.system_allocs + 3);  // u's block; the replays took none
  }
  CHECK(cuda::graph_pool_bytes(0) == 0);
  AllocatorStats after = a.stats();
  CHECK(after.bytes_in_use == before.bytes_in_use + cls);       // `kept` only
  CHECK(after.bytes_cached == before.bytes_cached + 2 * cls);    // scratch and u's block, both reusable now
  void* kept_block = kept.raw_data();
  kept = Tensor();
  CHECK(a.stats().bytes_in_use == before.bytes_in_use);
  CHECK(a.stats().bytes_cached == before.bytes_cached + 3 * cls);
  // All three blocks are served again without a system allocation, the pool's ones included.
  Tensor v1 = Tensor::empty({n}, DType::f32, cuda0()), v2 = Tensor::empty({n}, DType::f32, cuda0()),
         v3 = Tensor::empty({n}, DType::f32, cuda0());
  std::set<void*> got{v1.raw_data(), v2.raw_data(), v3.raw_data()};
  CHECK(got.count(scratch) == 1);
  CHECK(got.count(kept_block) == 1);
  CHECK(a.stats().system_allocs == before.system_allocs + 3);
}

TEST_CASE("a block allocated before a capture and freed during it stays with the graph") {
  Allocator& a = cuda::caching_allocator(0);
  cuda::synchronize(0);
  a.empty_cache();
  const int64_t n = 1'500'007;  // f32, ~6 MB: a size class of its own in this test
  const size_t cls = pool_size_class(size_t(n) * 4);
  Tensor pre = Tensor::zeros({n}, DType::f32, cuda0());
  void* block = pre.raw_data();
  {
    cuda::CapturedGraph cg = cuda::capture(0, [&] {
      pre.zero_();    // the graph writes `block` at every replay...
      pre = Tensor(); // ...so freeing it here must not hand it to the next tensor
    });
    CHECK(cuda::graph_pool_bytes(0) == cls);
    Tensor u = Tensor::empty({n}, DType::f32, cuda0());
    CHECK(u.raw_data() != block);
    cg.launch();
    cuda::synchronize(0);
  }
  CHECK(cuda::graph_pool_bytes(0) == 0);
  size_t sys = a.stats().system_allocs;
  Tensor v1 = Tensor::empty({n}, DType::f32, cuda0()), v2 = Tensor::empty({n}, DType::f32, cuda0());
  CHECK((v1.raw_data() == block || v2.raw_data() == block));  // back in the general cache
  CHECK(a.stats().system_allocs == sys);
}

TEST_CASE("an upload from pinned memory returns before the busy stream reaches it") {
  // The stream is kept busy by large GEMMs (tens of milliseconds of queued work); an upload from page-locked memory
  // is only queued, so right after the call the stream still has work: the host is free to assemble the next batch.
  InferenceGuard no_grad;
  Generator g(37);
  Tensor a = random_cpu({4096, 4096}, g).to(cuda0());
  (void)matmul(a, a);  // first-call setup (handle, heuristics) out of the measurement
  const int64_t n = int64_t(16) << 20;  // 64 MiB of f32
  Tensor pinned = Tensor::empty_pinned({n}, DType::f32);
  std::memset(pinned.raw_data(), 0x3c, pinned.nbytes());
  Tensor dst = Tensor::zeros({n}, DType::f32, cuda0());
  cuda::synchronize(0);

  auto t0 = std::chrono::steady_clock::now();
  Tensor c = a;
  for (int i = 0; i < 10; ++i) c = matmul(a, c);  // 1.4 TFLOP in f32 queued: tens of ms on any GPU
  auto t1 = std::chrono::steady_clock::now();
  dst.copy_(pinned);
  auto t2 = std::chrono::steady_clock::now();
  bool busy = !cuda::stream_idle(0);
  cuda::synchronize(0);
  auto t3 = std::chrono::steady_clock::now();
  auto ms = [](auto d) { return std::chrono::duration<double, std::milli>(d).count(); };
  MESSAGE("enqueue GEMMs ", ms(t1 - t0), " ms, pinned upload call ", ms(t2 - t1), " ms, wait for the stream ",
          ms(t3 - t2), " ms");
  CHECK(busy);
  CHECK(ms(t2 - t1) < ms(t3 - t2));  // the call did not wait for the queued work
  Tensor back = dst.host();
  CHECK(std::memcmp(back.raw_data(), pinned.raw_data(), pinned.nbytes()) == 0);
}

}  // namespace test_cuda_graph
