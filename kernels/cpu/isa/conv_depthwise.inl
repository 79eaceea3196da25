// The depthwise convolution kernels, written once over a vector width and included inside an anonymous namespace by
// each file that compiles them for one instruction set (conv_depthwise_avx2.cpp, conv_depthwise_avx512.cpp, and
// kernels/cpu/conv_depthwise.cpp for f64 and the generic path). Needs <cstdint> and
// kernels/cpu/isa/conv_depthwise_f32.hpp; uses nothing from the standard library, so that no inline function
// compiled here for a wider ISA can be picked by the linker for other callers.
//
// Vectors are GCC vector extensions of W elements (one register at W * sizeof(T) = 32 or 64 bytes), so one source
// serves f32 and f64 and every width; products and sums contract to FMA under -ffp-contract=fast (GCC's default).
//
// Forward and input gradient are one gather: each destination pixel sums, over the taps that reach it, a source
// pixel times a weight row. For the forward the sources are input pixels; for the input gradient they are the
// output-gradient pixels whose patch covers the input pixel (with stride s only the taps of one parity class, the
// same for every s-th input column, so each such column class is a run of destination pixels that share one tap
// list). kPixels destination pixels x up to 2 vectors of channels are summed in registers over all taps, each tap's
// weight vector loaded once for the group; pixels with a tap outside the source (padding) skip it.
//
// The weight gradient sums gy * x over all output pixels for each tap: register accumulators for a block of
// R kernel rows x KW kernel columns (as many as the register file holds beside the gy vector), walked over a chunk of
// output rows small enough to stay in L2 while every channel block and tap block passes over it.

using fer::cpu::isa::DepthwiseShape;
using fer::cpu::isa::kDepthwiseMaxK;

template <class T, int W>
struct Lanes {
  typedef T v __attribute__((vector_size(W * sizeof(T))));
  typedef T u __attribute__((vector_size(W * sizeof(T)), aligned(alignof(T)), may_alias));
  static v load(const T* p) { return *reinterpret_cast<const u*>(p); }
  static void store(T* p, v a) { *reinterpret_cast<u*>(p) = a; }
};

constexpr int kPixels = 4;  // destination pixels per gather group: 4 x 2 vectors = 8 accumulators
constexpr int64_t kChunkBytes = 512 * 1024;  // weight gradient: gy + x rows of one chunk, well inside L2

template <class T>
struct GatherTaps {
  int64_t ni = 0, nj = 0;
  const T* src[kDepthwiseMaxK];   // per valid kernel row: the source row (pixel 0, channel 0)
  const T* wrow[kDepthwiseMaxK];  // per valid kernel row: its weights, [kw, c]
  int64_t wj[kDepthwiseMaxK];     // per tap column: offset of its weights in a weight row
};

// out[p][o0 + ...] (+)= sum over taps of src pixel * weight, for P pixels and NV vectors of W channels from o0.
// coloff[p * kDepthwiseMaxK + jj]: the source pixel's offset in the source row for tap column jj, < 0 outside it.
template <class T, int W, int NV, int P, bool Full>
inline __attribute__((always_inline)) void gather_block(const GatherTaps<T>& t, const int64_t* coloff, T* const* out,
                                                        const T* bias, bool accumulate, int64_t o0) {
  using L = Lanes<T, W>;
  using V = typename L::v;
  alignas(64) const T zeros[NV * W] = {};
  V acc[P][NV];
  for (int p = 0; p < P; ++p)
    for (int v = 0; v < NV; ++v)
      acc[p][v] = accumulate ? L::load(out[p] + o0 + v * W) : bias ? L::load(bias + o0 + v * W) : V{};
  for (int64_t ii = 0; ii < t.ni; ++ii) {
    const T* s = t.src[ii] + o0;
    const T* wr = t.wrow[ii] + o0;
    for (int64_t jj = 0; jj < t.nj; ++jj) {
      V wv[NV];
      for (int v = 0; v < NV; ++v) wv[v] = L::load(wr + t.wj[jj] + v * W);
      for (int p = 0; p < P; ++p) {
        const int64_t off = coloff[p * kDepthwiseMaxK + jj];
        // A tap outside the source reads a zero vector (a select, no branch).
        const T* sp = Full || off >= 0 ? s + off : zeros;
        for (int v = 0; v < NV; ++v) acc[p][v] += L::load(sp + v * W) * wv[v];
      }
    }
  }
  for (int p = 0; p < P; ++p)
    for (int v = 0; v < NV; ++v) L::store(out[p] + o0 + v * W, acc[p][v]);
}

