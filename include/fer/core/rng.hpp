#pragma once
// A small, fast, serializable random generator (xoshiro256**, seeded through splitmix64). Its whole state is
// four words, so checkpoints can save it and a resumed run draws exactly the same numbers.
#include <array>
#include <cmath>
#include <cstdint>

namespace fer {

class Generator {
 public:
  using State = std::array<uint64_t, 4>;
  explicit Generator(uint64_t seed = 0x5eed) { manual_seed(seed); }

  void manual_seed(uint64_t seed) {
    uint64_t x = seed;
    for (auto& w : s_) w = splitmix64(x);
    has_spare_ = false;
  }
  State state() const { return s_; }
  void set_state(const State& s) {
    s_ = s;
    has_spare_ = false;
  }

  uint64_t next_u64() {
    uint64_t result = rotl(s_[1] * 5, 7) * 9;
    uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return double(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return n ? uint64_t(uniform() * double(n)) % n : 0; }
  // Standard normal (Box-Muller; pairs are not cached so that state() alone determines the stream).
  double normal() {
    double u1 = uniform(), u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  State s_{};
  bool has_spare_ = false;
};

// The process-wide default generator (parameter init, dropout, data order unless given their own).
inline Generator& default_generator() {
  static Generator g;
  return g;
}
inline void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace fer
