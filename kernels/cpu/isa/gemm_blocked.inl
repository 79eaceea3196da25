// The blocked f32 GEMM, written once for any vector type V and included by each per-ISA translation unit
// (gemm_avx2.cpp, gemm_avx512.cpp) inside an anonymous namespace, so every ISA gets its own copy with internal
// linkage (no inline function compiled for AVX-512 can be picked by the linker for other code).
//
// V provides: reg, lanes, zero(), loadu(p), storeu(p, r), broadcast(p), fma(a, b, acc) = a*b+acc, add(a, b).
// Loop order as in BLIS/GotoBLAS: B block (kc x nc) packed once per (jc, pc), A block (mc x kc) per ic, then the
// register tile walks the A block (ir) for each kc x nr sliver of B (jr), which stays in L1.
// Packed panels are zero-padded to whole tiles, so the micro-kernel always runs the full tile; edge tiles are
// written back through a small buffer. Within one element, products are summed in order of k.

inline int64_t smaller(int64_t x, int64_t y) { return x < y ? x : y; }

// Packs rows [0, mc) x columns [0, kc) of op(A) (origin `a`) into panels of MR rows, k-major: panel[p * MR + i].
template <int MR>
void pack_a(bool trans, const float* a, int64_t lda, int64_t mc, int64_t kc, float* out) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR, out += MR * kc) {
    const int64_t rows = smaller(MR, mc - i0);
    if (trans && rows == MR) {  // op(A)[i][p] = a[p * lda + i]: MR contiguous values per p (a fixed-size copy)
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + p * lda + i0;
#pragma GCC unroll 32
        for (int i = 0; i < MR; ++i) out[p * MR + i] = src[i];
      }
    } else if (trans) {
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = a + p * lda + i0;
        for (int64_t i = 0; i < rows; ++i) out[p * MR + i] = src[i];
        for (int64_t i = rows; i < MR; ++i) out[p * MR + i] = 0.f;
      }
    } else {  // op(A)[i][p] = a[i * lda + p]: read each row once
      for (int64_t i = 0; i < rows; ++i) {
        const float* src = a + (i0 + i) * lda;
        for (int64_t p = 0; p < kc; ++p) out[p * MR + i] = src[p];
      }
      for (int64_t i = rows; i < MR; ++i)
        for (int64_t p = 0; p < kc; ++p) out[p * MR + i] = 0.f;
    }
  }
}

// dst[t * ldd + r] = src[r * lds + t] for r, t < 8 (AVX; both ISAs have it).
inline void transpose_8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], u[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    u[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);      // a0 b0 a1 b1 | a4 b4 a5 b5
    u[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);  // a2 b2 a3 b3 | a6 b6 a7 b7
  }
  for (int i = 0; i < 8; i += 4)
    for (int h = 0; h < 2; ++h) {
      r[i + 2 * h] = _mm256_shuffle_ps(u[i + h], u[i + 2 + h], 0x44);      // a b c d at t = 0|4 (h: 2|6)
      r[i + 2 * h + 1] = _mm256_shuffle_ps(u[i + h], u[i + 2 + h], 0xEE);  // at t = 1|5 (h: 3|7)
    }
  // r[0..3]: rows 0-3 at t = {0,1,2,3} | {4,5,6,7} in the two halves; r[4..7] the same for rows 4-7.
  for (int t = 0; t < 4; ++t) {
    _mm256_storeu_ps(dst + t * ldd, _mm256_permute2f128_ps(r[t], r[4 + t], 0x20));
    _mm256_storeu_ps(dst + (t + 4) * ldd, _mm256_permute2f128_ps(r[t], r[4 + t], 0x31));
  }
}

