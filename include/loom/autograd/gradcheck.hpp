// loom/autograd/gradcheck.hpp — compare backward() with finite differences.
//
// For f: inputs -> tensor y, pick a fixed random upstream gradient w (seeded)
// and check the scalar s = sum(w ⊙ y). For every element x_j of every input:
//   analytic  a_j = ds/dx_j, from one backward(w) through the recorded graph;
//   numeric   n_j = (s(x_j + eps) - s(x_j - eps)) / (2 eps)  (central difference,
//             truncation error O(eps²)).
// The check passes when |a_j - n_j| <= tol * max(1, |a_j|, |n_j|) for all j: a
// relative error for gradients of size >= 1, an absolute one below that (where
// the rounding noise of the difference quotient, ~1e-10, would swamp a ratio).
// Like torch.autograd.gradcheck it works in double; f must be deterministic
// (re-seed any generator inside f). gradcheck() takes f's inputs and checks
// them; gradcheck_parameters() checks a whole model's parameters in place.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "loom/autograd/engine.hpp"
#include "loom/autograd/grad_mode.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

struct GradcheckReport {
    bool passed = true;
    double max_abs_error = 0.0;
    double max_rel_error = 0.0;  // |a - n| / max(1, |a|, |n|), the quantity compared with tol
    int worst_input = -1;        // which input holds the worst element (-1: none checked)
    index_t worst_index = -1;    // its flat (row-major) index
    double analytic = 0.0;       // the two gradients at the worst element
    double numeric = 0.0;
    index_t elements_checked = 0;

    std::string summary() const {
        std::ostringstream out;
        out << (passed ? "gradcheck passed" : "gradcheck FAILED") << ": " << elements_checked
            << " elements, max abs error " << max_abs_error << ", max rel error " << max_rel_error;
        if (worst_input >= 0)
            out << " (input " << worst_input << ", element " << worst_index << ": analytic " << analytic
                << ", numeric " << numeric << ")";
        return out.str();
    }
};

namespace detail {

// The comparison of both checks below: every element of every checked leaf
// perturbed in place by ±eps (and restored), weighted_sum() evaluated at both,
// the central difference set against the leaf's grad() from backward().
template <typename WeightedSum>
GradcheckReport compare_with_differences(std::vector<Tensor<double>>& leaves, const std::vector<bool>& checked,
                                         WeightedSum&& weighted_sum, double eps, double tol) {
    GradcheckReport report;
    for (std::size_t k = 0; k < leaves.size(); ++k) {
        if (!checked[k]) continue;
        Tensor<double>& leaf = leaves[k];
        const Tensor<double> analytic_grad = leaf.grad();
        double* x = leaf.data();
        for (index_t j = 0; j < leaf.numel(); ++j) {
            const double saved = x[j];
            x[j] = saved + eps;
            const double plus = weighted_sum();
            x[j] = saved - eps;
            const double minus = weighted_sum();
            x[j] = saved;
            const double numeric = (plus - minus) / (2.0 * eps);
            const double analytic = analytic_grad.defined() ? analytic_grad.data()[j] : 0.0;
            const double abs_error = std::abs(analytic - numeric);
            const double rel_error = abs_error / std::max({1.0, std::abs(analytic), std::abs(numeric)});
            ++report.elements_checked;
            report.max_abs_error = std::max(report.max_abs_error, abs_error);
            // NaN compares false with everything, so test for it explicitly: a NaN
            // gradient is the worst element and fails the check.
            const bool first = report.worst_input < 0;
            const bool worse = std::isnan(rel_error) || rel_error > report.max_rel_error;
            if ((first || worse) && !std::isnan(report.max_rel_error)) {
                report.max_rel_error = rel_error;
                report.worst_input = static_cast<int>(k);
                report.worst_index = j;
                report.analytic = analytic;
                report.numeric = numeric;
            }
            if (!(rel_error <= tol)) report.passed = false;
        }
    }
    return report;
}

}  // namespace detail