// One gather group over all c channels: blocks of 2 vectors, then 1, then a half vector, then single channels.
template <class T, int W, int P, bool Full>
void gather_channels(const GatherTaps<T>& t, const int64_t* coloff, T* const* out, const T* bias, bool accumulate,
                     int64_t c) {
  int64_t o0 = 0;
  for (; o0 + 2 * W <= c; o0 += 2 * W) gather_block<T, W, 2, P, Full>(t, coloff, out, bias, accumulate, o0);
  if (o0 + W <= c) gather_block<T, W, 1, P, Full>(t, coloff, out, bias, accumulate, o0), o0 += W;
  if constexpr (W >= 4)
    if (o0 + W / 2 <= c) gather_block<T, W / 2, 1, P, Full>(t, coloff, out, bias, accumulate, o0), o0 += W / 2;
  for (; o0 < c; ++o0) gather_block<T, 1, 1, P, Full>(t, coloff, out, bias, accumulate, o0);
}

template <class T, int W, int P>
void gather_group_p(bool full, const GatherTaps<T>& t, const int64_t* coloff, T* const* out, const T* bias,
                    bool accumulate, int64_t c) {
  if (full) gather_channels<T, W, P, true>(t, coloff, out, bias, accumulate, c);
  else gather_channels<T, W, P, false>(t, coloff, out, bias, accumulate, c);
}

template <class T, int W>
void gather_group(int64_t np, bool full, const GatherTaps<T>& t, const int64_t* coloff, T* const* out,
                  const T* bias, bool accumulate, int64_t c) {
  static_assert(kPixels == 4);
  switch (np) {
    case 4: gather_group_p<T, W, 4>(full, t, coloff, out, bias, accumulate, c); break;
    case 3: gather_group_p<T, W, 3>(full, t, coloff, out, bias, accumulate, c); break;
    case 2: gather_group_p<T, W, 2>(full, t, coloff, out, bias, accumulate, c); break;
    default: gather_group_p<T, W, 1>(full, t, coloff, out, bias, accumulate, c); break;
  }
}

template <class T, int W>
void depthwise_forward_rows(const DepthwiseShape& g, const T* x, const T* wt, const T* bias, T* y, bool accumulate,
                            int64_t r0, int64_t r1) {
  const int64_t c = g.c;
  GatherTaps<T> t;
  t.nj = g.kw;
  for (int64_t j = 0; j < g.kw; ++j) t.wj[j] = j * c;
  int64_t coloff[kPixels * kDepthwiseMaxK];
  T* out[kPixels];
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / g.ho, oh = r % g.ho, ih0 = oh * g.stride_h - g.pad_top;
    t.ni = 0;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t ih = ih0 + i * g.dil_h;
      if (ih < 0 || ih >= g.h) continue;
      t.src[t.ni] = x + (n * g.h + ih) * g.w * c;
      t.wrow[t.ni++] = wt + i * g.kw * c;
    }
    for (int64_t ow0 = 0; ow0 < g.wo; ow0 += kPixels) {
      const int64_t np = g.wo - ow0 < kPixels ? g.wo - ow0 : kPixels;
      bool full = true;
      for (int64_t p = 0; p < np; ++p) {
        out[p] = y + (r * g.wo + ow0 + p) * c;
        const int64_t iw0 = (ow0 + p) * g.stride_w - g.pad_left;
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t iw = iw0 + j * g.dil_w;
          const bool in = iw >= 0 && iw < g.w;
          coloff[p * kDepthwiseMaxK + j] = in ? iw * c : -1;
          full = full && in;
        }
      }
      gather_group<T, W>(np, full, t, coloff, out, bias, accumulate, c);
    }
  }
}

inline int64_t floor_mod(int64_t a, int64_t m) { return ((a % m) + m) % m; }