// Packs rows [0, kc) x columns [0, nc) of op(B) (origin `b`) into panels of NR columns, k-major: panel[p * NR + j].
template <int NR>
void pack_b(bool trans, const float* b, int64_t ldb, int64_t kc, int64_t nc, float* out) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR, out += NR * kc) {
    const int64_t cols = smaller(NR, nc - j0);
    if (trans && cols == NR) {  // op(B)[p][j] = b[j * ldb + p]: 8x8 transposes of the stored rows
      int64_t p = 0;
      for (; p + 8 <= kc; p += 8)
        for (int64_t j = 0; j < NR; j += 8) transpose_8x8(b + (j0 + j) * ldb + p, ldb, out + p * NR + j, NR);
      for (; p < kc; ++p)
        for (int64_t j = 0; j < NR; ++j) out[p * NR + j] = b[(j0 + j) * ldb + p];
    } else if (trans) {  // edge panel: read each row of the stored B once
      for (int64_t j = 0; j < cols; ++j) {
        const float* src = b + (j0 + j) * ldb;
        for (int64_t p = 0; p < kc; ++p) out[p * NR + j] = src[p];
      }
      for (int64_t j = cols; j < NR; ++j)
        for (int64_t p = 0; p < kc; ++p) out[p * NR + j] = 0.f;
    } else {  // op(B)[p][j] = b[p * ldb + j]: NR contiguous values per p
      for (int64_t p = 0; p < kc; ++p) {
        const float* src = b + p * ldb + j0;
        for (int64_t j = 0; j < cols; ++j) out[p * NR + j] = src[j];
        for (int64_t j = cols; j < NR; ++j) out[p * NR + j] = 0.f;
      }
    }
  }
}

// C[0:MR, 0:cols] (+)= the register tile acc; columns past `cols` (an edge sliver's padding) are not written.
template <class V, int MR, int NV>
inline __attribute__((always_inline)) void store_tile(const typename V::reg (&acc)[MR][NV], float* c, int64_t ldc,
                                                      bool add, int64_t cols) {
  constexpr int NR = NV * V::lanes;
  if (cols == NR) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) {
        float* cij = c + i * ldc + j * V::lanes;
        V::storeu(cij, add ? V::add(V::loadu(cij), acc[i][j]) : acc[i][j]);
      }
    return;
  }
  alignas(64) float tile[MR * NR];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) V::storeu(tile + i * NR + j * V::lanes, acc[i][j]);
  for (int64_t i = 0; i < MR; ++i)
    for (int64_t j = 0; j < cols; ++j) c[i * ldc + j] = add ? c[i * ldc + j] + tile[i * NR + j] : tile[i * NR + j];
}

// C[0:MR, 0:cols] (+)= A panel (MR x kc) * B sliver (kc x NV * V::lanes, its rows bs floats apart: a packed
// sliver or B read in place). A's element (i, p) is ap[i * rs + p * cs]: a packed panel (Packed: rs = 1, cs = MR,
// known to the compiler) or op(A) read in place.
template <class V, int MR, int NV, bool Packed>
void micro_kernel(int64_t kc, const float* ap, int64_t rs_in, int64_t cs_in, const float* bp, int64_t bs, float* c,
                  int64_t ldc, bool add, int64_t cols) {
  const int64_t rs = Packed ? 1 : rs_in, cs = Packed ? MR : cs_in;
  typename V::reg acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[i][j] = V::zero();
  for (int64_t p = 0; p < kc; ++p, ap += cs, bp += bs) {
    typename V::reg bv[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) bv[j] = V::loadu(bp + j * V::lanes);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const typename V::reg av = V::broadcast(ap + i * rs);
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[i][j] = V::fma(av, bv[j], acc[i][j]);
    }
  }
  store_tile<V, MR, NV>(acc, c, ldc, add, cols);
}

// The R-row kernel for R = rows (a panel at the bottom edge of C: no arithmetic on padding rows).
template <class V, int R, int NV>
void edge_rows(int64_t rows, int64_t kc, const float* ap, int64_t rs, int64_t cs, const float* bp, int64_t bs,
               float* c, int64_t ldc, bool add, int64_t cols) {
  if constexpr (R >= 1) {
    if (rows == R) return micro_kernel<V, R, NV, false>(kc, ap, rs, cs, bp, bs, c, ldc, add, cols);
    edge_rows<V, R - 1, NV>(rows, kc, ap, rs, cs, bp, bs, c, ldc, add, cols);
  }
}

// One tile of C: rows x cols (<= MR x NR) from an A panel (packed or in place) and a B sliver. Narrow edge slivers
// (cols <= one vector) and short panels run smaller kernels instead of multiplying padding.
template <class V, int MR, int NV, bool Packed>
void tile(int64_t rows, int64_t cols, int64_t kc, const float* ap, int64_t rs, int64_t cs, const float* bp, int64_t bs,
          float* c, int64_t ldc, bool add) {
  if (NV > 1 && cols <= V::lanes) {
    if (rows == MR) return micro_kernel<V, MR, 1, Packed>(kc, ap, rs, cs, bp, bs, c, ldc, add, cols);
    return edge_rows<V, MR - 1, 1>(rows, kc, ap, rs, cs, bp, bs, c, ldc, add, cols);
  }
  if (rows == MR) return micro_kernel<V, MR, NV, Packed>(kc, ap, rs, cs, bp, bs, c, ldc, add, cols);
  edge_rows<V, MR - 1, NV>(rows, kc, ap, rs, cs, bp, bs, c, ldc, add, cols);
}

