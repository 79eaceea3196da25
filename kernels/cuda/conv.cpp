// cuDNN convolutions (legacy API of cuDNN 9): descriptors and algorithms are chosen once per geometry, dtype, layout
// and TF32 setting, cached, and reused by every later call. Plain C++ against cudnn.h.
//
// Math types: exact f32 needs CUDNN_FMA_MATH (CUDNN_DEFAULT_MATH permits TF32 on Ampere and later); with TF32
// allowed f32 runs with the algorithm's own math type, f16/bf16 with tensor cores; f64 has no tensor-op variant.
// Algorithms come from the heuristics (cudnnGet*_v7: no trial runs, no allocation, safe inside graph capture);
// among the supported ones a deterministic algorithm is preferred, so training runs repeat bit for bit.
#include <cudnn.h>
#include <cuda_runtime.h>

#include <array>
#include <climits>
#include <map>
#include <memory>
#include <mutex>

#include "fer/kernels/gemm.hpp"
#include "fer/kernels/runtime.hpp"
#include "kernels/cuda/conv_parts.hpp"

namespace fer::cuda {

namespace {

void check_cudnn(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) fail("cuDNN error in ", what, ": ", cudnnGetErrorString(s));
}

int as_int(int64_t v) {
  FER_CHECK(v >= 0 && v <= INT_MAX, "conv2d: size ", v, " does not fit cuDNN's int");
  return int(v);
}

// Workspaces above this are not considered (an algorithm that needs more is skipped).
constexpr size_t kMaxWorkspace = size_t(1) << 30;

cudnnDataType_t data_type(DType dt) {
  switch (dt) {
    case DType::f32: return CUDNN_DATA_FLOAT;
    case DType::f64: return CUDNN_DATA_DOUBLE;
    case DType::f16: return CUDNN_DATA_HALF;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    default: fail("conv2d: no CUDA kernel for dtype ", dtype_name(dt));
  }
}

struct Algo {
  bool chosen = false, found = false;
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

// Descriptors of one convolution (one conv descriptor per pass: each carries its algorithm's math type).
struct Entry {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  std::array<cudnnConvolutionDescriptor_t, 3> conv{};
  std::array<Algo, 3> algos{};
  bool strict_f32 = false;
  bool f64 = false;
};

using Key = std::array<int64_t, 21>;

Key make_key(const CudnnConv& g, DType dt, ConvLayout layout, int device) {
  return {g.n, g.h, g.w, g.c, g.o, g.kh, g.kw, g.ho, g.wo, g.stride_h, g.stride_w, g.pad_h, g.pad_w, g.dil_h,
          g.dil_w, g.groups, int64_t(dt), int64_t(layout), int64_t(kernels::allow_tf32()), int64_t(device), 0};
}

cudnnMathType_t requested_math(DType dt) {
  if (dt == DType::f32) return kernels::allow_tf32() ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
  if (dt == DType::f64) return CUDNN_DEFAULT_MATH;
  return CUDNN_TENSOR_OP_MATH;
}

Entry* make_entry(const CudnnConv& g, DType dt, ConvLayout layout) {
  auto e = std::make_unique<Entry>();
  const cudnnDataType_t type = data_type(dt);
  const cudnnDataType_t compute = dt == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  const cudnnTensorFormat_t format = layout == ConvLayout::nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  e->strict_f32 = dt == DType::f32 && !kernels::allow_tf32();
  e->f64 = dt == DType::f64;
  FER_CHECK(g.groups >= 1 && g.c % g.groups == 0 && g.o % g.groups == 0, "conv2d: bad groups ", g.groups);
  check_cudnn(cudnnCreateTensorDescriptor(&e->x), "cudnnCreateTensorDescriptor");
  check_cudnn(cudnnCreateTensorDescriptor(&e->y), "cudnnCreateTensorDescriptor");
  check_cudnn(cudnnCreateFilterDescriptor(&e->w), "cudnnCreateFilterDescriptor");
  check_cudnn(cudnnSetTensor4dDescriptor(e->x, format, type, as_int(g.n), as_int(g.c), as_int(g.h), as_int(g.w)),
              "cudnnSetTensor4dDescriptor (x)");
  check_cudnn(cudnnSetTensor4dDescriptor(e->y, format, type, as_int(g.n), as_int(g.o), as_int(g.ho), as_int(g.wo)),
              "cudnnSetTensor4dDescriptor (y)");
  check_cudnn(cudnnSetFilter4dDescriptor(e->w, type, format, as_int(g.o), as_int(g.c / g.groups), as_int(g.kh),
                                         as_int(g.kw)),
              "cudnnSetFilter4dDescriptor");
  for (auto& cd : e->conv) {
    check_cudnn(cudnnCreateConvolutionDescriptor(&cd), "cudnnCreateConvolutionDescriptor");
    check_cudnn(cudnnSetConvolution2dDescriptor(cd, as_int(g.pad_h), as_int(g.pad_w), as_int(g.stride_h),
                                                as_int(g.stride_w), as_int(g.dil_h), as_int(g.dil_w),
                                                CUDNN_CROSS_CORRELATION, compute),
                "cudnnSetConvolution2dDescriptor");
    check_cudnn(cudnnSetConvolutionGroupCount(cd, as_int(g.groups)), "cudnnSetConvolutionGroupCount");
    check_cudnn(cudnnSetConvolutionMathType(cd, requested_math(dt)), "cudnnSetConvolutionMathType");
  }
  int n = 0, c = 0, h = 0, w = 0;
  check_cudnn(cudnnGetConvolution2dForwardOutputDim(e->conv[0], e->x, e->w, &n, &c, &h, &w),
              "cudnnGetConvolution2dForwardOutputDim");
  FER_CHECK(n == g.n && c == g.o && h == g.ho && w == g.wo, "conv2d: cuDNN output [", n, ", ", h, ", ", w, ", ", c,
            "] differs from the expected [", g.n, ", ", g.ho, ", ", g.wo, ", ", g.o, "]");
  return e.release();  // owned by the cache, which lives as long as the process
}

// Picks an algorithm from the heuristics' ranked list: the first supported deterministic one within the workspace
// limit, else the first supported one. Exact f32 skips tensor-op entries (they would round to TF32) and transforms.
// Transform-based algorithms (FFT, Winograd) round differently from a direct sum: exact f32 leaves them out.
bool transform_algo(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool transform_algo(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
bool transform_algo(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

template <class Perf>
Algo pick(const Perf* perf, int count, bool strict_f32) {
  Algo best, any, other_math;
  for (int i = 0; i < count; ++i) {
    const Perf& p = perf[i];
    if (p.status != CUDNN_STATUS_SUCCESS || p.memory > kMaxWorkspace) continue;
    if (strict_f32 && transform_algo(p.algo)) continue;
    Algo a;
    a.chosen = a.found = true;
    a.algo = int(p.algo);
    a.math = strict_f32 ? CUDNN_FMA_MATH : p.mathType;
    if (strict_f32 && p.mathType != CUDNN_FMA_MATH && p.mathType != CUDNN_DEFAULT_MATH) {
      if (!other_math.found) other_math = a;  // last resort, still run with FMA math
      continue;
    }
    if (!any.found) any = a;
    if (p.determinism == CUDNN_DETERMINISTIC) {
      best = a;
      break;
    }
  }
  Algo r = best.found ? best : any.found ? any : other_math;
  r.chosen = true;
  return r;
}

void choose(Entry& e, ConvPass pass, cudnnHandle_t h) {
  Algo& a = e.algos[size_t(pass)];
  if (a.chosen) return;
  cudnnConvolutionDescriptor_t cd = e.conv[size_t(pass)];
  int returned = 0;
  if (pass == ConvPass::forward) {
    std::array<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT> perf{};
    check_cudnn(cudnnGetConvolutionForwardAlgorithm_v7(h, e.x, e.w, cd, e.y, int(perf.size()), &returned, perf.data()),
                "cudnnGetConvolutionForwardAlgorithm_v7");
    a = pick(perf.data(), returned, e.strict_f32);
    if (a.found) {
      check_cudnn(cudnnSetConvolutionMathType(cd, a.math), "cudnnSetConvolutionMathType");
      check_cudnn(cudnnGetConvolutionForwardWorkspaceSize(h, e.x, e.w, cd, e.y, cudnnConvolutionFwdAlgo_t(a.algo),
                                                          &a.workspace),
                  "cudnnGetConvolutionForwardWorkspaceSize");
    }
  } else if (pass == ConvPass::backward_data) {
    std::array<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT> perf{};
    check_cudnn(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, e.w, e.y, cd, e.x, int(perf.size()), &returned,
                                                            perf.data()),
                "cudnnGetConvolutionBackwardDataAlgorithm_v7");
    a = pick(perf.data(), returned, e.strict_f32);
    if (a.found) {
      check_cudnn(cudnnSetConvolutionMathType(cd, a.math), "cudnnSetConvolutionMathType");
      check_cudnn(cudnnGetConvolutionBackwardDataWorkspaceSize(h, e.w, e.y, cd, e.x,
                                                               cudnnConvolutionBwdDataAlgo_t(a.algo), &a.workspace),
                  "cudnnGetConvolutionBackwardDataWorkspaceSize");
    }
  } else {
    std::array<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT> perf{};
    check_cudnn(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, e.x, e.y, cd, e.w, int(perf.size()), &returned,
                                                              perf.data()),
                "cudnnGetConvolutionBackwardFilterAlgorithm_v7");
    a = pick(perf.data(), returned, e.strict_f32);
    if (a.found) {
      check_cudnn(cudnnSetConvolutionMathType(cd, a.math), "cudnnSetConvolutionMathType");
      check_cudnn(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, e.x, e.y, cd, e.w,
                                                                 cudnnConvolutionBwdFilterAlgo_t(a.algo), &a.workspace),
                  "cudnnGetConvolutionBackwardFilterWorkspaceSize");
    }
  }
}

// The cached entry of a convolution with the algorithm of `pass` chosen.
Entry& entry(const CudnnConv& g, DType dt, ConvLayout layout, ConvPass pass, int device) {
  static std::mutex mu;
  static std::map<Key, Entry*> cache;
  FER_CHECK(cudaSetDevice(device) == cudaSuccess, "conv2d: cudaSetDevice(", device, ") failed");
  auto h = static_cast<cudnnHandle_t>(cudnn_handle(device));
  std::lock_guard<std::mutex> lock(mu);
  Entry*& e = cache[make_key(g, dt, layout, device)];
  if (!e) e = make_entry(g, dt, layout);
  choose(*e, pass, h);
  return *e;
}

const Algo& found_algo(const Entry& e, ConvPass pass, const char* what) {
  const Algo& a = e.algos[size_t(pass)];
  FER_CHECK(a.found, "conv2d: cuDNN has no algorithm for the ", what, " pass of this convolution");
  return a;
}

struct Scalars {
  double d1 = 1.0, d0 = 0.0;
  float f1 = 1.0f, f0 = 0.0f;
  const void* one(bool f64) const { return f64 ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1); }
  const void* beta(bool f64, bool accumulate) const {
    if (f64) return accumulate ? static_cast<const void*>(&d1) : static_cast<const void*>(&d0);
    return accumulate ? static_cast<const void*>(&f1) : static_cast<const void*>(&f0);
  }
};

void check_workspace(const Algo& a, size_t bytes) {
  FER_CHECK(bytes >= a.workspace, "conv2d: workspace of ", bytes, " bytes, cuDNN needs ", a.workspace);
}

}  // namespace

