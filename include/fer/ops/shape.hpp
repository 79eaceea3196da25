#pragma once
// Shape and layout ops with autograd: reshape/flatten (views), permute, NHWC<->NCHW, concat, split/chunk, slice,
// channel shuffle, constant 2-d padding, and writing channels in place (write_channels, channel_prefix).
// Everything but reshape and the in-place pair materializes a contiguous result.
#include <algorithm>
#include <array>
#include <numeric>
#include <vector>

#include "fer/kernels/elementwise.hpp"
#include "fer/kernels/shape.hpp"
#include "fer/ops/common.hpp"

namespace fer {

namespace ops_detail {
inline int wrap_dim(const char* op, int dim, int rank) {
  int d = dim < 0 ? dim + rank : dim;
  FER_CHECK(d >= 0 && d < rank, op, ": dim ", dim, " out of range for a ", rank, "-d tensor");
  return d;
}

// y = x viewed through (offset, strides) over y's shape; the gradient scatters back along the same map, each element
// of x reached at most once. A first writer (autograd::overwrites) writes x's whole gradient: the scatter writes (=)
// where the map reaches, and a map that does not reach every element (not `covers_input`: a slice) zero-fills x's
// gradient first, since the elements it leaves out may hold another tensor's values (fer/autograd/grad_arena.hpp).
inline Tensor strided_gather(const char* op, const Tensor& x, const Shape& out_shape, int64_t offset, const Shape& strides,
                             bool covers_input) {
  Tensor y = Tensor::empty(out_shape, x.dtype(), x.device());
  autograd::apply(
      op, {x}, {y},
      [=] { kernels::gather_strided({kernels::ref(x), offset, strides, kernels::ref(y), false, kernels::span_of(x)}); },
      [=] {
        if (!x.requires_grad()) return;
        const Tensor gx = x.grad_buffer();
        const bool write = autograd::overwrites(0);
        if (write && !covers_input) gx.zero_();
        kernels::scatter_strided({kernels::ref(y.grad()), kernels::ref(gx), offset, strides, !write, kernels::span_of(gx)});
      },
      writable_grads({0}));
  return y;
}
}  // namespace ops_detail

// A view with a new shape (one dim may be -1); shares x's storage when x is contiguous.
inline Tensor reshape(const Tensor& x_in, Shape shape) {
  FER_CHECK(x_in.defined(), "reshape: undefined input");
  int64_t known = 1;
  int infer = -1;
  for (int d = 0; d < shape.size(); ++d) {
    if (shape[d] == -1) {
      FER_CHECK(infer < 0, "reshape: only one dim can be -1 in ", shape.str());
      infer = d;
    } else {
      FER_CHECK(shape[d] >= 0, "reshape: invalid size in ", shape.str());
      known *= shape[d];
    }
  }
  if (infer >= 0) {
    FER_CHECK(known > 0 && x_in.numel() % known == 0, "reshape: cannot infer -1 in ", shape.str(), " for ", x_in.shape().str());
    shape.d[infer] = x_in.numel() / known;
  }
  FER_CHECK(shape.numel() == x_in.numel(), "reshape: ", x_in.shape().str(), " has ", x_in.numel(), " elements, ",
            shape.str(), " has ", shape.numel());
  Tensor x = contiguous(x_in);
  Tensor y = x.view_as_shape(shape);
  // The forward is a no-op (y aliases x); the node exists to carry the gradient back.
  autograd::apply(
      "reshape", {x}, {y}, [] {},
      [=] {
        if (x.requires_grad()) kernels::axpy({kernels::ref(y.grad()), kernels::ref(x.grad_buffer()), 1.0});
      });
  return y;
}

// Merges dims start..end into one (PyTorch's flatten).
inline Tensor flatten(const Tensor& x, int start_dim = 1, int end_dim = -1) {
  int r = x.dim();
  int s = ops_detail::wrap_dim("flatten", start_dim, r), e = ops_detail::wrap_dim("flatten", end_dim, r);
  FER_CHECK(s <= e, "flatten: start_dim ", start_dim, " is after end_dim ", end_dim);
  Shape out;
  for (int d = 0; d < s; ++d) out.push_back(x.size(d));
  int64_t merged = 1;
  for (int d = s; d <= e; ++d) merged *= x.size(d);
  out.push_back(merged);
  for (int d = e + 1; d < r; ++d) out.push_back(x.size(d));
  return reshape(x, out);
}

inline Tensor permute(const Tensor& x_in, std::vector<int> dims) {
  FER_CHECK(x_in.defined(), "permute: undefined input");
  int r = x_in.dim();
  FER_CHECK(int(dims.size()) == r, "permute: ", dims.size(), " dims given for a ", r, "-d tensor");
  std::vector<bool> seen(size_t(r), false);
  for (int& d : dims) {
    d = ops_detail::wrap_dim("permute", d, r);
    FER_CHECK(!seen[size_t(d)], "permute: dim ", d, " repeated");
    seen[size_t(d)] = true;
  }
  Tensor x = contiguous(x_in);
  Shape xs = contiguous_strides(x.shape()), out, strides;
  for (int d : dims) out.push_back(x.size(d)), strides.push_back(xs[d]);
  return ops_detail::strided_gather("permute", x, out, 0, strides, /*covers_input=*/true);
}

inline Tensor nhwc_to_nchw(const Tensor& x) { return permute(x, {0, 3, 1, 2}); }
inline Tensor nchw_to_nhwc(const Tensor& x) { return permute(x, {0, 2, 3, 1}); }

// Elements start, start+step, ... < end along `dim` (end clamped to the size, as Python slicing).
inline Tensor slice(const Tensor& x_in, int dim, int64_t start, int64_t end, int64_t step = 1) {
  FER_CHECK(x_in.defined(), "slice: undefined input");
  int d = ops_detail::wrap_dim("slice", dim, x_in.dim());
  int64_t n = x_in.size(d);
  FER_CHECK(step >= 1, "slice: step must be >= 1, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Tensor x = contiguous(x_in);
  Shape out = x.shape(), strides = contiguous_strides(x.shape());
  out.d[d] = (end - start + step - 1) / step;
  int64_t offset = start * strides[d];
  strides.d[d] *= step;
  return ops_detail::strided_gather("slice", x, out, offset, strides, /*covers_input=*/false);
}

// Concatenation along `dim` (DenseNet: channels, the last dim).
inline Tensor concat(const std::vector<Tensor>& xs_in, int dim) {
  FER_CHECK(!xs_in.empty(), "concat: no tensors");
  const Tensor& first = xs_in[0];
  int r = first.dim();
  int d = ops_detail::wrap_dim("concat", dim, r);
  Shape out = first.shape();
  out.d[d] = 0;
  std::vector<Tensor> xs;
  for (size_t k = 0; k < xs_in.size(); ++k) {
    const Tensor& t = xs_in[k];
    FER_CHECK(t.defined() && t.dim() == r, "concat: tensor ", k, " has rank ", t.defined() ? t.dim() : -1, ", expected ", r);
    ops_detail::require_same_device("concat", {&first, &t});
    ops_detail::require_same_dtype("concat", first, t);
    for (int e = 0; e < r; ++e)
      FER_CHECK(e == d || t.size(e) == first.size(e), "concat: tensor ", k, " ", t.shape().str(),
                " does not match ", first.shape().str(), " outside dim ", d);
    out.d[d] += t.size(d);
    xs.push_back(contiguous(t));
  }
  Tensor y = Tensor::empty(out, first.dtype(), first.device());
  Shape ystrides = contiguous_strides(out);
  std::vector<int64_t> offsets;
  int64_t at = 0;
  for (const Tensor& t : xs) offsets.push_back(at * ystrides[d]), at += t.size(d);
  autograd::apply(
      "concat", xs, {y},
      [=] {
        for (size_t k = 0; k < xs.size(); ++k)
          kernels::scatter_strided(
              {kernels::ref(xs[k]), kernels::ref(y), offsets[k], ystrides, false, kernels::span_of(y)});
      },
      [=] {
        const Tensor gy = y.grad();
        for (size_t k = 0; k < xs.size(); ++k)
          if (xs[k].requires_grad())
            kernels::gather_strided({kernels::ref(gy), offsets[k], ystrides, kernels::ref(xs[k].grad_buffer()),
                                     !autograd::overwrites(k), kernels::span_of(gy)});
      },
      kAllGradsWritable);
  return y;
}

// Writes x [..., c] into channels [at, at + c) of buf [..., C] (same leading dims; buf contiguous) in place and
// returns buf. The node's output is buf itself, so its backward (x's gradient += that channel range of buf's) runs
// after every later reader of buf has added to buf's gradient: DenseNet's block buffer, grown layer by layer
// without a concatenation per layer.
inline Tensor write_channels(const Tensor& buf, const Tensor& x_in, int64_t at) {
  FER_CHECK(buf.defined() && x_in.defined(), "write_channels: undefined tensor");
  FER_CHECK(buf.is_contiguous(), "write_channels: the buffer must be contiguous");
  ops_detail::require_same_device("write_channels", {&buf, &x_in});
  ops_detail::require_same_dtype("write_channels", buf, x_in);
  const int r = buf.dim();
  FER_CHECK(r >= 1 && x_in.dim() == r, "write_channels: ", x_in.shape().str(), " into ", buf.shape().str());
  for (int d = 0; d + 1 < r; ++d)
    FER_CHECK(x_in.size(d) == buf.size(d), "write_channels: ", x_in.shape().str(), " does not match ", buf.shape().str(),
              " outside the channels");
  FER_CHECK(at >= 0 && at + x_in.size(r - 1) <= buf.size(r - 1), "write_channels: channels [", at, ", ",
            at + x_in.size(r - 1), ") outside ", buf.shape().str());
  const Tensor x = contiguous(x_in);
  const Shape strides = buf.strides();
  autograd::apply(
      "write_channels", {x}, {buf},
      [=] { kernels::scatter_strided({kernels::ref(x), kernels::ref(buf), at, strides, false, kernels::span_of(buf)}); },
      [=] {
        if (!x.requires_grad()) return;
        const Tensor gb = buf.grad();
        kernels::gather_strided(
            {kernels::ref(gb), at, strides, kernels::ref(x.grad_buffer()), !autograd::overwrites(0), kernels::span_of(gb)});
      },
      writable_grads({0}));  // the gather covers all of x
  return buf;
}

// Channels [0, c) of buf [..., C] as a view (not recorded; rows of c values, C apart) whose gradient buffer is the
// same channels of buf's gradient buffer, created now when buf requires grad: ops reading the view (batch norm
// reads such rows in place) add their input gradient straight into buf's. With write_channels, the growing input of
// a DenseNet block is read and written in one buffer.
inline Tensor channel_prefix(const Tensor& buf, int64_t c) {
  FER_CHECK(buf.defined() && buf.dim() >= 1 && c >= 0 && c <= buf.size(-1), "channel_prefix: ", c, " channels of ",
            buf.defined() ? buf.shape().str() : std::string("undefined"));
  auto narrow = [c](const Tensor& t) {
    auto impl = std::make_shared<TensorImpl>(*t.impl());
    impl->shape.d[impl->shape.nd - 1] = c;
    impl->grad.reset();
    return impl;
  };
  auto view = narrow(buf);
  const bool grad = buf.requires_grad() && grad_enabled();
  view->requires_grad = grad;
  view->is_leaf = !grad;
  if (grad) view->grad = narrow(buf.grad_buffer());
  return Tensor(std::move(view));
}

inline std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int dim) {
  int d = ops_detail::wrap_dim("split", dim, x.dim());
  int64_t total = 0;
  for (int64_t s : sizes) {
    FER_CHECK(s >= 0, "split: negative size ", s);
    total += s;
  }
  FER_CHECK(total == x.size(d), "split: sizes sum to ", total, " but dim ", d, " of ", x.shape().str(), " has ", x.size(d));
  std::vector<Tensor> out;
  int64_t at = 0;
  for (int64_t s : sizes) out.push_back(slice(x, d, at, at + s)), at += s;
  return out;
}

// PyTorch's chunk: pieces of ceil(n / chunks) (the last may be smaller; fewer pieces when n is small).
inline std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int dim) {
  FER_CHECK(chunks >= 1, "chunk: chunks must be >= 1, got ", chunks);
  int d = ops_detail::wrap_dim("chunk", dim, x.dim());
  int64_t n = x.size(d), piece = (n + chunks - 1) / chunks;
  std::vector<int64_t> sizes;
  for (int64_t at = 0; at < n; at += piece) sizes.push_back(std::min(piece, n - at));
  return split(x, sizes, d);
}

