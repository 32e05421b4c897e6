// loom/autograd/node.hpp — one recorded operation in the autograd graph.
//
// When an op runs on inputs that require grad (and recording is on), it attaches
// a Node to its output(s). The Node keeps
//   inputs    the op's inputs that require grad (others are left undefined),
//   backward  a function from dL/d(output) to one dL/d(input) per input,
//             i.e. the vector-Jacobian product of the op,
//   grads     dL/d(output), one per output, summed over all uses of that
//             output while backward() walks the graph.
// Most ops have one output. Some (an LSTM layer: sequence, h_n, c_n) have
// several; each output tensor remembers its index, and backward receives one
// gradient per output — undefined for an output that did not reach the loss.
// Edges point from a node to the tensors it consumed, and from a tensor to the
// node that made it, so the graph is a DAG of shared_ptrs without cycles. To keep
// it so, a backward function must capture the tensors it needs through
// detach() (data only, no history), never the op's own output.
#pragma once

#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "loom/autograd/grad_mode.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

template <typename T>
struct Node {
    using BackwardFn = std::function<std::vector<Tensor<T>>(const std::vector<Tensor<T>>& grad_outputs)>;

    const char* name = "";
    std::vector<Tensor<T>> inputs;
    BackwardFn backward;
    std::vector<Tensor<T>> grads;  // one slot per output
    bool released = false;         // backward() freed the saved tensors

    Node() = default;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;

    // Frees what backward() needs; the node stays as a marker so that a second
    // backward() through it can report the mistake.
    void release() {
        backward = nullptr;
        inputs.clear();
        released = true;
    }

    // A long chain (an RNN unrolled over thousands of steps) would be destroyed
    // by recursion, one stack frame per node, and could overflow the stack.
    // Instead, nodes that only we own are moved to a worklist and destroyed in a
    // loop after their own inputs have been taken the same way.
    ~Node() {
        std::vector<std::shared_ptr<Node>> pending;
        take_unshared_producers(inputs, pending);
        while (!pending.empty()) {
            std::shared_ptr<Node> node = std::move(pending.back());
            pending.pop_back();
            take_unshared_producers(node->inputs, pending);
        }
    }

private:
    static void take_unshared_producers(std::vector<Tensor<T>>& tensors,
                                        std::vector<std::shared_ptr<Node>>& pending) {
        for (Tensor<T>& tensor : tensors) {
            if (tensor.defined() && tensor.use_count() == 1 && tensor.grad_fn() &&
                tensor.grad_fn().use_count() == 1) {
                pending.push_back(tensor.take_grad_fn());
            }
        }
        tensors.clear();
    }
};

// True when an op on these inputs must be recorded.
template <typename T, typename... Rest>
bool needs_grad(const Tensor<T>& first, const Rest&... rest) {
    return is_grad_enabled() && (first.requires_grad() || ... || rest.requires_grad());
}
template <typename T>
bool needs_grad(const std::vector<Tensor<T>>& tensors) {
    if (!is_grad_enabled()) return false;
    for (const auto& tensor : tensors)
        if (tensor.requires_grad()) return true;
    return false;
}

// Attaches one node for op `name` to all its `outputs`. backward maps the
// output gradients to input gradients. Inputs that do not require grad are
// stored as undefined tensors, so the graph does not keep them alive.
template <typename T>
void record_multi(const std::vector<Tensor<T>*>& outputs, const char* name, std::vector<Tensor<T>> inputs,
                  typename Node<T>::BackwardFn backward) {
    auto node = std::make_shared<Node<T>>();
    node->name = name;
    for (Tensor<T>& input : inputs)
        if (!input.requires_grad()) input = Tensor<T>();
    node->inputs = std::move(inputs);
    node->backward = std::move(backward);
    node->grads.resize(outputs.size());
    for (std::size_t k = 0; k < outputs.size(); ++k) outputs[k]->set_grad_fn(node, static_cast<int>(k));
}

// The common case, one output: backward(grad_output) returns one gradient per
// input (undefined where an input needs none).
template <typename T, typename Fn>
void record(Tensor<T>& output, const char* name, std::vector<Tensor<T>> inputs, Fn backward) {
    record_multi<T>({&output}, name, std::move(inputs),
                    [backward = std::move(backward)](const std::vector<Tensor<T>>& grad_outputs) {
                        return backward(grad_outputs[0]);
                    });
}

}  // namespace loom
