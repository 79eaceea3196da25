// The CUDA runtime layer: round trips between host and device, the caching allocator's reuse, pinned host memory,
// zero fill, and a clear error for a device that does not exist.
#include <cstring>

#include "cuda/cuda_parity.hpp"

#include "fer/kernels/runtime.hpp"

// Each file of the unity-built fer_cuda_tests keeps its helpers to itself.
namespace test_cuda_runtime {

using namespace fer;
using namespace fer::cuda_test;

TEST_CASE("host -> device -> host round trip keeps every byte, for every dtype") {
  Generator g(1);
  for (DType dt : {DType::f32, DType::f64, DType::f16, DType::bf16}) {
    Tensor h = random_cpu({3, 17, 5}, g, -4, 4, dt);
    Tensor back = h.to(cuda0()).host();
    REQUIRE(back.device().is_cpu());
    CHECK(std::memcmp(back.raw_data(), h.raw_data(), h.nbytes()) == 0);
  }
  Tensor ints = Tensor::empty({1000}, DType::i64);
  for (int64_t i = 0; i < 1000; ++i) ints.set_flat(i, double(i * 7 - 3000));
  CHECK(std::memcmp(ints.to(cuda0()).host().raw_data(), ints.raw_data(), ints.nbytes()) == 0);
}

TEST_CASE("device-to-device clone and zero fill") {
  Generator g(2);
  Tensor h = random_cpu({257}, g);
  Tensor d = h.to(cuda0());
  Tensor c = d.clone();
  CHECK(c.device() == cuda0());
  CHECK(rel_l2(c, h) == 0.0);
  c.zero_();
  CHECK(rel_l2(c, Tensor::zeros({257})) == 0.0);
  CHECK(rel_l2(d, h) == 0.0);  // the clone owned its storage
}

TEST_CASE("the caching allocator reuses a freed block of the same size class") {
  Allocator& a = cuda::caching_allocator(0);
  { Tensor t = Tensor::empty({1 << 20}, DType::f32, cuda0()); }
  size_t before = a.stats().system_allocs;
  for (int i = 0; i < 10; ++i) Tensor t = Tensor::empty({1 << 20}, DType::f32, cuda0());
  CHECK(a.stats().system_allocs == before);
}

TEST_CASE("pinned host memory is cached and usable as a copy source") {
  Allocator& p = cuda::pinned_host_allocator();
  size_t granted = 0;
  void* block = p.allocate(4096, &granted);
  CHECK(granted >= 4096);
  std::memset(block, 0x5a, 4096);
  Tensor d = Tensor::empty({4096}, DType::u8, cuda0());
  cuda::copy(d.raw_data(), block, 4096, cuda::CopyKind::host_to_device, 0);
  cuda::synchronize(0);
  p.deallocate(block, granted);
  Tensor h = d.host();
  for (int64_t i = 0; i < 4096; i += 511) CHECK(h.data<uint8_t>()[i] == 0x5a);
}

TEST_CASE("a device that does not exist is a clear error") {
  CHECK_THROWS_WITH_AS(Tensor::empty({4}, DType::f32, Device::cuda(cuda::device_count() + 3)),
                       doctest::Contains("CUDA device"), fer::Error);
}

}  // namespace test_cuda_runtime
