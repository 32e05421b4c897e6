#include "test_util.hpp"

// Tests for loom/tensor/tensor.hpp: factories, element access, Eigen maps,
// storage sharing, copies, and the autograd flags of Tensor<T>.

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

using loom::index_t;
using loom::Shape;
using loom_test::contains;
using loom_test::error_message;

namespace tensor_tensor_test {  // named, not anonymous: the test files are compiled together in unity batches

template <typename T>
bool all_equal(const loom::Tensor<T>& t, T value) {
    for (index_t i = 0; i < t.numel(); ++i)
        if (t.data()[i] != value) return false;
    return true;
}

template <typename T>
double mean_of(const loom::Tensor<T>& t) {
    double total = 0.0;
    for (index_t i = 0; i < t.numel(); ++i) total += static_cast<double>(t.data()[i]);
    return total / static_cast<double>(t.numel());
}

template <typename T>
double stddev_of(const loom::Tensor<T>& t) {
    const double mean = mean_of(t);
    double total = 0.0;
    for (index_t i = 0; i < t.numel(); ++i) {
        const double d = static_cast<double>(t.data()[i]) - mean;
        total += d * d;
    }
    return std::sqrt(total / static_cast<double>(t.numel()));
}

TEMPLATE_TEST_CASE("zeros, ones, full, scalar and empty", "[tensor]", float, double) {
    using T = TestType;
    const auto z = loom::Tensor<T>::zeros(Shape{2, 3});
    CHECK(z.shape() == Shape{2, 3});
    CHECK(z.rank() == 2);
    CHECK(z.numel() == 6);
    CHECK(all_equal(z, T(0)));

    const auto o = loom::Tensor<T>::ones(Shape{4, 1, 2});
    CHECK(o.numel() == 8);
    CHECK(all_equal(o, T(1)));

    const auto f = loom::Tensor<T>::full(Shape{3}, T(-2.5));
    CHECK(f.to_vector() == std::vector<T>{T(-2.5), T(-2.5), T(-2.5)});

    const auto s = loom::Tensor<T>::scalar(T(7.25));
    CHECK(s.rank() == 0);
    CHECK(s.shape() == Shape{});
    CHECK(s.numel() == 1);
    CHECK(s.item() == T(7.25));

    const auto e = loom::Tensor<T>::empty(Shape{0, 5});
    CHECK(e.defined());
    CHECK(e.numel() == 0);
    CHECK(e.to_vector().empty());

    // Fresh tensors are leaves that do not require grad.
    CHECK(z.is_leaf());
    CHECK_FALSE(z.requires_grad());
    CHECK_FALSE(z.grad().defined());
}

TEMPLATE_TEST_CASE("arange", "[tensor]", float, double) {
    using T = TestType;
    SECTION("arange(count)") {
        const auto a = loom::Tensor<T>::arange(5);
        CHECK(a.shape() == Shape{5});
        CHECK(a.to_vector() == std::vector<T>{0, 1, 2, 3, 4});
        CHECK(loom::Tensor<T>::arange(0).shape() == Shape{0});
        CHECK(loom::Tensor<T>::arange(-3).shape() == Shape{0});
    }
    SECTION("start, end, step") {
        CHECK(loom::Tensor<T>::arange(T(1), T(2), T(0.25)).to_vector() ==
              std::vector<T>{T(1), T(1.25), T(1.5), T(1.75)});
        // end is excluded even when a step lands on it.
        CHECK(loom::Tensor<T>::arange(T(0), T(3), T(1)).to_vector() == std::vector<T>{0, 1, 2});
        // A step that does not divide the span: the last value is below end.
        CHECK(loom::Tensor<T>::arange(T(0), T(1), T(0.3)).numel() == 4);
        CHECK(loom::Tensor<T>::arange(T(0), T(1), T(0.1)).numel() == 10);
    }
    SECTION("negative step counts down") {
        CHECK(loom::Tensor<T>::arange(T(5), T(0), T(-1.5)).to_vector() ==
              std::vector<T>{T(5), T(3.5), T(2), T(0.5)});
        CHECK(loom::Tensor<T>::arange(T(2), T(-1), T(-1)).to_vector() == std::vector<T>{2, 1, 0});
    }
    SECTION("a step pointing away from end gives an empty tensor") {
        CHECK(loom::Tensor<T>::arange(T(0), T(5), T(-1)).numel() == 0);
        CHECK(loom::Tensor<T>::arange(T(5), T(0), T(1)).numel() == 0);
        CHECK(loom::Tensor<T>::arange(T(3), T(3), T(1)).numel() == 0);
    }
    SECTION("step 0 throws") {
        REQUIRE_THROWS_AS(loom::Tensor<T>::arange(T(0), T(1), T(0)), loom::Error);
        CHECK(contains(error_message([] { loom::Tensor<T>::arange(T(0), T(1), T(0)); }),
                       "loom::Tensor::arange: step must not be zero"));
    }
}

TEST_CASE("arange(count) for float gives exactly count elements above 2^24", "[tensor]") {
    // 2^24 + 1 is the first integer a float cannot hold; counting with a float
    // end used to give 2^24 elements here.
    const index_t count = (index_t{1} << 24) + 1;
    const auto a = loom::Tensorf::arange(count);
    CHECK(a.numel() == count);
    CHECK(a.data()[count - 2] == 16777215.0f);
}

TEMPLATE_TEST_CASE("from_vector and from_list", "[tensor]", float, double) {
    using T = TestType;
    SECTION("values fill the shape in row-major order") {
        const auto t = loom::Tensor<T>::from_vector({1, 2, 3, 4, 5, 6}, Shape{2, 3});
        CHECK(t.shape() == Shape{2, 3});
        CHECK(t.at({0, 2}) == T(3));
        CHECK(t.at({1, 0}) == T(4));
    }
    SECTION("without a shape the tensor is rank 1") {
        const auto t = loom::Tensor<T>::from_vector({T(0.5), T(-1)});
        CHECK(t.shape() == Shape{2});
        CHECK(t.to_vector() == std::vector<T>{T(0.5), T(-1)});
    }
    SECTION("from_list") {
        const auto t = loom::Tensor<T>::from_list({1, 2, 3, 4}, Shape{2, 1, 2});
        CHECK(t.shape() == Shape{2, 1, 2});
        CHECK(t.at({1, 0, 1}) == T(4));
        CHECK(loom::Tensor<T>::from_list({T(9)}, Shape{}).item() == T(9));
    }
    SECTION("a size mismatch throws, naming the shape and both counts") {
        const std::string message =
            error_message([] { loom::Tensor<T>::from_vector(std::vector<T>(5, T(1)), Shape{2, 3}); });
        CHECK(contains(message, "loom::Tensor::from_vector: 5 values do not fill shape [2, 3] (6 elements)"));
        REQUIRE_THROWS_AS(loom::Tensor<T>::from_list({1, 2, 3}, Shape{2, 2}), loom::Error);
        REQUIRE_THROWS_AS(loom::Tensor<T>::from_list({1, 2}, Shape{}), loom::Error);
    }
}

TEMPLATE_TEST_CASE("uniform", "[tensor][random]", float, double) {
    using T = TestType;
    SECTION("same seed, same tensor; different seed, different tensor") {
        loom::Generator g1(123), g2(123), g3(124);
        const auto a = loom::Tensor<T>::uniform(Shape{4, 5}, T(-1), T(1), g1);
        const auto b = loom::Tensor<T>::uniform(Shape{4, 5}, T(-1), T(1), g2);
        const auto c = loom::Tensor<T>::uniform(Shape{4, 5}, T(-1), T(1), g3);
        CHECK(a.to_vector() == b.to_vector());
        CHECK(a.to_vector() != c.to_vector());
        // The generator advanced: the next draw differs from the first.
        CHECK(loom::Tensor<T>::uniform(Shape{4, 5}, T(-1), T(1), g1).to_vector() != a.to_vector());
    }
    SECTION("values fill [low, high)") {
        loom::Generator g(7);
        const auto t = loom::Tensor<T>::uniform(Shape{10000}, T(2), T(5), g);
        const auto [lo, hi] = std::minmax_element(t.data(), t.data() + t.numel());
        CHECK(*lo >= T(2));
        CHECK(*hi < T(5));
        // 10000 draws come within 0.01 of both ends and average near the middle.
        CHECK(*lo < T(2.01));
        CHECK(*hi > T(4.99));
        CHECK(std::abs(mean_of(t) - 3.5) < 0.05);
    }
    SECTION("a draw that rounds up to high stays below it") {
        // Seed 39061301's first uniform double is 0.99999997546928343, which
        // rounds to 1.0f: a float tensor used to contain high itself.
        loom::Generator g(39061301);
        const T value = loom::Tensor<T>::uniform(Shape{1}, T(0), T(1), g).item();
        CHECK(value < T(1));
        CHECK(value > T(0.9999));
        // A range one ulp wide: about half the draws round up to high.
        const T low = T(1);
        const T high = std::nextafter(low, T(2));
        loom::Generator g2(5);
        const auto narrow = loom::Tensor<T>::uniform(Shape{1000}, low, high, g2);
        CHECK(all_equal(narrow, low));
    }
    SECTION("low == high gives that value; low > high throws") {
        loom::Generator g(1);
        CHECK(all_equal(loom::Tensor<T>::uniform(Shape{3}, T(2), T(2), g), T(2)));
        CHECK(contains(error_message([&] { loom::Tensor<T>::uniform(Shape{3}, T(1), T(0), g); }),
                       "loom::Tensor::uniform: low (1) must not be above high (0)"));
    }
}

TEMPLATE_TEST_CASE("normal", "[tensor][random]", float, double) {
    using T = TestType;
    SECTION("same seed, same tensor; different seed, different tensor") {
        loom::Generator g1(9), g2(9), g3(10);
        const auto a = loom::Tensor<T>::normal(Shape{3, 7}, T(0), T(1), g1);
        CHECK(a.to_vector() == loom::Tensor<T>::normal(Shape{3, 7}, T(0), T(1), g2).to_vector());
        CHECK(a.to_vector() != loom::Tensor<T>::normal(Shape{3, 7}, T(0), T(1), g3).to_vector());
    }
    SECTION("100k standard normals have mean ~0 and std ~1") {
        loom::Generator g(2024);
        const auto t = loom::Tensor<T>::normal(Shape{100000}, T(0), T(1), g);
        // The standard error of the mean is 1/sqrt(1e5) ~ 0.003; these bounds are ~6 of them.
        CHECK(std::abs(mean_of(t)) < 0.02);
        CHECK(std::abs(stddev_of(t) - 1.0) < 0.02);
        // About 68.3% within one standard deviation.
        const auto inside = std::count_if(t.data(), t.data() + t.numel(), [](T v) { return std::abs(v) < T(1); });
        CHECK(std::abs(static_cast<double>(inside) / 1e5 - 0.6827) < 0.01);
    }
    SECTION("mean and stddev shift and scale") {
        loom::Generator g(3);
        const auto t = loom::Tensor<T>::normal(Shape{50000}, T(3), T(0.5), g);
        CHECK(std::abs(mean_of(t) - 3.0) < 0.02);
        CHECK(std::abs(stddev_of(t) - 0.5) < 0.02);
    }
}

TEMPLATE_TEST_CASE("item", "[tensor]", float, double) {
    using T = TestType;
    CHECK(loom::Tensor<T>::scalar(T(4)).item() == T(4));
    CHECK(loom::Tensor<T>::full(Shape{1, 1, 1}, T(-3)).item() == T(-3));

    const std::string message = error_message([] { loom::Tensor<T>::zeros(Shape{2, 2}).item(); });
    CHECK(contains(message, "loom::Tensor::item: tensor of shape [2, 2] has 4 elements, not 1"));
    REQUIRE_THROWS_AS(loom::Tensor<T>::zeros(Shape{0}).item(), loom::Error);
    CHECK(contains(error_message([] { loom::Tensor<T>().item(); }), "undefined"));
}

TEMPLATE_TEST_CASE("at and set", "[tensor]", float, double) {
    using T = TestType;
    auto t = loom::Tensor<T>::from_list({1, 2, 3, 4, 5, 6}, Shape{2, 3});
    SECTION("read and write by full index") {
        CHECK(t.at({0, 0}) == T(1));
        CHECK(t.at({1, 2}) == T(6));
        t.set({0, 1}, T(9));
        CHECK(t.data()[1] == T(9));
        CHECK(t.at({0, 1}) == T(9));
    }
    SECTION("rank 0 takes an empty index") {
        auto s = loom::Tensor<T>::scalar(T(2));
        CHECK(s.at({}) == T(2));
        s.set({}, T(3));
        CHECK(s.item() == T(3));
    }
    SECTION("an index out of range throws, naming index, dimension and shape") {
        CHECK(contains(error_message([&] { t.at({2, 0}); }),
                       "loom::Tensor::at: index 2 is out of range for dimension 0 of shape [2, 3]"));
        CHECK(contains(error_message([&] { t.at({0, 3}); }), "index 3 is out of range for dimension 1"));
        CHECK(contains(error_message([&] { t.at({0, -1}); }), "index -1"));
        CHECK(contains(error_message([&] { t.set({5, 5}, T(0)); }), "index 5"));
        // The failed set wrote nothing.
        CHECK(t.to_vector() == std::vector<T>{1, 2, 3, 4, 5, 6});
    }
    SECTION("the wrong number of indices throws") {
        CHECK(contains(error_message([&] { t.at({1}); }), "1 indices for a tensor of rank 2 and shape [2, 3]"));
        CHECK(contains(error_message([&] { t.at({0, 0, 0}); }), "3 indices"));
    }
    SECTION("size() takes negative dimensions") {
        CHECK(t.size(0) == 2);
        CHECK(t.size(-1) == 3);
        CHECK(t.size(-2) == 2);
        CHECK(contains(error_message([&] { t.size(2); }), "loom::Tensor::size: dimension 2"));
        CHECK(t.strides()[0] == 3);
        CHECK(t.strides()[1] == 1);
    }
}

TEMPLATE_TEST_CASE("matrix() and flat() are zero-copy Eigen maps", "[tensor]", float, double) {
    using T = TestType;
    SECTION("rows = numel / last, cols = last") {
        auto t = loom::Tensor<T>::arange(24).share_storage(Shape{2, 3, 4});
        auto m = t.matrix();
        CHECK(m.rows() == 6);
        CHECK(m.cols() == 4);
        CHECK(m.data() == t.data());
        CHECK(m(1, 2) == T(6));  // row-major: element 1 * 4 + 2
        CHECK(m(5, 3) == T(23));
    }
    SECTION("writing through the maps changes the tensor") {
        auto t = loom::Tensor<T>::zeros(Shape{2, 3});
        t.matrix()(1, 0) = T(5);
        CHECK(t.at({1, 0}) == T(5));
        t.matrix().row(0).setConstant(T(2));
        CHECK(t.to_vector() == std::vector<T>{2, 2, 2, 5, 0, 0});
        t.flat() += T(1);
        CHECK(t.to_vector() == std::vector<T>{3, 3, 3, 6, 1, 1});
        auto f = t.flat();
        CHECK(f.size() == 6);
        CHECK(f.data() == t.data());
        f(4) = T(-1);
        CHECK(t.at({1, 1}) == T(-1));
    }
    SECTION("const maps view the same memory") {
        const auto t = loom::Tensor<T>::ones(Shape{3, 2});
        CHECK(t.matrix().data() == t.data());
        CHECK(t.flat().data() == t.data());
        CHECK(t.matrix().sum() == T(6));
    }
    SECTION("rank 0 and rank 1 are one row; a zero last dimension has no rows") {
        auto s = loom::Tensor<T>::scalar(T(1));
        CHECK(s.matrix().rows() == 1);
        CHECK(s.matrix().cols() == 1);
        auto v = loom::Tensor<T>::zeros(Shape{5});
        CHECK(v.matrix().rows() == 1);
        CHECK(v.matrix().cols() == 5);
        auto e = loom::Tensor<T>::zeros(Shape{3, 0});
        CHECK(e.matrix().rows() == 0);
        CHECK(e.matrix().cols() == 0);
    }
    SECTION("maps of a view start at the view's offset") {
        auto base = loom::Tensor<T>::arange(12).share_storage(Shape{4, 3});
        auto rows = base.share_storage(Shape{2, 3}, 6);
        CHECK(rows.matrix()(0, 0) == T(6));
        rows.matrix()(1, 2) = T(100);
        CHECK(base.at({3, 2}) == T(100));
    }
}

TEMPLATE_TEST_CASE("share_storage views", "[tensor]", float, double) {
    using T = TestType;
    auto base = loom::Tensor<T>::arange(12).share_storage(Shape{4, 3});
    SECTION("a view sees writes to the base and the other way round") {
        auto view = base.share_storage(Shape{2, 3}, 3);
        CHECK(view.shares_storage_with(base));
        CHECK(view.to_vector() == std::vector<T>{3, 4, 5, 6, 7, 8});
        view.set({1, 2}, T(-8));
        CHECK(base.at({2, 2}) == T(-8));
        base.set({1, 0}, T(30));
        CHECK(view.at({0, 0}) == T(30));
    }
    SECTION("views of views add their offsets") {
        auto middle = base.share_storage(Shape{6}, 4);
        auto inner = middle.share_storage(Shape{2}, 3);
        CHECK(inner.to_vector() == std::vector<T>{7, 8});
        CHECK(inner.data() == base.data() + 7);
    }
    SECTION("a view is a leaf without history, even of a tensor that requires grad") {
        base.requires_grad_();
        const auto view = base.share_storage(Shape{12});
        CHECK(view.is_leaf());
        CHECK_FALSE(view.requires_grad());
    }
    SECTION("a view that does not fit throws") {
        const std::string message = error_message([&] { base.share_storage(Shape{2, 3}, 7); });
        CHECK(contains(message, "loom::Tensor::share_storage: shape [2, 3] at offset 7 does not fit"));
        CHECK(contains(message, "[4, 3]"));
        REQUIRE_THROWS_AS(base.share_storage(Shape{13}), loom::Error);
        REQUIRE_THROWS_AS(base.share_storage(Shape{1}, -1), loom::Error);
        // A view of a view is bounded by the inner view, not by the storage.
        auto small = base.share_storage(Shape{2}, 0);
        REQUIRE_THROWS_AS(small.share_storage(Shape{3}), loom::Error);
        CHECK_NOTHROW(base.share_storage(Shape{2, 3}, 6));
        CHECK_NOTHROW(base.share_storage(Shape{0}, 12));
    }
}

TEMPLATE_TEST_CASE("clone, fill_ and copy_", "[tensor]", float, double) {
    using T = TestType;
    SECTION("clone is a deep copy") {
        auto a = loom::Tensor<T>::from_list({1, 2, 3, 4}, Shape{2, 2});
        auto b = a.clone();
        CHECK(b.shape() == a.shape());
        CHECK(b.to_vector() == a.to_vector());
        CHECK_FALSE(b.shares_storage_with(a));
        b.fill_(T(0));
        CHECK(a.to_vector() == std::vector<T>{1, 2, 3, 4});
        a.set({0, 0}, T(9));
        CHECK(b.at({0, 0}) == T(0));
    }
    SECTION("clone of a view copies only the view") {
        const auto base = loom::Tensor<T>::arange(10);
        const auto copy = base.share_storage(Shape{3}, 5).clone();
        CHECK(copy.to_vector() == std::vector<T>{5, 6, 7});
    }
    SECTION("clone of a tensor that requires grad is a plain leaf") {
        auto x = loom::Tensor<T>::ones(Shape{2}).requires_grad_();
        const auto y = (x * T(2)).clone();
        CHECK(y.is_leaf());
        CHECK_FALSE(y.requires_grad());
        CHECK_FALSE(x.clone().requires_grad());
    }
    SECTION("fill_ writes every element and returns the tensor") {
        auto t = loom::Tensor<T>::zeros(Shape{3, 3});
        auto& same = t.fill_(T(4));
        CHECK(&same == &t);
        CHECK(all_equal(t, T(4)));
    }
    SECTION("copy_ copies values, not the handle") {
        auto dst = loom::Tensor<T>::zeros(Shape{2, 2});
        const auto src = loom::Tensor<T>::from_list({1, 2, 3, 4}, Shape{2, 2});
        dst.copy_(src);
        CHECK(dst.to_vector() == src.to_vector());
        CHECK_FALSE(dst.shares_storage_with(src));
        // copy_ into a view writes into the base.
        auto base = loom::Tensor<T>::zeros(Shape{6});
        base.share_storage(Shape{2, 2}, 2).copy_(src);
        CHECK(base.to_vector() == std::vector<T>{0, 0, 1, 2, 3, 4});
    }
    SECTION("copy_ with another shape throws, even with the same element count") {
        auto dst = loom::Tensor<T>::zeros(Shape{2, 2});
        const std::string message = error_message([&] { dst.copy_(loom::Tensor<T>::ones(Shape{4})); });
        CHECK(contains(message, "loom::Tensor::copy_: source shape [4] differs from destination shape [2, 2]"));
        CHECK(all_equal(dst, T(0)));
    }
}

TEMPLATE_TEST_CASE("detach and requires_grad_", "[tensor][autograd]", float, double) {
    using T = TestType;
    SECTION("detach shares storage and drops the history") {
        auto x = loom::Tensor<T>::from_list({1, 2, 3}, Shape{3}).requires_grad_();
        auto y = x * T(2);
        const auto d = y.detach();
        CHECK(d.shares_storage_with(y));
        CHECK(d.is_leaf());
        CHECK_FALSE(d.requires_grad());
        CHECK_FALSE(d.grad().defined());
        CHECK_FALSE(x.detach().requires_grad());
        // Same memory: a write through the detached tensor shows in the original.
        x.detach().fill_(T(7));
        CHECK(x.to_vector() == std::vector<T>{7, 7, 7});
    }
    SECTION("requires_grad_ on leaves") {
        auto x = loom::Tensor<T>::zeros(Shape{2});
        CHECK_FALSE(x.requires_grad());
        auto& same = x.requires_grad_();
        CHECK(&same == &x);
        CHECK(x.requires_grad());
        x.requires_grad_(false);
        CHECK_FALSE(x.requires_grad());
    }
    SECTION("an op's result requires grad; turning it off throws, turning it on is harmless") {
        auto x = loom::Tensor<T>::zeros(Shape{2, 5}).requires_grad_();
        auto y = x + T(1);
        CHECK(y.requires_grad());
        CHECK_FALSE(y.is_leaf());
        CHECK(y.grad_fn() != nullptr);
        CHECK_NOTHROW(y.requires_grad_(true));
        const std::string message = error_message([&] { y.requires_grad_(false); });
        CHECK(contains(message, "loom::Tensor::requires_grad_: cannot turn off requires_grad"));
        CHECK(contains(message, "[2, 5]"));
        CHECK(contains(message, "detach()"));
        CHECK(y.requires_grad());
    }
    SECTION("ops on tensors that do not require grad record nothing") {
        const auto a = loom::Tensor<T>::ones(Shape{2});
        const auto b = a * a + T(1);
        CHECK_FALSE(b.requires_grad());
        CHECK(b.is_leaf());
    }
    SECTION("set_grad and zero_grad") {
        auto x = loom::Tensor<T>::zeros(Shape{2}).requires_grad_();
        x.set_grad(loom::Tensor<T>::ones(Shape{2}));
        CHECK(x.grad().to_vector() == std::vector<T>{1, 1});
        // grad() hands out the buffer itself, so in-place updates stick.
        x.grad().fill_(T(3));
        CHECK(x.grad().to_vector() == std::vector<T>{3, 3});
        CHECK(contains(error_message([&] { x.set_grad(loom::Tensor<T>::ones(Shape{3})); }),
                       "loom::Tensor::set_grad: gradient shape [3] differs from tensor shape [2]"));
        x.zero_grad();
        CHECK_FALSE(x.grad().defined());
        CHECK_NOTHROW(x.set_grad(loom::Tensor<T>()));
    }
}

TEMPLATE_TEST_CASE("undefined tensors and handle copies", "[tensor]", float, double) {
    using T = TestType;
    SECTION("a default tensor is undefined and says so") {
        const loom::Tensor<T> t;
        CHECK_FALSE(t.defined());
        CHECK_FALSE(t.requires_grad());
        const std::string message = error_message([&] { (void)t.shape(); });
        CHECK(contains(message, "loom::Tensor: the tensor is undefined"));
        REQUIRE_THROWS_AS(t.numel(), loom::Error);
        REQUIRE_THROWS_AS(t.clone(), loom::Error);
    }
    SECTION("copying a Tensor copies the handle") {
        auto a = loom::Tensor<T>::zeros(Shape{3});
        auto b = a;
        b.set({1}, T(5));
        CHECK(a.at({1}) == T(5));
        CHECK(a.impl_ptr() == b.impl_ptr());
        CHECK(a.use_count() == 2);
        b.requires_grad_();
        CHECK(a.requires_grad());  // one record, two handles
    }
}

}  // namespace tensor_tensor_test