template <class T, int W>
void depthwise_backward_input_rows(const DepthwiseShape& g, const T* gy, const T* wt, T* gx, bool accumulate,
                                   int64_t r0, int64_t r1) {
  const int64_t c = g.c, sw = g.stride_w;
  GatherTaps<T> t;
  int64_t tap_col[kDepthwiseMaxK];
  int64_t coloff[kPixels * kDepthwiseMaxK];
  T* out[kPixels];
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / g.h, ih = r % g.h;
    // Kernel rows i through which output row oh = (ih + pad - i * dil) / stride reads this input row.
    t.ni = 0;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t num = ih + g.pad_top - i * g.dil_h;
      if (num < 0 || num % g.stride_h != 0 || num / g.stride_h >= g.ho) continue;
      t.src[t.ni] = gy + (n * g.ho + num / g.stride_h) * g.wo * c;
      t.wrow[t.ni++] = wt + i * g.kw * c;
    }
    // Input columns phase, phase + sw, ...: the same tap columns j, whose output column (iw + pad - j * dil) / sw
    // is whole, advancing by one output column per destination pixel.
    for (int64_t phase = 0; phase < sw && phase < g.w; ++phase) {
      t.nj = 0;
      for (int64_t j = 0; j < g.kw; ++j) {
        if (floor_mod(phase + g.pad_left - j * g.dil_w, sw) != 0) continue;
        tap_col[t.nj] = j;
        t.wj[t.nj++] = j * c;
      }
      const int64_t count = (g.w - phase + sw - 1) / sw;
      for (int64_t q0 = 0; q0 < count; q0 += kPixels) {
        const int64_t np = count - q0 < kPixels ? count - q0 : kPixels;
        bool full = true;
        for (int64_t p = 0; p < np; ++p) {
          const int64_t iw = phase + (q0 + p) * sw;
          out[p] = gx + ((n * g.h + ih) * g.w + iw) * c;
          for (int64_t jj = 0; jj < t.nj; ++jj) {
            const int64_t num = iw + g.pad_left - tap_col[jj] * g.dil_w;
            const bool in = num >= 0 && num / sw < g.wo;
            coloff[p * kDepthwiseMaxK + jj] = in ? (num / sw) * c : -1;
            full = full && in;
          }
        }
        gather_group<T, W>(np, full, t, coloff, out, nullptr, accumulate, c);
      }
    }
  }
}

// part[(i0 + a, j0 + b), o0 ...] (=, or += when !first) the sum over output rows [r0, r1) of gy * x for kernel rows
// i0 .. i0 + R - 1 and columns j0 .. j0 + KW - 1, W channels from o0.
template <class T, int W, int KW, int R>
void weight_grad_tile(const DepthwiseShape& g, const T* gy, const T* x, int64_t r0, int64_t r1, int64_t o0,
                      int64_t i0, int64_t j0, T* part, bool first) {
  using L = Lanes<T, W>;
  using V = typename L::v;
  const int64_t c = g.c, cs = g.dil_w * c, rs = g.dil_h * g.w * c, sw = g.stride_w;
  V acc[R][KW];
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < KW; ++b) acc[a][b] = V{};
  alignas(64) const T zeros[W] = {};
  // Output columns whose KW taps all fall inside the input row.
  const int64_t col0 = j0 * g.dil_w - g.pad_left, col_last = col0 + (KW - 1) * g.dil_w;
  int64_t lo = 0, hi = g.wo;
  while (lo < g.wo && lo * sw + col0 < 0) ++lo;
  while (hi > lo && (hi - 1) * sw + col_last >= g.w) --hi;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / g.ho, oh = r % g.ho, ih0 = oh * g.stride_h - g.pad_top + i0 * g.dil_h;
    bool row_in[R];
    bool all_rows = true, any_row = false;
    for (int a = 0; a < R; ++a) {
      const int64_t ih = ih0 + a * g.dil_h;
      row_in[a] = ih >= 0 && ih < g.h;
      all_rows = all_rows && row_in[a];
      any_row = any_row || row_in[a];
    }
    if (!any_row) continue;
    const T* gyr = gy + r * g.wo * c + o0;
    // Offset of x at (n, ih0, ow * sw + col0, o0) is xrow + ow * sw * c (only formed into a pointer where valid).
    const int64_t xrow = (n * g.h + ih0) * g.w * c + col0 * c + o0;
    // A border pixel reads its taps outside the input from a zero vector instead (a select, no branch).
    auto pixel = [&]<bool Check>(int64_t ow) {
      const V gv = L::load(gyr + ow * c);
      const int64_t base = xrow + ow * sw * c, iw0 = ow * sw + col0;
      for (int a = 0; a < R; ++a) {
        if (Check && !row_in[a]) continue;  // the same for the whole output row: predictable
        for (int b = 0; b < KW; ++b) {
          const T* p = x + (base + a * rs + b * cs);
          if constexpr (Check) {
            const int64_t iw = iw0 + b * g.dil_w;
            p = iw >= 0 && iw < g.w ? p : zeros;
          }
          acc[a][b] += gv * L::load(p);
        }
      }
    };
    int64_t ow = 0;
    if (all_rows) {
      for (; ow < lo; ++ow) pixel.template operator()<true>(ow);
      for (; ow < hi; ++ow) pixel.template operator()<false>(ow);
    }
    for (; ow < g.wo; ++ow) pixel.template operator()<true>(ow);
  }
  for (int a = 0; a < R; ++a)
    for (int b = 0; b < KW; ++b) {
      T* p = part + ((i0 + a) * g.kw + j0 + b) * c + o0;
      L::store(p, first ? acc[a][b] : L::load(p) + acc[a][b]);
    }
}

