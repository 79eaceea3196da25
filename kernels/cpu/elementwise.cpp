// Pointwise CPU kernels: activations, unary math, scalar affine, broadcasting binary ops and sum-reductions.
#include "fer/backend/cpu/elementwise.hpp"

#include <cmath>

#include "fer/core/parallel.hpp"

namespace fer::cpu {

namespace {

constexpr int64_t kGrain = 16384;

template <class T>
inline T unary_value(Unary op, T x, T alpha) {
  switch (op) {
    case Unary::relu: return x > T(0) ? x : T(0);
    case Unary::relu6: return x < T(0) ? T(0) : (x > T(6) ? T(6) : x);
    case Unary::leaky_relu: return x > T(0) ? x : x * alpha;
    case Unary::gelu: return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
    case Unary::silu: return x / (T(1) + std::exp(-x));
    case Unary::hardswish: return x * std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
    case Unary::hardsigmoid: return std::min(std::max(x + T(3), T(0)), T(6)) / T(6);
    case Unary::sigmoid: return T(1) / (T(1) + std::exp(-x));
    case Unary::tanh: return std::tanh(x);
    case Unary::exp: return std::exp(x);
    case Unary::log: return std::log(x);
    case Unary::sqrt: return std::sqrt(x);
    case Unary::rsqrt: return T(1) / std::sqrt(x);
    case Unary::square: return x * x;
    case Unary::neg: return -x;
    case Unary::abs: return std::abs(x);
  }
  return x;
}

// Derivative dy/dx given x and y = f(x). Boundary conventions follow PyTorch's.
template <class T>
inline T unary_derivative(Unary op, T x, T y, T alpha) {
  switch (op) {
    case Unary::relu: return x > T(0) ? T(1) : T(0);
    case Unary::relu6: return (x > T(0) && x < T(6)) ? T(1) : T(0);
    case Unary::leaky_relu: return x > T(0) ? T(1) : alpha;
    case Unary::gelu: {
      T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
      T pdf = std::exp(T(-0.5) * x * x) * T(0.39894228040143267794);
      return cdf + x * pdf;
    }
    case Unary::silu: {
      T s = T(1) / (T(1) + std::exp(-x));
      return s * (T(1) + x * (T(1) - s));
    }
    case Unary::hardswish: return x < T(-3) ? T(0) : (x <= T(3) ? x / T(3) + T(0.5) : T(1));
    case Unary::hardsigmoid: return (x > T(-3) && x < T(3)) ? T(1) / T(6) : T(0);
    case Unary::sigmoid: return y * (T(1) - y);
    case Unary::tanh: return T(1) - y * y;
    case Unary::exp: return y;
    case Unary::log: return T(1) / x;
    case Unary::sqrt: return T(0.5) / y;
    case Unary::rsqrt: return T(-0.5) * y * y * y;
    case Unary::square: return T(2) * x;
    case Unary::neg: return T(-1);
    case Unary::abs: return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
  }
  return T(0);
}

// Broadcast bookkeeping: strides of `t` laid against an output of rank `nd` (0 where t broadcasts).
Shape broadcast_strides(const Tensor& t, const Shape& out) {
  Shape st;
  st.nd = out.nd;
  int shift = out.nd - t.dim();
  Shape tst = contiguous_strides(t.shape());
  for (int d = 0; d < out.nd; ++d) {
    int td = d - shift;
    st.d[d] = (td < 0 || t.shape()[td] == 1) ? 0 : tst[td];
  }
  return st;
}

template <class T>
inline T binary_value(Binary op, T a, T b) {
  switch (op) {
    case Binary::add: return a + b;
    case Binary::sub: return a - b;
    case Binary::mul: return a * b;
    case Binary::div: return a / b;
  }
  return a;
}

// Visits the output in rows of its last dim; f(row_index, a_offset, b_offset, a_inner_stride, b_inner_stride).
template <class F>
void for_each_row(const Shape& out, const Shape& sa, const Shape& sb, int64_t row_lo, int64_t row_hi, F&& f) {
  int nd = out.nd;
  for (int64_t r = row_lo; r < row_hi; ++r) {
    int64_t rem = r, oa = 0, ob = 0;
    for (int d = nd - 2; d >= 0; --d) {
      int64_t i = rem % out[d];
      rem /= out[d];
      oa += i * sa[d];
      ob += i * sb[d];
    }
    f(r, oa, ob, nd ? sa[nd - 1] : 0, nd ? sb[nd - 1] : 0);
  }
}

}  // namespace

const char* unary_name(Unary op) {
  static const char* names[] = {"relu", "relu6", "leaky_relu", "gelu", "silu", "hardswish", "hardsigmoid", "sigmoid",
                                "tanh", "exp", "log", "sqrt", "rsqrt", "square", "neg", "abs"};
  return names[int(op)];
}

void unary_forward(Unary op, const Tensor& x, const Tensor& y, double alpha) {
  dispatch_float(x.dtype(), unary_name(op), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    T a = T(alpha);
    parallel_for(0, x.numel(), kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) py[i] = unary_value(op, px[i], a);
    });
  });
}

