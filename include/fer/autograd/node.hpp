#pragma once
// One recorded op of the autograd tape (fer/autograd/tape.hpp), and the query its backward makes to learn whether it
// writes or adds to an input's gradient buffer.
#include <functional>
#include <vector>

#include "fer/core/tensor.hpp"

namespace fer {

struct Node {
  const char* name = "";
  std::vector<Tensor> inputs;
  std::vector<Tensor> outputs;
  std::function<void()> forward;
  std::function<void()> backward;
  // The backward honours autograd::overwrites(i): it writes every input gradient it is told to overwrite whole.
  bool backward_can_overwrite = false;
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
