#pragma once
// One recorded op of the autograd tape (fer/autograd/tape.hpp), and the query its backward makes to learn whether it
// writes or adds to an input's gradient buffer.
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <vector>

#include "fer/core/tensor.hpp"

namespace fer {

// The inputs whose gradients a backward can write (=) instead of adding to, when autograd::overwrites(i) says so:
// it then writes the whole gradient of input i. One bit per input index (the first 64).
struct WritableGrads {
  uint64_t bits = 0;
  bool has(size_t input_index) const { return input_index < 64 && ((bits >> input_index) & 1u); }
};
inline WritableGrads writable_grads(std::initializer_list<size_t> input_indices) {
  WritableGrads w;
  for (size_t i : input_indices) w.bits |= uint64_t(1) << i;
  return w;
}
inline constexpr WritableGrads kAllGradsWritable{~uint64_t(0)};

struct Node {
  const char* name = "";
  std::vector<Tensor> inputs;
  std::vector<Tensor> outputs;
  std::function<void()> forward;
  std::function<void()> backward;
  // The inputs whose gradients the backward writes whole when autograd::overwrites(i) says so.
  WritableGrads writable;
  // Set by Graph::capture: overwrite[i] says the backward writes (=) input i's gradient instead of adding to it.
  std::vector<bool> overwrite;
};

namespace autograd {
namespace detail {
// The node whose backward is running (null outside run_backward): what overwrites() asks about.
inline const Node*& running_node() {
  thread_local const Node* node = nullptr;
  return node;
}
}  // namespace detail

// Whether the running backward must write (=) input i's gradient rather than add to it: false in an eager backward,
// true only where a Graph proved that this node is the first writer of that whole buffer.
inline bool overwrites(size_t input_index) {
  const Node* n = detail::running_node();
  return n && input_index < n->overwrite.size() && n->overwrite[input_index];
}
}  // namespace autograd

}  // namespace fer
