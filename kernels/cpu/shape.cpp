// Layout kernels: one strided gather and one strided scatter serve permute, slice, concat, split and channel
// shuffle; rows of the innermost dim are the unit of work (parallel over rows).
#include "fer/kernels/shape.hpp"

#include <algorithm>
#include <cstring>

#include "fer/core/dtype.hpp"
#include "fer/core/parallel.hpp"

namespace fer::kernels {

namespace {

// Calls f(src_base, dst_base, count) for runs of consecutive rows (all dims but the last) of `shape` that differ
// only in the next-to-last index: `count` rows whose offsets on each side step by that dim's stride. Parallel over
// rows; a chunk finds its first row's index by division, then steps an odometer run by run. (A channel shuffle's
// rows are 2 elements long: per-row index arithmetic cost more than the copy.)
template <class F>
void for_each_row_run(const Shape& shape, const Shape& s_strides, int64_t s_offset, const Shape& d_strides,
                      int64_t d_offset, F&& f) {
  const int nd = shape.size();
  if (nd < 2) {
    f(s_offset, d_offset, int64_t(1));
    return;
  }
  const int64_t inner = shape[nd - 1], mid = shape[nd - 2];
  const int64_t rows = inner ? shape.numel() / inner : 0;
  parallel_for(0, rows, std::max<int64_t>(1, 4096 / std::max<int64_t>(inner, 1)), [&](int64_t lo, int64_t hi) {
    int64_t index[kMaxDims] = {};
    int64_t sbase = s_offset, dbase = d_offset;
    for (int64_t d = nd - 2, rem = lo; d >= 0; --d) {
      index[d] = rem % shape[d];
      rem /= shape[d];
      sbase += index[d] * s_strides[d];
      dbase += index[d] * d_strides[d];
    }
    for (int64_t r = lo; r < hi;) {
      const int64_t count = std::min(mid - index[nd - 2], hi - r);
      f(sbase, dbase, count);
      r += count;
      sbase += count * s_strides[nd - 2], dbase += count * d_strides[nd - 2];
      index[nd - 2] += count;
      for (int d = nd - 2; d > 0 && index[d] == shape[d]; --d) {  // carry into the outer indices
        sbase += s_strides[d - 1] - shape[d] * s_strides[d], dbase += d_strides[d - 1] - shape[d] * d_strides[d];
        index[d] = 0;
        ++index[d - 1];
      }
    }
  });
}

template <class T>
void move_rows(const T* src, int64_t src_offset, const Shape& src_strides, T* dst, int64_t dst_offset,
               const Shape& dst_strides, const Shape& shape, bool accumulate) {
  const int nd = shape.size();
  const int64_t inner = nd ? shape[nd - 1] : 1;
  const int64_t s_in = nd ? src_strides[nd - 1] : 1, d_in = nd ? dst_strides[nd - 1] : 1;
  const int64_t s_row = nd > 1 ? src_strides[nd - 2] : 0, d_row = nd > 1 ? dst_strides[nd - 2] : 0;
  for_each_row_run(shape, src_strides, src_offset, dst_strides, dst_offset, [&](int64_t sb, int64_t db, int64_t n) {
    const T* s = src + sb;
    T* o = dst + db;
    if (accumulate) {
      for (int64_t r = 0; r < n; ++r, s += s_row, o += d_row)
        for (int64_t k = 0; k < inner; ++k) o[k * d_in] += s[k * s_in];
    } else if (s_in == 1 && d_in == 1) {
      for (int64_t r = 0; r < n; ++r, s += s_row, o += d_row) std::memcpy(o, s, size_t(inner) * sizeof(T));
    } else if (inner < 8) {  // short rows (a channel shuffle's groups): one pass along the run per element
      for (int64_t k = 0; k < inner; ++k)
        for (int64_t r = 0; r < n; ++r) o[r * d_row + k * d_in] = s[r * s_row + k * s_in];
    } else {
      for (int64_t r = 0; r < n; ++r, s += s_row, o += d_row)
        for (int64_t k = 0; k < inner; ++k) o[k * d_in] = s[k * s_in];
    }
  });
}

template <class F>
void dispatch_any(DType t, bool accumulate, const char* what, F&& f) {
  if (accumulate) {
    dispatch_float(t, what, f);
    return;
  }
  switch (dtype_size(t)) {  // a copy only needs the element size
    case 1: f(uint8_t{}); break;
    case 2: f(uint16_t{}); break;
    case 4: f(uint32_t{}); break;
    case 8: f(uint64_t{}); break;
    default: fail(what, ": unsupported element size");
  }
}

template <class T>
T* storage_base(const TensorRef& t) {
  // Offsets passed to the kernels are relative to the tensor's first element.
  return static_cast<T*>(t.raw_data());
}

}  // namespace

void gather_strided_cpu(const GatherArgs& a) {
  const TensorRef &src = a.src, &dst = a.dst;
  const int64_t src_offset = a.src_offset;
  const Shape& src_strides = a.src_strides;
  const bool accumulate = a.accumulate;
  dispatch_any(dst.dtype(), accumulate, "gather", [&](auto tag) {
    using T = decltype(tag);
    move_rows<T>(storage_base<T>(src), src_offset, src_strides, storage_base<T>(dst), 0,
                 contiguous_strides(dst.shape()), dst.shape(), accumulate);
  });
}

void scatter_strided_cpu(const ScatterArgs& a) {
  const TensorRef &src = a.src, &dst = a.dst;
  const int64_t dst_offset = a.dst_offset;
  const Shape& dst_strides = a.dst_strides;
  const bool accumulate = a.accumulate;
  dispatch_any(src.dtype(), accumulate, "scatter", [&](auto tag) {
    using T = decltype(tag);
    move_rows<T>(storage_base<T>(src), 0, contiguous_strides(src.shape()), storage_base<T>(dst), dst_offset,
                 dst_strides, src.shape(), accumulate);
  });
}

void pad2d_forward_cpu(const Pad2dArgs& a) {
  const TensorRef &x = a.x, &y = a.y;
  const int64_t top = a.top, left = a.left;
  const double value = a.value;
  dispatch_float(x.dtype(), "pad2d", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3), ho = y.size(1), wo = y.size(2);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    int64_t w0 = std::max<int64_t>(0, -left), w1 = std::min(w, wo - left);  // input columns that land inside
    parallel_for(0, n * ho, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        int64_t b = r / ho, oh = r % ho, ih = oh - top;
        T* yr = py + r * wo * c;
        std::fill(yr, yr + wo * c, T(value));
        if (ih < 0 || ih >= h || w1 <= w0) continue;
        std::copy(px + ((b * h + ih) * w + w0) * c, px + ((b * h + ih) * w + w1) * c, yr + (w0 + left) * c);
      }
    });
  });
}

void pad2d_backward_cpu(const Pad2dArgs& a) {
  const TensorRef &gy = a.gy, &gx = a.gx;
  const int64_t top = a.top, left = a.left;
  dispatch_float(gy.dtype(), "pad2d backward", [&](auto tag) {
    using T = decltype(tag);
    int64_t n = gx.size(0), h = gx.size(1), w = gx.size(2), c = gx.size(3), ho = gy.size(1), wo = gy.size(2);
    const T* pg = gy.data<T>();
    T* px = gx.data<T>();
    int64_t w0 = std::max<int64_t>(0, -left), w1 = std::min(w, wo - left);
    parallel_for(0, n * h, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t r = lo; r < hi; ++r) {
        int64_t b = r / h, ih = r % h, oh = ih + top;
        if (oh < 0 || oh >= ho || w1 <= w0) continue;
        const T* g = pg + ((b * ho + oh) * wo + w0 + left) * c;
        T* o = px + (r * w + w0) * c;
        for (int64_t k = 0; k < (w1 - w0) * c; ++k) o[k] += g[k];
      }
    });
  });
}

}  // namespace fer::kernels
