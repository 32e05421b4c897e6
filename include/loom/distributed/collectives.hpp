// loom/distributed/collectives.hpp — what data-parallel training needs from
// MPI, in one call each: the same starting parameters everywhere, and the mean
// gradient.
//
// Data parallelism. N processes hold the same parameters θ; process r computes
// the mean loss L_r over its shard of a global batch (B/N examples) and its
// gradient g_r = ∂L_r/∂θ. The global batch's mean loss is L = (1/N) Σ_r L_r
// (equal shards), so its gradient is
//     g = (1/N) Σ_r g_r,
// an allreduce (sum over processes, result on every process) followed by a
// division by N. Every process then applies the same optimizer step to the same
// θ with the same g, and the parameters stay identical without ever being sent
// again.
//
// One flat buffer. allreduce_gradients() copies every gradient into one
// contiguous buffer and makes a single MPI_Allreduce over it: an allreduce
// costs a latency term per call plus a bandwidth term per byte, and one call
// per tensor would pay the latency dozens of times per step. The buffer ends
// with one count per parameter, 1 where this process has a gradient for it:
// after the sum, a parameter that no process had a gradient for keeps an
// undefined grad() (the optimizer skips it, as it would in one process), and
// one that only some processes had gets (1/N)·Σ over those (the others'
// contribution to the mean is zero).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

#include "loom/distributed/context.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom::distributed {

namespace detail {

using loom::detail::check;

template <typename T>
std::int64_t total_elements(const std::vector<Tensor<T>>& parameters, std::size_t begin, std::size_t end) {
    std::int64_t total = 0;
    for (std::size_t i = begin; i < end; ++i) total += parameters[i].numel();
    return total;
}

// Every process must hold the same list of parameter shapes, or the flat
// buffers would not line up: compares a count and a checksum of the shapes.
template <typename T>
void check_same_parameters(const std::vector<Tensor<T>>& parameters, const Context& context, const char* op) {
    long long mine[2] = {static_cast<long long>(parameters.size()), 0};
    for (const Tensor<T>& parameter : parameters)
        for (int d = 0; d < parameter.rank(); ++d) mine[1] = mine[1] * 1000003LL % 2147483647LL + parameter.shape()[d] + d;
    long long lowest[2], highest[2];
    check_mpi(MPI_Allreduce(mine, lowest, 2, MPI_LONG_LONG, MPI_MIN, context.communicator()), "MPI_Allreduce");
    check_mpi(MPI_Allreduce(mine, highest, 2, MPI_LONG_LONG, MPI_MAX, context.communicator()), "MPI_Allreduce");
    check(lowest[0] == highest[0] && lowest[1] == highest[1], op, ": the processes hold different parameter lists (",
          "this one ", parameters.size(), " tensors); every process must build the same model");
}

// Gradients of parameters [begin, end) into buffer, then one has-gradient
// count per parameter.
template <typename T>
void pack_gradients(const std::vector<Tensor<T>>& parameters, std::size_t begin, std::size_t end, std::vector<T>& buffer) {
    const std::int64_t elements = total_elements(parameters, begin, end);
    buffer.assign(static_cast<std::size_t>(elements) + (end - begin), T(0));
    T* out = buffer.data();
    for (std::size_t i = begin; i < end; ++i) {
        const Tensor<T> grad = parameters[i].grad();
        if (grad.defined()) std::copy(grad.data(), grad.data() + grad.numel(), out);
        out += parameters[i].numel();
        buffer[static_cast<std::size_t>(elements) + (i - begin)] = grad.defined() ? T(1) : T(0);
    }
}

// The summed buffer back into the gradients, divided by the world size.
template <typename T>
void unpack_mean_gradients(const std::vector<Tensor<T>>& parameters, std::size_t begin, std::size_t end,
                           const std::vector<T>& buffer, int world_size) {
    const std::int64_t elements = total_elements(parameters, begin, end);
    const T inverse = T(1) / static_cast<T>(world_size);
    const T* in = buffer.data();
    for (std::size_t i = begin; i < end; ++i) {
        Tensor<T> parameter = parameters[i];
        const bool anyone_had_it = buffer[static_cast<std::size_t>(elements) + (i - begin)] > T(0);
        if (anyone_had_it) {
            Tensor<T> grad = parameter.grad();
            if (!grad.defined()) {
                grad = Tensor<T>::zeros(parameter.shape());
                parameter.set_grad(grad);
            }
            T* values = grad.data();
            for (std::int64_t j = 0; j < parameter.numel(); ++j) values[j] = in[j] * inverse;
        }
        in += parameter.numel();
    }
}

}  // namespace detail