// ShuffleNet's channel shuffle on channels-last data: channel i*(C/g)+j moves to j*g+i (PyTorch's
// view(N, g, C/g, H, W).transpose(1, 2) in NCHW).
inline Tensor channel_shuffle(const Tensor& x_in, int64_t groups) {
  FER_CHECK(x_in.defined() && x_in.dim() >= 1, "channel_shuffle: undefined or 0-d input");
  int64_t c = x_in.size(x_in.dim() - 1);
  FER_CHECK(groups >= 1 && c % groups == 0, "channel_shuffle: ", c, " channels are not divisible by ", groups, " groups");
  Tensor x = contiguous(x_in);
  int64_t rows = c ? x.numel() / c : 0, per = c / groups;
  // Out as [rows, C/g, g] reading x as [rows, g, C/g].
  Tensor y = ops_detail::strided_gather("channel_shuffle", x, Shape{rows, per, groups}, 0, Shape{c, 1, per},
                                        /*covers_input=*/true);
  return reshape(y, x.shape());
}

// Constant padding of NHWC images by (top, bottom, left, right); negative amounts crop.
inline Tensor pad2d(const Tensor& x_in, std::array<int64_t, 4> pad, double value = 0.0) {
  FER_CHECK(x_in.defined(), "pad2d: undefined input");
  ops_detail::require_rank("pad2d", x_in, 4, "input [N, H, W, C]");
  Tensor x = contiguous(x_in);
  int64_t ho = x.size(1) + pad[0] + pad[1], wo = x.size(2) + pad[2] + pad[3];
  FER_CHECK(ho >= 1 && wo >= 1, "pad2d: padding (", pad[0], ", ", pad[1], ", ", pad[2], ", ", pad[3], ") leaves nothing of ",
            x.shape().str());
  Tensor y = Tensor::empty({x.size(0), ho, wo, x.size(3)}, x.dtype(), x.device());
  int64_t top = pad[0], left = pad[2];
  autograd::apply(
      "pad2d", {x}, {y}, [=] { kernels::pad2d_forward({kernels::ref(x), kernels::ref(y), {}, {}, top, left, value}); },
      [=] {
        if (x.requires_grad())
          kernels::pad2d_backward({{}, {}, kernels::ref(y.grad()), kernels::ref(x.grad_buffer()), top, left});
      });
  return y;
}

}  // namespace fer
