#pragma once
// Activation-gradient memory of a recorded step (Graph), shared between gradients whose lives do not overlap.
//
// A Graph's backward walk is static, so each intermediate gradient has a known live interval in it: from the first
// node of the walk that touches it (a consumer's backward writes or adds to it) to the last (its producer's backward
// reads it). The arena is one storage; each such gradient is a contiguous view of it at an offset chosen by interval
// packing (largest first, best fit among the gaps left by the gradients live at the same time), so gradients with
// disjoint intervals share bytes.
//
// A view is attached to its tensor (TensorImpl::grad) only inside its interval: just before the first consumer that
// runs, zero-filled then unless that consumer writes the whole gradient (Node::overwrite), because the bytes hold a
// previous tenant's values; and it is detached after the last node touching it. After backward those tensors have no
// gradient (grad() undefined), never a stale one. Graph::retain_grad keeps a tensor's gradient out of the arena.
//
// Kept out of the arena (one buffer each, living as before): leaves (parameters' gradients, which optimizers read),
// the root, retained tensors, tensors off the CPU (a CUDA graph captures the pointers it replays), tensors written by
// several nodes (in place), and gradients that exist at planning time and are shared with another tensor (DenseNet's
// block buffer and its channel-prefix views) or held by a caller.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fer/autograd/node.hpp"
#include "fer/core/storage.hpp"
#include "fer/core/tensor.hpp"

namespace fer::autograd {

class GradArena {
 public:
  // Byte alignment of every gradient's offset (a cache line, and a multiple of every dtype's size).
  static constexpr size_t kAlignment = 64;

  struct Slot {
    Tensor tensor;                      // the intermediate whose gradient lives in the arena
    std::shared_ptr<TensorImpl> view;   // that gradient: a contiguous view of the arena's storage
    size_t bytes = 0;                   // its size rounded up to kAlignment
    size_t offset = 0;                  // byte offset in the arena
    size_t first = 0, last = 0;         // walk steps (0: the last node, run first) of its first and last touch
  };

  // Plans the arena of `nodes` (execution order) backpropagated from `root`, leaving out `retained`. Call it with no
  // view attached (between backward walks). A gradient a tensor already owns alone is dropped: the arena replaces it.
  void plan(const std::vector<std::unique_ptr<Node>>& nodes, const Tensor& root,
            const std::unordered_set<const TensorImpl*>& retained) {
    clear();
    const size_t n_nodes = nodes.size();
    attach_.assign(n_nodes, {});
    detach_.assign(n_nodes, {});

    std::unordered_map<const TensorImpl*, int> producers;
    for (const auto& n : nodes) {
      std::unordered_set<const TensorImpl*> outs;
      for (const Tensor& o : n->outputs)
        if (o.defined() && outs.insert(o.impl()).second) ++producers[o.impl()];
    }
    auto eligible = [&](const Tensor& t) {
      const TensorImpl* impl = t.impl();
      if (!t.requires_grad() || impl->is_leaf || !t.device().is_cpu()) return false;
      if (root.defined() && impl == root.impl()) return false;
      if (retained.count(impl)) return false;
      const auto p = producers.find(impl);
      if (p == producers.end() || p->second != 1) return false;
      const std::shared_ptr<TensorImpl>& g = impl->grad;
      // An existing gradient may be replaced only when nothing else sees it (no view shares its storage).
      return !g || (g.use_count() == 1 && g->storage.use_count() == 1);
    };

    // Intervals over the walk: step w runs node n_nodes - 1 - w.
    std::unordered_map<const TensorImpl*, size_t> index;  // tensor -> slot
    for (size_t w = 0; w < n_nodes; ++w) {
      const size_t i = n_nodes - 1 - w;
      const Node& n = *nodes[i];
      if (!n.backward) continue;  // touches no gradient
      for (size_t k = 0; k < n.inputs.size(); ++k) {
        const Tensor& t = n.inputs[k];
        if (!t.defined()) continue;
        auto it = index.find(t.impl());
        if (it == index.end()) {
          if (!eligible(t)) continue;
          it = index.emplace(t.impl(), slots_.size()).first;
          Slot s;
          s.tensor = t;
          s.bytes = round_up(size_t(t.numel()) * dtype_size(t.dtype()));
          s.first = s.last = w;
          slots_.push_back(std::move(s));
        }
        slots_[it->second].last = w;
        attach_[i].push_back({uint32_t(it->second), uint32_t(k)});
      }
      for (const Tensor& o : n.outputs) {  // the producer reads the gradient last
        if (!o.defined()) continue;
        const auto it = index.find(o.impl());
        if (it != index.end()) slots_[it->second].last = w;
      }
    }
    for (size_t s = 0; s < slots_.size(); ++s) detach_[n_nodes - 1 - slots_[s].last].push_back(uint32_t(s));

    pack();
    if (bytes_ > 0) storage_ = std::make_shared<Storage>(bytes_, Device::cpu());
    for (Slot& s : slots_) {
      s.tensor.impl()->grad.reset();
      auto v = std::make_shared<TensorImpl>();
      v->storage = storage_;
      v->offset = int64_t(s.offset / dtype_size(s.tensor.dtype()));
      v->shape = s.tensor.shape();
      v->strides = contiguous_strides(v->shape);
      v->dtype = s.tensor.dtype();
      s.view = std::move(v);
    }
  }