// Copies rank `root`'s parameter values into every other process's (one
// MPI_Bcast of a flat buffer). Call once after building the model, so that all
// processes start from the same θ whatever their seeds.
template <typename T>
void broadcast_parameters(const std::vector<Tensor<T>>& parameters, const Context& context, int root = 0) {
    detail::check(root >= 0 && root < context.world_size(), "loom::distributed::broadcast_parameters: root ", root,
                  " is not a rank of this world of ", context.world_size());
    detail::check_same_parameters(parameters, context, "loom::distributed::broadcast_parameters");
    std::vector<T> buffer(static_cast<std::size_t>(detail::total_elements(parameters, 0, parameters.size())));
    detail::check(buffer.size() <= static_cast<std::size_t>(INT32_MAX), "loom::distributed::broadcast_parameters: ",
                  buffer.size(), " values do not fit one MPI call (at most 2^31 - 1)");
    T* position = buffer.data();
    for (const Tensor<T>& parameter : parameters) {
        std::copy(parameter.data(), parameter.data() + parameter.numel(), position);
        position += parameter.numel();
    }
    check_mpi(MPI_Bcast(buffer.data(), static_cast<int>(buffer.size()), mpi_datatype<T>(), root, context.communicator()),
              "MPI_Bcast");
    position = buffer.data();
    for (Tensor<T> parameter : parameters) {
        std::copy(position, position + parameter.numel(), parameter.data());
        position += parameter.numel();
    }
}

// Replaces every parameter's gradient by the mean over the processes, with one
// MPI_Allreduce (see the top of this file).
template <typename T>
void allreduce_gradients(const std::vector<Tensor<T>>& parameters, const Context& context) {
    std::vector<T> buffer;
    detail::pack_gradients(parameters, 0, parameters.size(), buffer);
    detail::check(buffer.size() <= static_cast<std::size_t>(INT32_MAX), "loom::distributed::allreduce_gradients: ",
                  buffer.size(), " values do not fit one MPI call (at most 2^31 - 1)");
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, buffer.data(), static_cast<int>(buffer.size()), mpi_datatype<T>(), MPI_SUM,
                            context.communicator()),
              "MPI_Allreduce");
    detail::unpack_mean_gradients(parameters, 0, parameters.size(), buffer, context.world_size());
}

// The mean of one number over the processes (a loss for the log, a validation
// loss every process must agree on).
inline double allreduce_mean(double value, const Context& context) {
    double sum = 0.0;
    check_mpi(MPI_Allreduce(&value, &sum, 1, MPI_DOUBLE, MPI_SUM, context.communicator()), "MPI_Allreduce");
    return sum / static_cast<double>(context.world_size());
}

// True when any process passes true (a logical-or allreduce): decisions every
// process must take together, such as stopping after a Ctrl-C on one of them.
inline bool any_process(bool flag, const Context& context) {
    int mine = flag ? 1 : 0, result = 0;
    check_mpi(MPI_Allreduce(&mine, &result, 1, MPI_INT, MPI_LOR, context.communicator()), "MPI_Allreduce");
    return result != 0;
}

}  // namespace loom::distributed
