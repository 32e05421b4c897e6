// loom/ops/arithmetic.hpp — add, sub, mul, div (broadcasting), neg and scalar
// arithmetic, with the usual operators.
//
// Forward, for c = a ∘ b with a and b broadcast to c's shape:
//   add  c = a + b      sub  c = a - b      mul  c = a ⊙ b      div  c = a / b
// Backward, with g = dL/dc and sum_to() undoing the broadcast (see broadcast.hpp):
//   add  da = sum_to(g)          db = sum_to(g)
//   sub  da = sum_to(g)          db = -sum_to(g)
//   mul  da = sum_to(g ⊙ b)      db = sum_to(g ⊙ a)
//   div  da = sum_to(g / b)      db = -sum_to(g ⊙ a / b²) = -sum_to(g ⊙ c / b)
// Scalar forms: y = s·x gives dx = s·g; y = x + s gives dx = g.
#pragma once

#include <type_traits>

#include "loom/autograd/node.hpp"
#include "loom/ops/broadcast.hpp"
#include "loom/tensor/tensor.hpp"

namespace loom {

namespace detail {

// Keeps a scalar argument out of template deduction, so that x * 2.0 works for
// Tensor<float> (T is deduced from the tensor alone).
template <typename T>
using scalar_of = typename Tensor<T>::Scalar;

template <typename T, typename Fn>
Tensor<T> binary_forward(const Tensor<T>& a, const Tensor<T>& b, const char* op, Fn fn) {
    const Shape shape = broadcast_shape(a.shape(), b.shape(), op);
    Tensor<T> out = Tensor<T>::empty(shape);
    broadcast_binary(a, b, out, fn);
    return out;
}

// g ∘ x with x broadcast to g's shape (x's shape may be smaller).
template <typename T, typename Fn>
Tensor<T> with_broadcast(const Tensor<T>& g, const Tensor<T>& x, Fn fn) {
    Tensor<T> out = Tensor<T>::empty(g.shape());
    broadcast_binary(g, x, out, fn);
    return out;
}

template <typename T>
Tensor<T> negated(const Tensor<T>& x) {
    Tensor<T> out = Tensor<T>::empty(x.shape());
    out.flat() = -x.flat();
    return out;
}

}  // namespace detail

template <typename T>
Tensor<T> add(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out = detail::binary_forward(a, b, "loom::add", [](T x, T y) { return x + y; });
    if (needs_grad(a, b)) {
        record(out, "add", {a, b}, [sa = a.shape(), sb = b.shape()](const Tensor<T>& g) {
            return std::vector<Tensor<T>>{detail::sum_to(g, sa), detail::sum_to(g, sb)};
        });
    }
    return out;
}

template <typename T>
Tensor<T> sub(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out = detail::binary_forward(a, b, "loom::sub", [](T x, T y) { return x - y; });
    if (needs_grad(a, b)) {
        record(out, "sub", {a, b}, [sa = a.shape(), sb = b.shape(), b_needs = b.requires_grad()](const Tensor<T>& g) {
            Tensor<T> db = b_needs ? detail::negated(detail::sum_to(g, sb)) : Tensor<T>();
            return std::vector<Tensor<T>>{detail::sum_to(g, sa), db};
        });
    }
    return out;
}

template <typename T>
Tensor<T> mul(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out = detail::binary_forward(a, b, "loom::mul", [](T x, T y) { return x * y; });
    if (needs_grad(a, b)) {
        const bool a_needs = a.requires_grad();
        const bool b_needs = b.requires_grad();
        // Each gradient needs the other operand's values.
        record(out, "mul", {a, b},
               [a_saved = b_needs ? a.detach() : Tensor<T>(), b_saved = a_needs ? b.detach() : Tensor<T>(),
                sa = a.shape(), sb = b.shape(), a_needs, b_needs](const Tensor<T>& g) {
                   auto times = [](T x, T y) { return x * y; };
                   Tensor<T> da, db;
                   if (a_needs) da = detail::sum_to(detail::with_broadcast(g, b_saved, times), sa);
                   if (b_needs) db = detail::sum_to(detail::with_broadcast(g, a_saved, times), sb);
                   return std::vector<Tensor<T>>{da, db};
               });
    }
    return out;
}

template <typename T>
Tensor<T> div(const Tensor<T>& a, const Tensor<T>& b) {
    Tensor<T> out = detail::binary_forward(a, b, "loom::div", [](T x, T y) { return x / y; });
    if (needs_grad(a, b)) {
        const bool a_needs = a.requires_grad();
        const bool b_needs = b.requires_grad();
        record(out, "div", {a, b},
               [b_saved = b.detach(), c_saved = b_needs ? out.detach() : Tensor<T>(), sa = a.shape(),
                sb = b.shape(), a_needs, b_needs](const Tensor<T>& g) {
                   Tensor<T> da, db;
                   if (a_needs)
                       da = detail::sum_to(detail::with_broadcast(g, b_saved, [](T x, T y) { return x / y; }), sa);
                   if (b_needs) {
                       // -g ⊙ c / b, with c (same shape as g) and b broadcast.
                       Tensor<T> g_c = Tensor<T>::empty(g.shape());
                       g_c.flat() = -g.flat() * c_saved.flat();
                       db = detail::sum_to(detail::with_broadcast(g_c, b_saved, [](T x, T y) { return x / y; }), sb);
                   }
                   return std::vector<Tensor<T>>{da, db};
               });
    }
    return out;
}

template <typename T>
Tensor<T> neg(const Tensor<T>& x) {
    Tensor<T> out = detail::negated(x);
    if (needs_grad(x)) {
        record(out, "neg", {x}, [](const Tensor<T>& g) { return std::vector<Tensor<T>>{detail::negated(g)}; });
    }
    return out;
}

// y = scale · x
template <typename T>
Tensor<T> mul(const Tensor<T>& x, detail::scalar_of<T> scale) {
    Tensor<T> out = Tensor<T>::empty(x.shape());
    out.flat() = x.flat() * scale;
    if (needs_grad(x)) {
        record(out, "mul_scalar", {x}, [scale](const Tensor<T>& g) {
            Tensor<T> dx = Tensor<T>::empty(g.shape());
            dx.flat() = g.flat() * scale;
            return std::vector<Tensor<T>>{dx};
        });
    }
    return out;
}

// y = x + shift
template <typename T>
Tensor<T> add(const Tensor<T>& x, detail::scalar_of<T> shift) {
    Tensor<T> out = Tensor<T>::empty(x.shape());
    out.flat() = x.flat() + shift;
    if (needs_grad(x)) {
        record(out, "add_scalar", {x}, [](const Tensor<T>& g) { return std::vector<Tensor<T>>{g}; });
    }
    return out;
}

template <typename T>
Tensor<T> sub(const Tensor<T>& x, detail::scalar_of<T> shift) { return add(x, -shift); }
template <typename T>
Tensor<T> div(const Tensor<T>& x, detail::scalar_of<T> divisor) { return mul(x, T(1) / divisor); }

// s - x and s / x, for the operators below.
template <typename T>
Tensor<T> rsub(const Tensor<T>& x, detail::scalar_of<T> s) { return add(neg(x), s); }
template <typename T>
Tensor<T> rdiv(const Tensor<T>& x, detail::scalar_of<T> s) { return div(Tensor<T>::scalar(s), x); }

template <typename T> Tensor<T> operator+(const Tensor<T>& a, const Tensor<T>& b) { return add(a, b); }
template <typename T> Tensor<T> operator-(const Tensor<T>& a, const Tensor<T>& b) { return sub(a, b); }
template <typename T> Tensor<T> operator*(const Tensor<T>& a, const Tensor<T>& b) { return mul(a, b); }
template <typename T> Tensor<T> operator/(const Tensor<T>& a, const Tensor<T>& b) { return div(a, b); }
template <typename T> Tensor<T> operator-(const Tensor<T>& x) { return neg(x); }

template <typename T> Tensor<T> operator+(const Tensor<T>& x, detail::scalar_of<T> s) { return add(x, s); }
template <typename T> Tensor<T> operator+(detail::scalar_of<T> s, const Tensor<T>& x) { return add(x, s); }
template <typename T> Tensor<T> operator-(const Tensor<T>& x, detail::scalar_of<T> s) { return sub(x, s); }
template <typename T> Tensor<T> operator-(detail::scalar_of<T> s, const Tensor<T>& x) { return rsub(x, s); }
template <typename T> Tensor<T> operator*(const Tensor<T>& x, detail::scalar_of<T> s) { return mul(x, s); }
template <typename T> Tensor<T> operator*(detail::scalar_of<T> s, const Tensor<T>& x) { return mul(x, s); }
template <typename T> Tensor<T> operator/(const Tensor<T>& x, detail::scalar_of<T> s) { return div(x, s); }
template <typename T> Tensor<T> operator/(detail::scalar_of<T> s, const Tensor<T>& x) { return rdiv(x, s); }

}  // namespace loom
