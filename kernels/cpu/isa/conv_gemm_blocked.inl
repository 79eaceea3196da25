// The implicit-GEMM convolution (conv_gemm_f32.hpp), written once for any vector type V; included after
// gemm_blocked.inl by each per-ISA translation unit, inside the same anonymous namespace (its pack_b, store_tile,
// k_block and smaller are used here).
//
// The product is the im2col one, C = y[p0:p1, :] (m pixels x o), A = the patch matrix (m x kh*kw*c), B = w^T,
// with the same cache blocking as gemm_blocked. B is packed as there. A is never formed: for each block of MC
// pixels a table gives, per tap, the address of each pixel's c input channels (null where the tap falls in the
// padding), and the micro-kernel walks a k block tap segment by tap segment, broadcasting from those rows. The
// segments only change which addresses are read: the accumulators stay in registers over the whole k block, so
// every element sums its products in order of k exactly as the im2col product with the same k blocks does.

// table[t * kConvTableRows + r] = the input channels of pixel p0 + r under tap t, or null (padding).
inline void fill_conv_table(const fer::cpu::isa::ConvInputF32& g, int64_t p0, int64_t rows, const float** table) {
  const int64_t hw = g.ho * g.wo;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t p = p0 + r, n = p / hw, oh = p % hw / g.wo, ow = p % g.wo;
    const int64_t ih0 = oh * g.stride_h - g.pad_top, iw0 = ow * g.stride_w - g.pad_left;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t ih = ih0 + i * g.dil_h;
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t iw = iw0 + j * g.dil_w;
        const bool inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
        table[(i * g.kw + j) * fer::cpu::isa::kConvTableRows + r] =
            inside ? g.x + ((n * g.h + ih) * g.w + iw) * g.c : nullptr;
      }
    }
  }
}

// C[0:R, 0:cols] (+)= patches of R pixels (their table column `rows`) over k block [pc, pc + kc) times a packed
// B sliver (kc rows of NV * V::lanes values, bs floats apart). `zeros` holds at least kc zeros (padding taps).
template <class V, int R, int NV>
void conv_micro_kernel(int64_t pc, int64_t kc, int64_t c, const float* const* rows, const float* zeros,
                       const float* bp, int64_t bs, float* cp, int64_t ldc, bool add, int64_t cols) {
  typename V::reg acc[R][NV];
#pragma GCC unroll 32
  for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  for (int64_t q = pc, end = pc + kc; q < end;) {
    const int64_t t = q / c, ch = q - t * c, len = smaller(c - ch, end - q);
    const float* a[R];
#pragma GCC unroll 32
    for (int i = 0; i < R; ++i) {
      const float* row = rows[t * fer::cpu::isa::kConvTableRows + i];
      a[i] = row ? row + ch : zeros;
    }
    for (int64_t p = 0; p < len; ++p, bp += bs) {
      typename V::reg bv[NV];
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) bv[j] = V::loadu(bp + j * V::lanes);
#pragma GCC unroll 32
      for (int i = 0; i < R; ++i) {
        const typename V::reg av = V::broadcast(a[i] + p);
#pragma GCC unroll 8
        for (int j = 0; j < NV; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
      }
    }
    q += len;
  }
  store_tile<V, R, NV>(acc, cp, ldc, add, cols);
}

// The R-row kernel for R = rows (the last, short panel of a block).
template <class V, int R, int NV>
void conv_edge_rows(int64_t rows, int64_t pc, int64_t kc, int64_t c, const float* const* table, const float* zeros,
                    const float* bp, int64_t bs, float* cp, int64_t ldc, bool add, int64_t cols) {
  if constexpr (R >= 1) {
    if (rows == R) return conv_micro_kernel<V, R, NV>(pc, kc, c, table, zeros, bp, bs, cp, ldc, add, cols);
    conv_edge_rows<V, R - 1, NV>(rows, pc, kc, c, table, zeros, bp, bs, cp, ldc, add, cols);
  }
}

// One tile of C (rows x cols <= MR x NR) from a packed sliver of NR = NV * V::lanes columns; a narrow edge sliver
// (cols <= one vector) runs the one-vector kernel on the sliver's first vector.
template <class V, int MR, int NV>
void conv_tile(int64_t rows, int64_t cols, int64_t pc, int64_t kc, int64_t c, const float* const* table,
               const float* zeros, const float* bp, float* cp, int64_t ldc, bool add) {
  constexpr int NR = NV * V::lanes;
  if (NV > 1 && cols <= V::lanes)
    return conv_edge_rows<V, MR, 1>(rows, pc, kc, c, table, zeros, bp, NR, cp, ldc, add, cols);
  conv_edge_rows<V, MR, NV>(rows, pc, kc, c, table, zeros, bp, NR, cp, ldc, add, cols);
}

