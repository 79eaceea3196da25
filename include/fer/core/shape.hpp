#pragma once
// Shapes and strides: a small inline array (no heap allocation per tensor).
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "fer/core/error.hpp"

namespace fer {

inline constexpr int kMaxDims = 8;

struct Shape {
  std::array<int64_t, kMaxDims> d{};
  int nd = 0;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims) {
    FER_CHECK(dims.size() <= kMaxDims, "shape has ", dims.size(), " dims (max ", kMaxDims, ")");
    for (int64_t v : dims) d[nd++] = v;
  }
  explicit Shape(const std::vector<int64_t>& dims) {
    FER_CHECK(dims.size() <= kMaxDims, "shape has ", dims.size(), " dims (max ", kMaxDims, ")");
    for (int64_t v : dims) d[nd++] = v;
  }
  int size() const { return nd; }
  int64_t operator[](int i) const { return d[i]; }
  int64_t& operator[](int i) { return d[i]; }
  int64_t back() const { return d[nd - 1]; }
  void push_back(int64_t v) {
    FER_CHECK(nd < kMaxDims, "shape has too many dims");
    d[nd++] = v;
  }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < nd; ++i) n *= d[i];
    return n;
  }
  std::vector<int64_t> vec() const { return {d.begin(), d.begin() + nd}; }
  const int64_t* begin() const { return d.data(); }
  const int64_t* end() const { return d.data() + nd; }
  friend bool operator==(const Shape& a, const Shape& b) {
    if (a.nd != b.nd) return false;
    for (int i = 0; i < a.nd; ++i)
      if (a.d[i] != b.d[i]) return false;
    return true;
  }
  std::string str() const;  // "[2, 3]"
};

inline Shape contiguous_strides(const Shape& s) {
  Shape st;
  st.nd = s.nd;
  int64_t acc = 1;
  for (int i = s.nd - 1; i >= 0; --i) {
    st.d[i] = acc;
    acc *= s.d[i];
  }
  return st;
}

}  // namespace fer
