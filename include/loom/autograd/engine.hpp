// loom/autograd/engine.hpp — reverse-mode automatic differentiation.
//
// backward(L) computes dL/dx for every leaf x that requires grad. With the graph
// recorded by the ops, it is three steps:
//   1. order the nodes so that every node comes after the nodes of its inputs
//      (a depth-first post-order from L's node);
//   2. seed dL/dL = 1 and visit the nodes in reverse order: a node's `grads` are
//      complete once all its consumers were visited, so call its backward to get
//      dL/d(input) for each input and add that into the slot of the node that
//      made the input (or, for a leaf, into its .grad — summing over uses is the
//      multivariate chain rule);
//   3. free the graph, unless retain_graph was asked for.
// Gradients accumulate across calls until zero_grad(), as in PyTorch.
//
// A leaf's gradient is complete once the last node that uses the leaf has been
// visited. backward_with_hook() calls a function at that moment for every leaf
// that requires grad, while the rest of the graph is still being worked on: a
// data-parallel trainer (loom/distributed/) starts sending those gradients to
// the other processes then, so communication overlaps the rest of backward.
#pragma once

#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "loom/autograd/node.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

// Post-order DFS, iterative so that deep graphs cannot overflow the stack.
template <typename T>
std::vector<std::shared_ptr<Node<T>>> topological_order(const std::shared_ptr<Node<T>>& root) {
    std::vector<std::shared_ptr<Node<T>>> order;
    std::unordered_set<const Node<T>*> visited{root.get()};
    std::vector<std::pair<std::shared_ptr<Node<T>>, std::size_t>> stack{{root, 0}};
    while (!stack.empty()) {
        Node<T>& node = *stack.back().first;
        std::size_t& next_input = stack.back().second;
        if (next_input < node.inputs.size()) {
            const Tensor<T>& input = node.inputs[next_input++];
            if (input.defined() && input.grad_fn() && visited.insert(input.grad_fn().get()).second)
                stack.emplace_back(input.grad_fn(), 0);  // may reallocate: `node` is not used after this
        } else {
            order.push_back(std::move(stack.back().first));
            stack.pop_back();
        }
    }
    return order;
}

// Adds `gradient` into `sum`, reusing sum's buffer when nobody else sees it.
template <typename T>
void add_into(Tensor<T>& sum, Tensor<T> gradient) {
    if (!sum.defined()) {
        sum = std::move(gradient);
    } else if (sum.owns_storage_alone()) {
        sum.flat() += gradient.flat();
    } else {
        Tensor<T> total = sum.clone();
        total.flat() += gradient.flat();
        sum = std::move(total);
    }
}

// A leaf's .grad is visible to the user, who may scale it in place (clipping,
// optimizers), so it must never alias another tensor's memory.
template <typename T>
void accumulate_into_leaf(Tensor<T> leaf, Tensor<T> gradient) {
    Tensor<T> current = leaf.grad();
    if (current.defined()) {
        current.flat() += gradient.flat();
    } else {
        leaf.set_grad(gradient.owns_storage_alone() ? std::move(gradient) : gradient.clone());
    }
}

// How many graph edges still lead into each leaf that requires grad; when the
// count of a leaf reaches 0 its gradient is final and the hook is told.
template <typename T>
class LeafReadiness {
public:
    LeafReadiness(const std::vector<std::shared_ptr<Node<T>>>& order,
                  const std::function<void(const Tensor<T>&)>& on_ready)
        : on_ready_(on_ready) {
        if (!on_ready_) return;
        for (const auto& node : order)
            for (const Tensor<T>& input : node->inputs)
                if (tracked(input)) ++pending_[input.impl_ptr()];
    }

    // Every input of a visited node, whether or not a gradient flowed into it.
    void edge_done(const Tensor<T>& input) {
        if (!on_ready_ || !tracked(input)) return;
        if (--pending_[input.impl_ptr()] == 0) on_ready_(input);
    }

private:
    static bool tracked(const Tensor<T>& input) {
        return input.defined() && !input.grad_fn() && input.requires_grad();
    }

    const std::function<void(const Tensor<T>&)>& on_ready_;
    std::unordered_map<const TensorImpl<T>*, std::size_t> pending_;
};

}  // namespace detail