template <class V, int MR, int NV, int64_t MC, int64_t KC, int64_t NC>
void conv_gemm_blocked(const fer::cpu::isa::ConvGemmF32& g, float* a_pack, float* b_pack) {
  using fer::cpu::isa::kMaxKc;
  constexpr int NR = NV * V::lanes;
  static_assert(MC <= fer::cpu::isa::kConvTableRows && MC % MR == 0 && NC % NR == 0, "blocks are whole tiles");
  const fer::cpu::isa::ConvInputF32& in = g.in;
  const int64_t k = in.kh * in.kw * in.c, m = g.p1 - g.p0;
  const int64_t k_step = g.kc > 0 && g.kc <= kMaxKc ? smaller(g.kc, k) : k_block(k, KC);
  float* zeros = a_pack;
  for (int64_t e = 0; e < kMaxKc; ++e) zeros[e] = 0.f;
  const float** table = reinterpret_cast<const float**>(a_pack + kMaxKc);
  for (int64_t jc = 0; jc < in.o; jc += NC) {
    const int64_t nc = smaller(NC, in.o - jc);
    for (int64_t pc = 0; pc < k; pc += k_step) {
      const int64_t kc = smaller(k_step, k - pc);
      const bool add = g.accumulate || pc > 0;  // later k blocks add to what the first wrote
      pack_b<NR>(true, g.wt + jc * k + pc, k, kc, nc, b_pack);
      for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = smaller(MC, m - ic);
        fill_conv_table(in, g.p0 + ic, mc, table);
        for (int64_t jr = 0; jr < nc; jr += NR)
          for (int64_t ir = 0; ir < mc; ir += MR)
            conv_tile<V, MR, NV>(smaller(MR, mc - ir), smaller(NR, nc - jr), pc, kc, in.c, table + ir, zeros,
                                 b_pack + jr * kc, g.y + (g.p0 + ic + ir) * in.o + jc + jr, in.o, add);
      }
    }
  }
}

// Packs patch columns [q0, q0 + nc) of pixels [p0, p0 + kc) into panels of NR columns, k-major (pack_b's layout:
// panel[p * NR + j]), zero past nc; `tap_rows` (kh * kw entries) is scratch for one pixel's table. A panel inside
// one tap (c a multiple of NR: every ResNet layer) is NV vector copies; others go value by value.
template <class V, int NV>
void pack_patches(const fer::cpu::isa::ConvInputF32& g, int64_t p0, int64_t kc, int64_t q0, int64_t nc,
                  const float** tap_rows, float* out) {
  constexpr int NR = NV * V::lanes;
  const int64_t hw = g.ho * g.wo, panels = (nc + NR - 1) / NR;
  for (int64_t p = 0; p < kc; ++p) {
    const int64_t px = p0 + p, n = px / hw, oh = px % hw / g.wo, ow = px % g.wo;
    const int64_t ih0 = oh * g.stride_h - g.pad_top, iw0 = ow * g.stride_w - g.pad_left;
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t ih = ih0 + i * g.dil_h, iw = iw0 + j * g.dil_w;
        const bool inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
        tap_rows[i * g.kw + j] = inside ? g.x + ((n * g.h + ih) * g.w + iw) * g.c : nullptr;
      }
    int64_t t = q0 / g.c, ch = q0 - t * g.c;  // the tap and channel of the panel's first column
    for (int64_t b = 0; b < panels; ++b) {
      float* dst = out + b * NR * kc + p * NR;
      const int64_t cols = smaller(NR, nc - b * NR);
      if (cols == NR && ch + NR <= g.c) {
        const float* src = tap_rows[t];
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) V::storeu(dst + v * V::lanes, src ? V::loadu(src + ch + v * V::lanes) : V::zero());
      } else {
        for (int64_t j = 0, tj = t, cj = ch; j < cols;) {  // one run per tap segment the panel crosses
          const int64_t len = smaller(g.c - cj, cols - j);
          const float* src = tap_rows[tj];
          for (int64_t e = 0; e < len; ++e) dst[j + e] = src ? src[cj + e] : 0.f;
          j += len, cj = 0, ++tj;
        }
        for (int64_t j = cols; j < NR; ++j) dst[j] = 0.f;
      }
      for (ch += NR; ch >= g.c && b + 1 < panels; ch -= g.c) ++t;
    }
  }
}

// gw += gy^T . patches with gemm_blocked's loops (op(A) = gy^T packed by pack_a, op(B) = the patches gathered by
// pack_patches) and its micro-kernels on packed panels.
template <class V, int MR, int NV, int64_t MC, int64_t KC, int64_t NC>
void conv_wgrad_blocked(const fer::cpu::isa::ConvWgradF32& g, float* a_pack, float* b_pack) {
  using fer::cpu::isa::kMaxKc;
  constexpr int NR = NV * V::lanes;
  static_assert(MC % MR == 0 && NC % NR == 0, "blocks are whole tiles");
  const fer::cpu::isa::ConvInputF32& in = g.in;
  const int64_t n = in.kh * in.kw * in.c, pixels = g.p1 - g.p0;
  const int64_t k_step = g.kc > 0 && g.kc <= kMaxKc ? smaller(g.kc, pixels) : k_block(pixels, KC);
  const float* tap_rows[fer::cpu::isa::kMaxImplicitTaps];
  for (int64_t jc = 0; jc < n; jc += NC) {
    const int64_t nc = smaller(NC, n - jc);
    for (int64_t pc = 0; pc < pixels; pc += k_step) {
      const int64_t kc = smaller(k_step, pixels - pc);
      pack_patches<V, NV>(in, g.p0 + pc, kc, jc, nc, tap_rows, b_pack);
      for (int64_t ic = 0; ic < g.m; ic += MC) {
        const int64_t mc = smaller(MC, g.m - ic);
        pack_a<MR>(true, g.gy + (g.p0 + pc) * g.ld_gy + ic, g.ld_gy, mc, kc, a_pack);
        for (int64_t jr = 0; jr < nc; jr += NR)
          for (int64_t ir = 0; ir < mc; ir += MR)
            tile<V, MR, NV, true>(smaller(MR, mc - ir), smaller(NR, nc - jr), kc, a_pack + ir * kc, 1, MR,
                                  b_pack + jr * kc, NR, g.gw + (ic + ir) * n + jc + jr, n, true);
      }
    }
  }
}
