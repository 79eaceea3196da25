#pragma once
// NumPy's legacy RandomState(seed).randn(): MT19937 seeded with init_genrand(seed), 53-bit doubles from two 32-bit
// draws, and the polar Box-Muller method that returns the second value first and caches the first. NVIDIA's
// generate.py draws z = RandomState(seed).randn(1, z_dim), so the same seed gives the same face here.
#include <array>
#include <cmath>
#include <cstdint>

namespace fer {

class NumpyRandomState {
 public:
  explicit NumpyRandomState(uint32_t seed) {
    mt_[0] = seed;
    for (int i = 1; i < 624; ++i) mt_[i] = 1812433253u * (mt_[i - 1] ^ (mt_[i - 1] >> 30)) + uint32_t(i);
    index_ = 624;
  }

  uint32_t next_u32() {
    if (index_ >= 624) twist();
    uint32_t y = mt_[size_t(index_++)];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    return y ^ (y >> 18);
  }
  double next_double() {
    uint32_t a = next_u32() >> 5, b = next_u32() >> 6;
    return (double(a) * 67108864.0 + double(b)) / 9007199254740992.0;
  }
  double randn() {
    if (has_gauss_) {
      has_gauss_ = false;
      return gauss_;
    }
    double x1, x2, r2;
    do {
      x1 = 2.0 * next_double() - 1.0;
      x2 = 2.0 * next_double() - 1.0;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1.0 || r2 == 0.0);
    double f = std::sqrt(-2.0 * std::log(r2) / r2);
    gauss_ = f * x1;
    has_gauss_ = true;
    return f * x2;
  }

 private:
  void twist() {
    for (int i = 0; i < 624; ++i) {
      uint32_t y = (mt_[size_t(i)] & 0x80000000u) | (mt_[size_t((i + 1) % 624)] & 0x7fffffffu);
      mt_[size_t(i)] = mt_[size_t((i + 397) % 624)] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    index_ = 0;
  }
  std::array<uint32_t, 624> mt_{};
  int index_ = 624;
  bool has_gauss_ = false;
  double gauss_ = 0;
};

}  // namespace fer