// The engine itself; on_leaf_ready may be empty (see the top of this file).
template <typename T>
void run_backward(const Tensor<T>& root, const Tensor<T>& gradient, bool retain_graph,
                  const std::function<void(const Tensor<T>&)>& on_leaf_ready = {}) {
    detail::check(root.defined(), "loom::backward: called on an undefined tensor");
    detail::check(root.requires_grad(), "loom::backward: the tensor of shape ", root.shape(),
                  " does not require grad: none of the inputs of the ops that made it requires grad,"
                  " or it was computed under NoGradGuard");
    Tensor<T> seed = gradient;
    if (!seed.defined()) {
        detail::check(root.numel() == 1, "loom::backward: the tensor has shape ", root.shape(),
                      "; a gradient can only be implied for a one-element tensor, so pass dL/d(tensor)"
                      " as backward(gradient)");
        seed = Tensor<T>::ones(root.shape());
    }
    detail::check(seed.shape() == root.shape(), "loom::backward: gradient shape ", seed.shape(),
                  " differs from the tensor's shape ", root.shape());

    if (root.is_leaf()) {
        detail::accumulate_into_leaf(root, seed);
        if (on_leaf_ready) on_leaf_ready(root);
        return;
    }

    const std::vector<std::shared_ptr<Node<T>>> order = detail::topological_order(root.grad_fn());
    // Check the whole graph before touching any gradient: failing halfway would
    // leave some leaves with a partial gradient added.
    for (const auto& node : order)
        detail::check(!node->released, "loom::backward: the graph through op '", node->name,
                      "' was freed by an earlier backward(); call the first backward(gradient, true)"
                      " (retain_graph) to run backward through it again");
    detail::add_into(root.grad_fn()->grads[static_cast<std::size_t>(root.output_index())], seed);
    detail::LeafReadiness<T> readiness(order, on_leaf_ready);

    for (auto it = order.rbegin(); it != order.rend(); ++it) {
        Node<T>& node = **it;
        bool reached = false;
        for (const Tensor<T>& grad : node.grads) reached = reached || grad.defined();
        if (!reached) {  // no path from this node to the loss
            for (const Tensor<T>& input : node.inputs) readiness.edge_done(input);
            continue;
        }
        const std::vector<Tensor<T>> grad_outputs = std::move(node.grads);
        node.grads.assign(grad_outputs.size(), Tensor<T>());
        std::vector<Tensor<T>> input_grads = node.backward(grad_outputs);
        detail::check(input_grads.size() == node.inputs.size(), "loom::backward: op '", node.name, "' returned ",
                      input_grads.size(), " gradients for ", node.inputs.size(), " inputs");
        for (std::size_t i = 0; i < node.inputs.size(); ++i) {
            const Tensor<T>& input = node.inputs[i];
            if (!input.defined() || !input_grads[i].defined()) continue;
            detail::check(input_grads[i].shape() == input.shape(), "loom::backward: op '", node.name,
                          "' returned a gradient of shape ", input_grads[i].shape(), " for input ", i,
                          " of shape ", input.shape());
            if (input.grad_fn())
                detail::add_into(input.grad_fn()->grads[static_cast<std::size_t>(input.output_index())],
                                 std::move(input_grads[i]));
            else
                detail::accumulate_into_leaf(input, std::move(input_grads[i]));
        }
        for (const Tensor<T>& input : node.inputs) readiness.edge_done(input);
    }

    if (!retain_graph)
        for (const auto& node : order) node->release();
}

// Free-function spelling of tensor.backward(...).
template <typename T>
void backward(const Tensor<T>& root, const Tensor<T>& gradient = Tensor<T>(), bool retain_graph = false) {
    run_backward(root, gradient, retain_graph);
}

// backward(root) that calls on_leaf_ready(leaf) as soon as each leaf's gradient
// is complete, in the order the sweep finishes them (roughly the reverse of the
// order the forward pass used the parameters). Each leaf is reported once.
template <typename T>
void backward_with_hook(const Tensor<T>& root, const std::function<void(const Tensor<T>&)>& on_leaf_ready,
                        const Tensor<T>& gradient = Tensor<T>(), bool retain_graph = false) {
    run_backward(root, gradient, retain_graph, on_leaf_ready);
}

}  // namespace loom