bool cudnn_conv_nhwc_supported(const CudnnConv& g, DType dt, int device) {
  for (ConvPass p : {ConvPass::forward, ConvPass::backward_data, ConvPass::backward_filter})
    if (!entry(g, dt, ConvLayout::nhwc, p, device).algos[size_t(p)].found) return false;
  return true;
}

size_t cudnn_conv_workspace(const CudnnConv& g, DType dt, ConvLayout layout, ConvPass pass, int device) {
  const Entry& e = entry(g, dt, layout, pass, device);
  return found_algo(e, pass, pass == ConvPass::forward ? "forward" : pass == ConvPass::backward_data ? "input-gradient" : "weight-gradient").workspace;
}

void cudnn_conv_forward(const CudnnConv& g, DType dt, ConvLayout layout, const void* x, const void* w, void* y,
                        bool accumulate, void* workspace, size_t workspace_bytes, int device) {
  const Entry& e = entry(g, dt, layout, ConvPass::forward, device);
  const Algo& a = found_algo(e, ConvPass::forward, "forward");
  check_workspace(a, workspace_bytes);
  Scalars s;
  check_cudnn(cudnnConvolutionForward(static_cast<cudnnHandle_t>(cudnn_handle(device)), s.one(e.f64), e.x, x, e.w, w,
                                      e.conv[0], cudnnConvolutionFwdAlgo_t(a.algo), workspace, workspace_bytes,
                                      s.beta(e.f64, accumulate), e.y, y),
              "cudnnConvolutionForward");
}