  // Detaches every view and forgets the plan: the tensors get buffers of their own again on their next backward.
  void clear() {
    detach_all();
    slots_.clear();
    attach_.clear();
    detach_.clear();
    storage_.reset();
    bytes_ = 0;
  }

  // Before a walk: no view is attached (a walk cut short by an exception may have left some).
  void detach_all() {
    for (const Slot& s : slots_)
      if (s.tensor.impl()->grad == s.view) s.tensor.impl()->grad.reset();
  }
  // Whether node i has arena inputs to attach before its backward.
  bool attaches(size_t i) const { return i < attach_.size() && !attach_[i].empty(); }
  // Before node i's backward, when it runs: gives each arena input still without a gradient its view, zero-filled
  // unless the node writes that input's whole gradient.
  void attach(size_t i, const Node& n) const {
    for (const Attach& a : attach_[i]) {
      const Slot& s = slots_[a.slot];
      TensorImpl* impl = s.tensor.impl();
      if (impl->grad) continue;
      impl->grad = s.view;
      if (!(a.input < n.overwrite.size() && n.overwrite[a.input])) Tensor(s.view).zero_();
    }
  }
  // After node i (run or skipped): detaches the gradients it touched last.
  void detach(size_t i) const {
    if (i >= detach_.size()) return;
    for (uint32_t k : detach_[i]) slots_[k].tensor.impl()->grad.reset();
  }

  // The arena's size in bytes, and the sum of the gradients it holds (each rounded up to kAlignment).
  size_t bytes() const { return bytes_; }
  size_t gradient_bytes() const {
    size_t total = 0;
    for (const Slot& s : slots_) total += s.bytes;
    return total;
  }
  const std::vector<Slot>& slots() const { return slots_; }
  bool holds(const Tensor& t) const {
    for (const Slot& s : slots_)
      if (s.tensor.same(t)) return true;
    return false;
  }

 private:
  struct Attach {
    uint32_t slot, input;
  };

  static size_t round_up(size_t b) { return (b + kAlignment - 1) / kAlignment * kAlignment; }

  // Largest first; each gradient takes the smallest gap, among those left by the already placed gradients whose
  // intervals overlap its own, that fits it, or goes above them all.
  void pack() {
    std::vector<size_t> order(slots_.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      if (slots_[a].bytes != slots_[b].bytes) return slots_[a].bytes > slots_[b].bytes;
      return slots_[a].first < slots_[b].first;
    });
    std::vector<size_t> placed;
    std::vector<std::pair<size_t, size_t>> busy;  // [offset, end) of the overlapping placed gradients
    for (size_t k : order) {
      Slot& s = slots_[k];
      busy.clear();
      for (size_t p : placed) {
        const Slot& o = slots_[p];
        if (o.first <= s.last && s.first <= o.last) busy.emplace_back(o.offset, o.offset + o.bytes);
      }
      std::sort(busy.begin(), busy.end());
      size_t cursor = 0, best = SIZE_MAX, best_gap = SIZE_MAX;
      for (const auto& [lo, hi] : busy) {
        if (lo > cursor && lo - cursor >= s.bytes && lo - cursor < best_gap) best = cursor, best_gap = lo - cursor;
        cursor = std::max(cursor, hi);
      }
      s.offset = best != SIZE_MAX ? best : cursor;
      bytes_ = std::max(bytes_, s.offset + s.bytes);
      placed.push_back(k);
    }
  }

  std::vector<Slot> slots_;
  std::vector<std::vector<Attach>> attach_;   // per node index: its arena inputs
  std::vector<std::vector<uint32_t>> detach_;  // per node index: the slots it touches last
  std::shared_ptr<Storage> storage_;
  size_t bytes_ = 0;
};

}  // namespace fer::autograd