// All kernel rows for columns [j0, j0 + KW), in blocks of as many rows as Acc accumulators allow (at most 7).
template <class T, int W, int KW, int Acc>
void weight_grad_columns(const DepthwiseShape& g, const T* gy, const T* x, int64_t r0, int64_t r1, int64_t o0,
                         int64_t j0, T* part, bool first) {
  constexpr int kRows = Acc / KW < 1 ? 1 : Acc / KW > 7 ? 7 : Acc / KW;
  for (int64_t i0 = 0; i0 < g.kh;) {
    const int64_t rows = g.kh - i0 < kRows ? g.kh - i0 : kRows;
    auto tile = [&]<int R>() {
      if constexpr (R <= kRows) weight_grad_tile<T, W, KW, R>(g, gy, x, r0, r1, o0, i0, j0, part, first);
    };
    switch (rows) {
      case 7: tile.template operator()<7>(); break;
      case 6: tile.template operator()<6>(); break;
      case 5: tile.template operator()<5>(); break;
      case 4: tile.template operator()<4>(); break;
      case 3: tile.template operator()<3>(); break;
      case 2: tile.template operator()<2>(); break;
      default: tile.template operator()<1>(); break;
    }
    i0 += rows;
  }
}

// Every tap for W channels from o0: whole kernel rows where kw is 3, 5 or 7, else one column at a time.
template <class T, int W, int Acc>
void weight_grad_taps(const DepthwiseShape& g, const T* gy, const T* x, int64_t r0, int64_t r1, int64_t o0, T* part,
                      bool first) {
  if (g.kw == 3) return weight_grad_columns<T, W, 3, Acc>(g, gy, x, r0, r1, o0, 0, part, first);
  if (g.kw == 5) return weight_grad_columns<T, W, 5, Acc>(g, gy, x, r0, r1, o0, 0, part, first);
  if (g.kw == 7) return weight_grad_columns<T, W, 7, Acc>(g, gy, x, r0, r1, o0, 0, part, first);
  for (int64_t j0 = 0; j0 < g.kw; ++j0) weight_grad_columns<T, W, 1, Acc>(g, gy, x, r0, r1, o0, j0, part, first);
}

