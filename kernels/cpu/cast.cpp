// Floating dtype conversions through double (exact for every pair: each type's values are doubles).
#include "fer/kernels/cast.hpp"

#include "fer/core/parallel.hpp"

namespace fer::kernels {

namespace {

double read(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::f32: return static_cast<const float*>(p)[i];
    case DType::f64: return static_cast<const double*>(p)[i];
    case DType::f16: return from_f16(static_cast<const f16*>(p)[i]);
    case DType::bf16: return from_bf16(static_cast<const bf16*>(p)[i]);
    default: fail("cast: dtype ", dtype_name(t), " is not floating");
  }
}

void write(void* p, DType t, int64_t i, double v, bool add) {
  switch (t) {
    case DType::f32: { float& d = static_cast<float*>(p)[i]; d = add ? float(d + v) : float(v); return; }
    case DType::f64: { double& d = static_cast<double*>(p)[i]; d = add ? d + v : v; return; }
    case DType::f16: {
      f16& d = static_cast<f16*>(p)[i];
      d = to_f16(add ? from_f16(d) + float(v) : float(v));
      return;
    }
    case DType::bf16: {
      bf16& d = static_cast<bf16*>(p)[i];
      d = to_bf16(add ? from_bf16(d) + float(v) : float(v));
      return;
    }
    default: fail("cast: dtype ", dtype_name(t), " is not floating");
  }
}

void convert(const TensorRef& src, const TensorRef& dst, bool add) {
  FER_CHECK(src.numel() == dst.numel(), "cast: ", src.numel(), " elements into ", dst.numel());
  const void* s = src.raw_data();
  void* d = dst.raw_data();
  DType st = src.dtype(), dt = dst.dtype();
  parallel_for(0, src.numel(), 1 << 14, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) write(d, dt, i, read(s, st, i), add);
  });
}

}  // namespace

void cast_forward_cpu(const CastArgs& a) { convert(a.src, a.dst, false); }
void cast_backward_cpu(const CastArgs& a) { convert(a.src, a.dst, true); }

}  // namespace fer::kernels