// fn: callable taking const std::vector<Tensor<double>>& and returning a Tensor<double>.
// Only inputs with requires_grad() set are perturbed and checked; if none is set,
// all are.
template <typename Fn>
GradcheckReport gradcheck(Fn&& fn, const std::vector<Tensor<double>>& inputs, double eps = 1e-6,
                          double tol = 1e-6, std::uint64_t seed = 0) {
    detail::check(!inputs.empty(), "loom::gradcheck: no inputs given");
    detail::check(eps > 0 && tol > 0, "loom::gradcheck: eps (", eps, ") and tol (", tol, ") must be positive");

    bool any_marked = false;
    for (const auto& input : inputs) any_marked = any_marked || input.requires_grad();
    std::vector<Tensor<double>> leaves;
    std::vector<bool> checked;
    for (const auto& input : inputs) {
        const bool check_this = !any_marked || input.requires_grad();
        Tensor<double> leaf = input.clone();  // a fresh leaf: our perturbations never touch the caller's data
        leaf.requires_grad_(check_this);
        leaves.push_back(leaf);
        checked.push_back(check_this);
    }

    Tensor<double> output = fn(leaves);
    detail::check(output.requires_grad(), "loom::gradcheck: the function's output does not depend on any",
                  " input that requires grad (shape ", output.shape(), ")");
    Generator generator(seed);
    const Tensor<double> weights = Tensor<double>::normal(output.shape(), 0.0, 1.0, generator);
    output.backward(weights);

    // s(x) = sum(w ⊙ f(x)), evaluated without recording.
    auto weighted_sum = [&]() {
        NoGradGuard no_grad;
        const Tensor<double> y = fn(leaves);
        detail::check(y.shape() == weights.shape(), "loom::gradcheck: the function's output shape changed from ",
                      weights.shape(), " to ", y.shape(), " between calls");
        return (y.flat() * weights.flat()).sum();
    };

    return detail::compare_with_differences(leaves, checked, weighted_sum, eps, tol);
}

// The same check for a model: fn() takes no inputs and reads `parameters`
// (e.g. module.parameters(): leaves that require grad) where they are; each
// element is perturbed in place and restored, so the model's values are
// unchanged afterwards. Any grads the parameters held before are replaced.
template <typename Fn>
GradcheckReport gradcheck_parameters(Fn&& fn, const std::vector<Tensor<double>>& parameters, double eps = 1e-6,
                                     double tol = 1e-6, std::uint64_t seed = 0) {
    detail::check(!parameters.empty(), "loom::gradcheck_parameters: no parameters given");
    detail::check(eps > 0 && tol > 0, "loom::gradcheck_parameters: eps (", eps, ") and tol (", tol,
                  ") must be positive");
    std::vector<Tensor<double>> leaves = parameters;
    for (std::size_t k = 0; k < leaves.size(); ++k) {
        detail::check(leaves[k].requires_grad(), "loom::gradcheck_parameters: parameter ", k, " (shape ",
                      leaves[k].shape(), ") does not require grad");
        leaves[k].zero_grad();
    }
    Tensor<double> output = fn();
    detail::check(output.requires_grad(), "loom::gradcheck_parameters: the function's output does not depend on",
                  " the parameters (shape ", output.shape(), ")");
    Generator generator(seed);
    const Tensor<double> weights = Tensor<double>::normal(output.shape(), 0.0, 1.0, generator);
    output.backward(weights);
    auto weighted_sum = [&]() {
        NoGradGuard no_grad;
        const Tensor<double> y = fn();
        detail::check(y.shape() == weights.shape(), "loom::gradcheck_parameters: the function's output shape changed",
                      " from ", weights.shape(), " to ", y.shape(), " between calls");
        return (y.flat() * weights.flat()).sum();
    };
    return detail::compare_with_differences(leaves, std::vector<bool>(leaves.size(), true), weighted_sum, eps, tol);
}

}  // namespace loom