// The same sums one tap at a time, over exactly the output pixels whose tap lies inside the input (no selects):
// for small images, where most pixels are border pixels. NV vectors of channels x 2 alternating pixels of
// accumulators keep 2 NV FMA chains in flight.
template <class T, int W, int NV>
void weight_grad_one_tap(const DepthwiseShape& g, const T* gy, const T* x, int64_t r0, int64_t r1, int64_t o0,
                         int64_t i, int64_t j, T* part, bool first) {
  using L = Lanes<T, W>;
  using V = typename L::v;
  const int64_t c = g.c, sw = g.stride_w, col = j * g.dil_w - g.pad_left;
  int64_t lo = 0, hi = g.wo;
  while (lo < g.wo && lo * sw + col < 0) ++lo;
  while (hi > lo && (hi - 1) * sw + col >= g.w) --hi;
  V acc[2][NV];
  for (int q = 0; q < 2; ++q)
    for (int v = 0; v < NV; ++v) acc[q][v] = V{};
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = r / g.ho, ih = (r % g.ho) * g.stride_h - g.pad_top + i * g.dil_h;
    if (ih < 0 || ih >= g.h) continue;
    const T* gyr = gy + r * g.wo * c + o0;
    const int64_t xrow = ((n * g.h + ih) * g.w + col) * c + o0;  // x at output column 0's tap (maybe outside)
    int64_t ow = lo;
    for (; ow + 1 < hi; ow += 2)
      for (int q = 0; q < 2; ++q)
        for (int v = 0; v < NV; ++v)
          acc[q][v] += L::load(gyr + (ow + q) * c + v * W) * L::load(x + (xrow + (ow + q) * sw * c + v * W));
    if (ow < hi)
      for (int v = 0; v < NV; ++v) acc[0][v] += L::load(gyr + ow * c + v * W) * L::load(x + (xrow + ow * sw * c + v * W));
  }
  for (int v = 0; v < NV; ++v) {
    T* p = part + (i * g.kw + j) * c + o0 + v * W;
    L::store(p, first ? acc[0][v] + acc[1][v] : L::load(p) + (acc[0][v] + acc[1][v]));
  }
}

template <class T, int W, int NV>
void weight_grad_each_tap(const DepthwiseShape& g, const T* gy, const T* x, int64_t r0, int64_t r1, int64_t o0,
                          T* part, bool first) {
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < g.kw; ++j) weight_grad_one_tap<T, W, NV>(g, gy, x, r0, r1, o0, i, j, part, first);
}

// Whether enough output pixels have every tap inside the input for the register-blocked tiles to pay (60% of the
// rows and of the columns); otherwise one tap at a time.
inline bool weight_grad_tiles_pay(const DepthwiseShape& g) {
  int64_t cols = 0, rows = 0;
  for (int64_t ow = 0; ow < g.wo; ++ow) {
    const int64_t iw = ow * g.stride_w - g.pad_left;
    cols += iw >= 0 && iw + (g.kw - 1) * g.dil_w < g.w;
  }
  for (int64_t oh = 0; oh < g.ho; ++oh) {
    const int64_t ih = oh * g.stride_h - g.pad_top;
    rows += ih >= 0 && ih + (g.kh - 1) * g.dil_h < g.h;
  }
  return 10 * cols >= 6 * g.wo && 10 * rows >= 6 * g.ho;
}

// Acc: how many vector accumulators the register file holds beside the operands (AVX2 16 registers, AVX-512 32).
template <class T, int W, int Acc>
void depthwise_backward_weight_rows(const DepthwiseShape& g, const T* gy, const T* x, T* part, int64_t r0,
                                    int64_t r1) {
  const int64_t c = g.c;
  const int64_t row_bytes = (g.wo * c + g.stride_h * g.w * c) * int64_t(sizeof(T));
  const int64_t chunk = kChunkBytes / row_bytes > 1 ? kChunkBytes / row_bytes : 1;
  const bool tiles = weight_grad_tiles_pay(g);
  for (int64_t c0 = r0; c0 < r1 || c0 == r0; c0 += chunk) {
    const int64_t c1 = r1 - c0 < chunk ? r1 : c0 + chunk;
    const bool first = c0 == r0;
    int64_t o0 = 0;
    if (!tiles) {
      for (; o0 + 4 * W <= c; o0 += 4 * W) weight_grad_each_tap<T, W, 4>(g, gy, x, c0, c1, o0, part, first);
      for (; o0 + W <= c; o0 += W) weight_grad_each_tap<T, W, 1>(g, gy, x, c0, c1, o0, part, first);
    }
    for (; o0 + W <= c; o0 += W) weight_grad_taps<T, W, Acc>(g, gy, x, c0, c1, o0, part, first);
    if constexpr (W >= 4)
      if (o0 + W / 2 <= c) weight_grad_taps<T, W / 2, Acc>(g, gy, x, c0, c1, o0, part, first), o0 += W / 2;
    for (; o0 < c; ++o0)
      for (int64_t j0 = 0; j0 < g.kw; ++j0)
        for (int64_t i0 = 0; i0 < g.kh; ++i0)
          weight_grad_tile<T, 1, 1, 1>(g, gy, x, c0, c1, o0, i0, j0, part, first);
    if (c1 >= r1) break;
  }
}
