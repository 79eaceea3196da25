// Dropout masks drawn from the generator in group order, and the masked scale (serial loops: the draw order is
// part of the result).
#include "fer/kernels/dropout.hpp"

#include "fer/core/rng.hpp"

namespace fer::kernels {

void dropout_mask_cpu(const DropoutMaskArgs& a) {
  FER_CHECK(a.gen, "dropout: no generator");
  Generator* gen = a.gen;
  const double p = a.p, keep_scale = a.scale;
  const int64_t groups = a.mask.numel();
  dispatch_float(a.mask.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    T* m = a.mask.data<T>();
    for (int64_t i = 0; i < groups; ++i) m[i] = gen->uniform() < p ? T(0) : T(keep_scale);
  });
}

void masked_scale_forward_cpu(const MaskedScaleArgs& a) {
  const int64_t group = a.group, groups = a.mask.numel();
  dispatch_float(a.x.dtype(), "dropout", [&](auto tag) {
    using T = decltype(tag);
    const T* m = a.mask.data<T>();
    const T* px = a.x.data<T>();
    T* py = a.y.data<T>();
    for (int64_t i = 0; i < groups; ++i)
      for (int64_t k = 0; k < group; ++k) py[i * group + k] = px[i * group + k] * m[i];
  });
}

void masked_scale_backward_cpu(const MaskedScaleArgs& a) {
  if (!a.gx.defined()) return;
  const int64_t group = a.group, groups = a.mask.numel();
  dispatch_float(a.gy.dtype(), "dropout backward", [&](auto tag) {
    using T = decltype(tag);
    const T *m = a.mask.data<T>(), *g = a.gy.data<T>();
    T* gx = a.gx.data<T>();
    for (int64_t i = 0; i < groups; ++i)
      for (int64_t k = 0; k < group; ++k) gx[i * group + k] += g[i * group + k] * m[i];
  });
}

}  // namespace fer::kernels