void cudnn_conv_backward_data(const CudnnConv& g, DType dt, ConvLayout layout, const void* gy, const void* w, void* gx,
                              bool accumulate, void* workspace, size_t workspace_bytes, int device) {
  const Entry& e = entry(g, dt, layout, ConvPass::backward_data, device);
  const Algo& a = found_algo(e, ConvPass::backward_data, "input-gradient");
  check_workspace(a, workspace_bytes);
  Scalars s;
  check_cudnn(cudnnConvolutionBackwardData(static_cast<cudnnHandle_t>(cudnn_handle(device)), s.one(e.f64), e.w, w, e.y,
                                           gy, e.conv[1], cudnnConvolutionBwdDataAlgo_t(a.algo), workspace,
                                           workspace_bytes, s.beta(e.f64, accumulate), e.x, gx),
              "cudnnConvolutionBackwardData");
}

void cudnn_conv_backward_filter(const CudnnConv& g, DType dt, ConvLayout layout, const void* gy, const void* x,
                                void* gw, bool accumulate, void* workspace, size_t workspace_bytes, int device) {
  const Entry& e = entry(g, dt, layout, ConvPass::backward_filter, device);
  const Algo& a = found_algo(e, ConvPass::backward_filter, "weight-gradient");
  check_workspace(a, workspace_bytes);
  Scalars s;
  check_cudnn(cudnnConvolutionBackwardFilter(static_cast<cudnnHandle_t>(cudnn_handle(device)), s.one(e.f64), e.x, x,
                                             e.y, gy, e.conv[2], cudnnConvolutionBwdFilterAlgo_t(a.algo), workspace,
                                             workspace_bytes, s.beta(e.f64, accumulate), e.w, gw),
              "cudnnConvolutionBackwardFilter");
}

}  // namespace fer::cuda