void unary_backward(Unary op, const Tensor& x, const Tensor& y, const Tensor& gy, const Tensor& gx, double alpha) {
  dispatch_float(x.dtype(), unary_name(op), [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    const T* py = y.data<T>();
    const T* pg = gy.data<T>();
    T* pgx = gx.data<T>();
    T a = T(alpha);
    parallel_for(0, x.numel(), kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) pgx[i] += pg[i] * unary_derivative(op, px[i], py[i], a);
    });
  });
}

void affine_scalar_forward(const Tensor& x, const Tensor& y, double a, double b) {
  dispatch_float(x.dtype(), "affine", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    parallel_for(0, x.numel(), kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) py[i] = T(a) * px[i] + T(b);
    });
  });
}

void axpy(const Tensor& gy, const Tensor& gx, double a) {
  dispatch_float(gy.dtype(), "axpy", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    T* pgx = gx.data<T>();
    parallel_for(0, gy.numel(), kGrain, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) pgx[i] += T(a) * pg[i];
    });
  });
}

void binary_forward(Binary op, const Tensor& a, const Tensor& b, const Tensor& y) {
  const Shape& out = y.shape();
  Shape sa = broadcast_strides(a, out), sb = broadcast_strides(b, out);
  int64_t inner = out.nd ? out.back() : 1;
  int64_t rows = inner ? y.numel() / inner : 0;
  dispatch_float(y.dtype(), "binary op", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    T* py = y.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t lo, int64_t hi) {
      for_each_row(out, sa, sb, lo, hi, [&](int64_t r, int64_t oa, int64_t ob, int64_t ia, int64_t ib) {
        T* yr = py + r * inner;
        for (int64_t i = 0; i < inner; ++i) yr[i] = binary_value(op, pa[oa + i * ia], pb[ob + i * ib]);
      });
    });
  });
}

void binary_backward(Binary op, const Tensor& a, const Tensor& b, const Tensor& gy, const Tensor& ga, const Tensor& gb) {
  const Shape& out = gy.shape();
  Shape sa = broadcast_strides(a, out), sb = broadcast_strides(b, out);
  int64_t inner = out.nd ? out.back() : 1;
  int64_t rows = inner ? gy.numel() / inner : 0;
  dispatch_float(gy.dtype(), "binary op backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pa = a.data<T>();
    const T* pb = b.data<T>();
    const T* pg = gy.data<T>();
    T* pga = ga.defined() ? ga.data<T>() : nullptr;
    T* pgb = gb.defined() ? gb.data<T>() : nullptr;
    // Serial: broadcast targets may receive from many output rows at once.
    for_each_row(out, sa, sb, 0, rows, [&](int64_t r, int64_t oa, int64_t ob, int64_t ia, int64_t ib) {
      const T* g = pg + r * inner;
      for (int64_t i = 0; i < inner; ++i) {
        T av = pa[oa + i * ia], bv = pb[ob + i * ib], gv = g[i];
        switch (op) {
          case Binary::add:
            if (pga) pga[oa + i * ia] += gv;
            if (pgb) pgb[ob + i * ib] += gv;
            break;
          case Binary::sub:
            if (pga) pga[oa + i * ia] += gv;
            if (pgb) pgb[ob + i * ib] -= gv;
            break;
          case Binary::mul:
            if (pga) pga[oa + i * ia] += gv * bv;
            if (pgb) pgb[ob + i * ib] += gv * av;
            break;
          case Binary::div:
            if (pga) pga[oa + i * ia] += gv / bv;
            if (pgb) pgb[ob + i * ib] -= gv * av / (bv * bv);
            break;
        }
      }
    });
  });
}

void sum_to(const Tensor& x, const Tensor& y) {
  const Shape& in = x.shape();
  Shape sy = broadcast_strides(y, in);
  Shape sx = contiguous_strides(in);
  int64_t inner = in.nd ? in.back() : 1;
  int64_t rows = inner ? x.numel() / inner : 0;
  y.zero_();
  dispatch_float(x.dtype(), "sum", [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for_each_row(in, sx, sy, 0, rows, [&](int64_t, int64_t ox, int64_t oy, int64_t ix, int64_t iy) {
      if (iy == 0) {
        T acc = 0;
        for (int64_t i = 0; i < inner; ++i) acc += px[ox + i * ix];
        py[oy] += acc;
      } else {
        for (int64_t i = 0; i < inner; ++i) py[oy + i * iy] += px[ox + i * ix];
      }
    });
  });
}

void broadcast_add(const Tensor& gy, const Tensor& gx, double scale) {
  const Shape& out = gx.shape();
  Shape sg = broadcast_strides(gy, out);
  Shape sx = contiguous_strides(out);
  int64_t inner = out.nd ? out.back() : 1;
  int64_t rows = inner ? gx.numel() / inner : 0;
  dispatch_float(gx.dtype(), "sum backward", [&](auto tag) {
    using T = decltype(tag);
    const T* pg = gy.data<T>();
    T* px = gx.data<T>();
    parallel_for(0, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(inner, 1)), [&](int64_t lo, int64_t hi) {
      for_each_row(out, sx, sg, lo, hi, [&](int64_t, int64_t ox, int64_t og, int64_t ix, int64_t ig) {
        for (int64_t i = 0; i < inner; ++i) px[ox + i * ix] += T(scale) * pg[og + i * ig];
      });
    });
  });
}

}  // namespace fer::cpu
