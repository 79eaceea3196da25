#pragma once
// Which gradient buffers a recorded step (Graph) writes instead of zero-filling and adding to.
//
// Backward walks the nodes in reverse. The first node of that walk to touch a gradient buffer may write it (=)
// instead of adding to a zero-filled buffer when it writes the whole buffer, nothing read the buffer before, and the
// node's backward says it can for that input (Node::writable). The same buffer must be zero-filled before each
// backward otherwise. Buffers are grouped by storage: a view whose gradient is a slice of a larger one (channel_prefix
// over DenseNet's block buffer) shares it, and a node writing only that slice never counts as a whole writer.
// Parameters and other leaves always accumulate (optimizers rely on zero_grad semantics).
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fer/autograd/node.hpp"

namespace fer::autograd {

namespace detail {

// The storage a tensor's gradient lives in and whether the tensor's gradient covers all of it. A gradient that does
// not exist yet at capture is created later as a fresh buffer of the tensor's own, so the tensor stands for it.
struct GradStorage {
  const void* key;
  bool whole;
};
inline GradStorage grad_storage(const Tensor& t) {
  const std::shared_ptr<TensorImpl>& g = t.impl()->grad;
  if (!g) return {t.impl(), true};
  const Tensor gt(g);
  const bool whole = gt.offset() == 0 && gt.is_contiguous() &&
                     size_t(gt.numel()) * dtype_size(gt.dtype()) == gt.storage()->bytes();
  return {gt.storage().get(), whole};
}

}  // namespace detail

// Sets every node's `overwrite` flags and returns the intermediate tensors whose gradients must still be zero-filled
// before each backward. With `always_accumulate` no node overwrites, and every intermediate is zero-filled.
inline std::vector<Tensor> plan_written_grads(const std::vector<std::unique_ptr<Node>>& nodes, const Tensor& root,
                                              bool always_accumulate) {
  std::unordered_set<const TensorImpl*> produced;
  for (const auto& n : nodes)
    for (const Tensor& o : n->outputs) produced.insert(o.impl());

  std::unordered_set<const void*> touched;  // storages some earlier node of the backward walk read or wrote
  std::unordered_set<const TensorImpl*> written;
  if (root.defined()) touched.insert(detail::grad_storage(root).key);  // the seed is copied in first
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node& n = **it;
    n.overwrite.assign(n.inputs.size(), false);
    if (!n.backward) continue;  // reads and writes no gradient
    for (const Tensor& o : n.outputs) touched.insert(detail::grad_storage(o).key);
    std::unordered_map<const TensorImpl*, int> uses;
    for (const Tensor& t : n.inputs)
      if (t.defined()) ++uses[t.impl()];
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const Tensor& t = n.inputs[i];
      if (!t.defined()) continue;
      const detail::GradStorage s = detail::grad_storage(t);
      const bool first = touched.insert(s.key).second;
      // An input listed twice is written twice by this node: the second write must add.
      const bool may = !always_accumulate && n.writable.has(i) && t.requires_grad() && !t.impl()->is_leaf &&
                       produced.count(t.impl()) && uses[t.impl()] == 1 && s.whole;
      if (first && may) {
        n.overwrite[i] = true;
        written.insert(t.impl());
      }
    }
  }

  std::vector<Tensor> zeroed;
  std::unordered_set<const TensorImpl*> seen;  // a buffer written in place by several nodes is zeroed once
  for (const auto& n : nodes)
    for (const Tensor& o : n->outputs)
      if (!written.count(o.impl()) && seen.insert(o.impl()).second) zeroed.push_back(o);
  return zeroed;
}

}  // namespace fer::autograd