// Packing A pays off when each panel is reused across many B slivers; for narrow C (a conv's 64 output channels)
// its cost rivals the arithmetic, so A is then read in place (its rows stream through the caches once per sliver).
// Likewise B (stored k-major, not transposed) is read in place when C has few row panels to reuse its slivers
// (a weight gradient's 64 rows); the last, partial sliver is still packed (a vector load would pass B's rows).
constexpr int64_t kDirectASlivers = 6, kDirectBPanels = 16;

// The k block for a product of depth k when the caller gives none: at most KC, and when k needs several blocks the
// rule Eigen uses (a multiple of 8 that keeps the number of blocks and makes the last as large as possible).
inline int64_t k_block(int64_t k, int64_t kc_max) {
  if (k <= kc_max) return k;
  if (k % kc_max == 0) return kc_max;
  return kc_max - 8 * ((kc_max - 1 - k % kc_max) / (8 * (k / kc_max + 1)));
}

// The whole single-threaded product; m, n, k > 0. a_pack holds MC * KC floats, b_pack KC * round_up(NC, NR).
template <class V, int MR, int NV, int64_t MC, int64_t KC, int64_t NC>
void gemm_blocked(const fer::cpu::isa::GemmF32& g, float* a_pack, float* b_pack) {
  constexpr int NR = NV * V::lanes;
  static_assert(MC % MR == 0 && NC % NR == 0, "blocks are whole tiles");
  const int64_t k_step = g.kc > 0 && g.kc <= fer::cpu::isa::kMaxKc ? smaller(g.kc, g.k) : k_block(g.k, KC);
  const bool direct_a = !g.trans_a && (smaller(NC, g.n) + NR - 1) / NR <= kDirectASlivers;
  const bool direct_b = !g.trans_b && (smaller(MC, g.m) + MR - 1) / MR <= kDirectBPanels;
  const int64_t rs = g.trans_a ? 1 : g.lda, cs = g.trans_a ? g.lda : 1;  // op(A)(i, p) = a[i * rs + p * cs]
  for (int64_t jc = 0; jc < g.n; jc += NC) {
    const int64_t nc = smaller(NC, g.n - jc);
    for (int64_t pc = 0; pc < g.k; pc += k_step) {
      const int64_t kc = smaller(k_step, g.k - pc);
      const bool add = g.accumulate || pc > 0;  // later k blocks add to what the first wrote
      const float* b_block = g.trans_b ? g.b + jc * g.ldb + pc : g.b + pc * g.ldb + jc;
      const int64_t full_cols = direct_b ? nc / NR * NR : 0;  // slivers read in place
      if (full_cols < nc) pack_b<NR>(g.trans_b, b_block + full_cols, g.ldb, kc, nc - full_cols, b_pack);
      for (int64_t ic = 0; ic < g.m; ic += MC) {
        const int64_t mc = smaller(MC, g.m - ic);
        const float* a_block = g.a + ic * rs + pc * cs;
        if (!direct_a) pack_a<MR>(g.trans_a, a_block, g.lda, mc, kc, a_pack);
        for (int64_t jr = 0; jr < nc; jr += NR)
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t rows = smaller(MR, mc - ir), cols = smaller(NR, nc - jr);
            float* c_tile = g.c + (ic + ir) * g.ldc + jc + jr;
            const bool b_in_place = jr < full_cols;
            const float* bp = b_in_place ? b_block + jr : b_pack + (jr - full_cols) * kc;
            const int64_t bs = b_in_place ? g.ldb : NR;
            if (direct_a)
              tile<V, MR, NV, false>(rows, cols, kc, a_block + ir * rs, rs, cs, bp, bs, c_tile, g.ldc, add);
            else
              tile<V, MR, NV, true>(rows, cols, kc, a_pack + ir * kc, 1, MR, bp, bs, c_tile, g.ldc, add);
          }
      }
    }
  }
}
