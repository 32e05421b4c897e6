#include "test_util.hpp"

// Tests for loom/optim/{optimizer,sgd,adam,rmsprop}.hpp:
//   - five steps of SGD, Adam, AdamW and RMSprop in several configurations, and
//     of two parameter groups, against torch.optim (tests/data/optim_*.txt, made
//     by tests/fixtures/make_optim_fixtures.py): every element after every step
//     within 1e-6 (float) or 1e-12 (double) of PyTorch, relative to
//     max(1, |value|);
//   - parameter groups: learning rates and weight decays per group;
//   - argument checks, with the messages they give;
//   - state() / load_state(): names, deep copies, an exact (bitwise) resume
//     after 2 of 5 steps, and errors on state that does not fit;
//   - gradient accumulation over micro-batches gives the full batch's step.

#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <loom/optim/adam.hpp>
#include <loom/optim/optimizer.hpp>
#include <loom/optim/rmsprop.hpp>
#include <loom/optim/sgd.hpp>

#include "fixture_reader.hpp"

using loom::index_t;
using loom::ParamGroup;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace optim_optimizers_test {  // named, not anonymous: the test files are compiled together in unity batches

using loom_test::check_matches;

template <typename T>
double tolerance() {
    return std::is_same_v<T, float> ? 1e-6 : 1e-12;
}

template <typename T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
    return a.shape() == b.shape() &&
           std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.numel()) * sizeof(T)) == 0;
}

template <typename T>
Tensor<T> leaf(const Tensor<T>& value) {
    Tensor<T> p = value.clone();
    p.requires_grad_();
    return p;
}

template <typename T>
using Factory = std::function<std::unique_ptr<loom::Optimizer<T>>(const std::vector<Tensor<T>>&)>;

template <typename T, typename Kind, typename... Args>
Factory<T> make(Args... args) {
    return [=](const std::vector<Tensor<T>>& params) { return std::make_unique<Kind>(params, args...); };
}

struct Case {
    std::string name;
    std::set<int> b_has_no_grad_at;  // steps at which parameter b has no gradient
};

// Runs the fixture's five steps on parameters a [3, 4] and b [5] and compares
// them with PyTorch's after every step.
template <typename T>
void check_against_fixture(const loom_test::Fixture& fixture, const Case& c, const Factory<T>& factory) {
    INFO("configuration " << c.name);
    Tensor<T> a = leaf(fixture.template get<T>("a_0"));
    Tensor<T> b = leaf(fixture.template get<T>("b_0"));
    const std::unique_ptr<loom::Optimizer<T>> optimizer = factory({a, b});
    for (int k = 1; k <= 5; ++k) {
        INFO("after step " << k);
        const std::string step = std::to_string(k);
        a.set_grad(fixture.template get<T>("grad_a_" + step));
        if (c.b_has_no_grad_at.count(k)) b.zero_grad();
        else b.set_grad(fixture.template get<T>("grad_b_" + step));
        optimizer->step();
        check_matches(a, fixture.template get<T>(c.name + "_a_" + step), tolerance<T>());
        check_matches(b, fixture.template get<T>(c.name + "_b_" + step), tolerance<T>());
    }
    CHECK(optimizer->step_count() == 5);
    // The gradients are left as they were.
    CHECK(same_bits(a.grad(), fixture.template get<T>("grad_a_5")));
}

TEMPLATE_TEST_CASE("SGD matches torch.optim.SGD over five steps", "[optim][sgd][fixture]", float, double) {
    using T = TestType;
    using loom::SGD;
    const auto fixture = loom_test::load_fixture("optim_sgd.txt");
    // SGD(parameters, lr, momentum, weight_decay, nesterov, dampening)
    check_against_fixture<T>(fixture, {"plain", {}}, make<T, SGD<T>>(0.1));
    check_against_fixture<T>(fixture, {"momentum", {}}, make<T, SGD<T>>(0.1, 0.9));
    check_against_fixture<T>(fixture, {"nesterov", {}}, make<T, SGD<T>>(0.1, 0.9, 0.0, true));
    check_against_fixture<T>(fixture, {"dampening", {}}, make<T, SGD<T>>(0.1, 0.9, 0.01, false, 0.1));
}

TEMPLATE_TEST_CASE("Adam and AdamW match torch.optim over five steps", "[optim][adam][fixture]", float, double) {
    using T = TestType;
    using loom::Adam;
    using loom::AdamW;
    const auto fixture = loom_test::load_fixture("optim_adam.txt");
    // Adam / AdamW(parameters, lr, beta1, beta2, eps, weight_decay, amsgrad)
    check_against_fixture<T>(fixture, {"adam", {}}, make<T, Adam<T>>(0.01));
    check_against_fixture<T>(fixture, {"adam_amsgrad", {}}, make<T, Adam<T>>(0.01, 0.9, 0.999, 1e-8, 0.0, true));
    check_against_fixture<T>(fixture, {"adam_weight_decay", {}}, make<T, Adam<T>>(0.01, 0.9, 0.999, 1e-8, 0.1));
    check_against_fixture<T>(fixture, {"adam_betas", {}}, make<T, Adam<T>>(0.01, 0.5, 0.9, 1e-3));
    // b skips steps 2 and 3: its step counter (bias correction) lags a's.
    check_against_fixture<T>(fixture, {"adam_skip", {2, 3}}, make<T, Adam<T>>(0.01));
    check_against_fixture<T>(fixture, {"adamw", {}}, make<T, AdamW<T>>(0.01));
    check_against_fixture<T>(fixture, {"adamw_amsgrad", {}}, make<T, AdamW<T>>(0.01, 0.9, 0.999, 1e-8, 0.1, true));
}

TEMPLATE_TEST_CASE("RMSprop matches torch.optim.RMSprop over five steps", "[optim][rmsprop][fixture]", float,
                   double) {
    using T = TestType;
    using loom::RMSprop;
    const auto fixture = loom_test::load_fixture("optim_rmsprop.txt");
    // RMSprop(parameters, lr, alpha, eps, weight_decay, momentum, centered)
    check_against_fixture<T>(fixture, {"rmsprop", {}}, make<T, RMSprop<T>>(0.01));
    check_against_fixture<T>(fixture, {"rmsprop_alpha", {}}, make<T, RMSprop<T>>(0.01, 0.9, 1e-3));
    check_against_fixture<T>(fixture, {"rmsprop_centered", {}},
                             make<T, RMSprop<T>>(0.01, 0.99, 1e-8, 0.1, 0.9, true));
}

TEMPLATE_TEST_CASE("Parameter groups have their own learning rate and weight decay", "[optim][groups][fixture]",
                   float, double) {
    using T = TestType;
    const auto fixture = loom_test::load_fixture("optim_groups.txt");
    // Group 0 takes the optimizer's defaults; group 1 sets both.
    check_against_fixture<T>(fixture, {"sgd_groups", {}}, [](const std::vector<Tensor<T>>& p) {
        return std::make_unique<loom::SGD<T>>(
            std::vector<ParamGroup<T>>{ParamGroup<T>{{p[0]}, {}, {}}, ParamGroup<T>{{p[1]}, 0.01, 0.1}}, 0.1, 0.9);
    });
    check_against_fixture<T>(fixture, {"adam_groups", {}}, [](const std::vector<Tensor<T>>& p) {
        return std::make_unique<loom::Adam<T>>(
            std::vector<ParamGroup<T>>{ParamGroup<T>{{p[0]}, {}, {}}, ParamGroup<T>{{p[1]}, 0.1, 0.1}}, 0.01);
    });
}

TEMPLATE_TEST_CASE("Parameter groups: accessors and set_learning_rate", "[optim][groups]", float, double) {
    using T = TestType;
    Tensor<T> a = leaf(Tensor<T>::from_list({1, 2}, Shape{2}));
    Tensor<T> b = leaf(Tensor<T>::from_list({3}, Shape{1}));
    Tensor<T> c = leaf(Tensor<T>::from_list({4}, Shape{1}));
    loom::SGD<T> optimizer({ParamGroup<T>{{a, b}, {}, {}}, ParamGroup<T>{{c}, 0.5, 0.25}}, 1.0, 0.0, 0.125);
    REQUIRE(optimizer.num_groups() == 2);
    CHECK(optimizer.kind() == "SGD");
    CHECK(optimizer.learning_rate() == 1.0);
    CHECK(optimizer.learning_rate(0) == 1.0);
    CHECK(optimizer.learning_rate(1) == 0.5);
    CHECK(optimizer.weight_decay(0) == 0.125);
    CHECK(optimizer.weight_decay(1) == 0.25);
    REQUIRE(optimizer.param_groups()[1].learning_rate.has_value());
    // parameters(): all of them, numbered across groups.
    REQUIRE(optimizer.parameters().size() == 3);
    CHECK(optimizer.parameters()[2].impl_ptr() == c.impl_ptr());

    // Plain SGD, weight decay 0.125 and 0.25: p -= lr (g + λ p).
    for (Tensor<T>* p : {&a, &b, &c}) p->set_grad(Tensor<T>::ones(p->shape()));
    optimizer.step();
    CHECK(a.to_vector() == std::vector<T>{T(1) - T(1.125), T(2) - T(1.25)});
    CHECK(c.to_vector() == std::vector<T>{T(4) - T(0.5) * T(2)});

    optimizer.set_learning_rate(1, 0.0);
    CHECK(optimizer.learning_rate(0) == 1.0);
    CHECK(optimizer.learning_rate(1) == 0.0);
    optimizer.step();
    CHECK(c.to_vector() == std::vector<T>{T(3)});  // group 1 no longer moves

    optimizer.set_learning_rate(0.25);  // every group
    CHECK(optimizer.learning_rate(0) == 0.25);
    CHECK(optimizer.learning_rate(1) == 0.25);

    CHECK(contains(error_message([&] { optimizer.learning_rate(2); }), "loom::SGD: no parameter group 2, there are 2"));
    CHECK(contains(error_message([&] { optimizer.set_learning_rate(5, 0.1); }), "no parameter group 5"));
    CHECK(contains(error_message([&] { optimizer.set_learning_rate(1, -1.0); }),
                   "loom::SGD: learning rate must be >= 0, got -1 (parameter group 1)"));
    CHECK(optimizer.learning_rate(1) == 0.25);

    // zero_grad drops every group's gradients.
    optimizer.zero_grad();
    CHECK_FALSE(a.grad().defined());
    CHECK_FALSE(c.grad().defined());
}

TEMPLATE_TEST_CASE("Optimizers have PyTorch's defaults", "[optim]", float, double) {
    using T = TestType;
    const std::vector<Tensor<T>> params{leaf(Tensor<T>::zeros(Shape{2}))};
    const loom::Adam<T> adam(params);
    CHECK(adam.kind() == "Adam");
    CHECK(adam.learning_rate() == 1e-3);
    CHECK(adam.beta1() == 0.9);
    CHECK(adam.beta2() == 0.999);
    CHECK(adam.eps() == 1e-8);
    CHECK(adam.weight_decay() == 0.0);
    CHECK_FALSE(adam.amsgrad());
    const loom::AdamW<T> adamw(params);
    CHECK(adamw.kind() == "AdamW");
    CHECK(adamw.learning_rate() == 1e-3);
    CHECK(adamw.weight_decay() == 1e-2);
    const loom::RMSprop<T> rmsprop(params);
    CHECK(rmsprop.kind() == "RMSprop");
    CHECK(rmsprop.learning_rate() == 1e-2);
    CHECK(rmsprop.alpha() == 0.99);
    CHECK(rmsprop.eps() == 1e-8);
    CHECK(rmsprop.momentum() == 0.0);
    CHECK_FALSE(rmsprop.centered());
    const loom::SGD<T> sgd(params, 0.1);
    CHECK(sgd.momentum() == 0.0);
    CHECK(sgd.dampening() == 0.0);
    CHECK_FALSE(sgd.nesterov());
}

TEMPLATE_TEST_CASE("Optimizers reject invalid arguments", "[optim]", float, double) {
    using T = TestType;
    Tensor<T> w = leaf(Tensor<T>::zeros(Shape{2}));
    const std::vector<Tensor<T>> params{w};
    const double nan = std::nan("");
    using loom::Adam;
    using loom::AdamW;
    using loom::RMSprop;
    using loom::SGD;

    const auto message = [](auto&& make_optimizer) { return error_message(make_optimizer); };
    CHECK(contains(message([&] { Adam<T>(params, -1e-3); }), "loom::Adam: learning rate must be >= 0, got -0.001"));
    CHECK(contains(message([&] { Adam<T>(params, nan); }), "loom::Adam: learning rate must be >= 0, got nan"));
    CHECK(contains(message([&] { Adam<T>(params, 1e-3, 1.0); }), "loom::Adam: beta1 must be in [0, 1), got 1"));
    CHECK(contains(message([&] { Adam<T>(params, 1e-3, -0.1); }), "loom::Adam: beta1 must be in [0, 1), got -0.1"));
    CHECK(contains(message([&] { Adam<T>(params, 1e-3, 0.9, 1.5); }), "loom::Adam: beta2 must be in [0, 1), got 1.5"));
    CHECK(contains(message([&] { Adam<T>(params, 1e-3, 0.9, nan); }), "loom::Adam: beta2 must be in [0, 1)"));
    CHECK(contains(message([&] { Adam<T>(params, 1e-3, 0.9, 0.999, -1e-8); }), "loom::Adam: eps must be >= 0"));
    CHECK(contains(message([&] { Adam<T>(params, 1e-3, 0.9, 0.999, 1e-8, -0.1); }),
                   "loom::Adam: weight_decay must be >= 0, got -0.1"));
    CHECK(contains(message([&] { AdamW<T>(params, 1e-3, 0.9, 0.999, 1e-8, -0.1); }),
                   "loom::AdamW: weight_decay must be >= 0, got -0.1"));
    CHECK(contains(message([&] { AdamW<T>(params, 1e-3, 0.9, 1.0); }), "loom::AdamW: beta2 must be in [0, 1)"));
    CHECK(contains(message([&] { RMSprop<T>(params, -0.1); }), "loom::RMSprop: learning rate must be >= 0"));
    CHECK(contains(message([&] { RMSprop<T>(params, 0.01, 1.5); }), "loom::RMSprop: alpha must be in [0, 1], got 1.5"));
    CHECK(contains(message([&] { RMSprop<T>(params, 0.01, 0.99, -1.0); }), "loom::RMSprop: eps must be >= 0"));
    CHECK(contains(message([&] { RMSprop<T>(params, 0.01, 0.99, 1e-8, -1.0); }),
                   "loom::RMSprop: weight_decay must be >= 0"));
    CHECK(contains(message([&] { RMSprop<T>(params, 0.01, 0.99, 1e-8, 0.0, -0.9); }),
                   "loom::RMSprop: momentum must be >= 0, got -0.9"));
    CHECK(contains(message([&] { SGD<T>(params, 0.1, nan); }), "loom::SGD: momentum must be >= 0"));

    // Parameters: defined leaves, each in one place only.
    CHECK(contains(message([&] { Adam<T>(std::vector<Tensor<T>>{Tensor<T>()}); }),
                   "loom::Adam: parameters must be defined leaf tensors"));
    CHECK(contains(message([&] { RMSprop<T>({loom::mul(w, w)}); }),
                   "loom::RMSprop: parameters must be defined leaf tensors"));
    CHECK(contains(message([&] { Adam<T>({w, w}); }), "loom::Adam: a parameter of shape [2] appears twice"));
    CHECK(contains(message([&] { SGD<T>({ParamGroup<T>{{w}, {}, {}}, ParamGroup<T>{{w}, {}, {}}}, 0.1); }),
                   "loom::SGD: a parameter of shape [2] appears twice (parameter group 1)"));
    // Groups: at least one, each with valid settings.
    CHECK(contains(message([&] { Adam<T>(std::vector<ParamGroup<T>>{}); }),
                   "loom::Adam: needs at least one parameter group"));
    Tensor<T> v = leaf(Tensor<T>::zeros(Shape{3}));
    CHECK(contains(message([&] { AdamW<T>({ParamGroup<T>{{w}, {}, {}}, ParamGroup<T>{{v}, -0.5, {}}}); }),
                   "loom::AdamW: learning rate must be >= 0, got -0.5 (parameter group 1)"));
    CHECK(contains(message([&] { SGD<T>({ParamGroup<T>{{w}, {}, -1.0}, ParamGroup<T>{{v}, {}, {}}}, 0.1); }),
                   "loom::SGD: weight_decay must be >= 0, got -1 (parameter group 0)"));

    // Valid corner cases construct.
    CHECK(message([&] { Adam<T>(params, 0.0, 0.0, 0.0, 0.0); }).empty());
    CHECK(message([&] { RMSprop<T>(params, 0.0, 0.0); }).empty());
    CHECK(message([&] { RMSprop<T>(params, 0.0, 1.0); }).empty());
    CHECK(message([&] { AdamW<T>(std::vector<Tensor<T>>{}); }).empty());
}

// A setup for resume tests: parameters a [3, 4] and b [5] with five fixed
// gradients; b has none at step 2.
template <typename T>
struct Run {
    std::vector<Tensor<T>> params;

    Run() : params{leaf(loom_test::random_tensor<T>(Shape{3, 4}, 1)), leaf(loom_test::random_tensor<T>(Shape{5}, 2))} {}

    void set_gradients(int step) {
        params[0].set_grad(loom_test::random_tensor<T>(Shape{3, 4}, 100 + static_cast<std::uint64_t>(step), -2, 2));
        if (step == 2) params[1].zero_grad();
        else params[1].set_grad(loom_test::random_tensor<T>(Shape{5}, 200 + static_cast<std::uint64_t>(step), -2, 2));
    }
    void steps(loom::Optimizer<T>& optimizer, int first, int last) {
        for (int step = first; step <= last; ++step) {
            set_gradients(step);
            optimizer.step();
        }
    }
};

template <typename T>
std::vector<std::string> names_of(const loom::OptimizerState<T>& state) {
    std::vector<std::string> names;
    for (const auto& entry : state.tensors) names.push_back(entry.first);
    return names;
}

template <typename T>
void check_exact_resume(const std::string& label, const Factory<T>& factory,
                        const std::vector<std::string>& expected_names) {
    INFO("optimizer " << label);
    // Five steps without interruption ...
    Run<T> straight;
    const auto uninterrupted = factory(straight.params);
    straight.steps(*uninterrupted, 1, 5);

    // ... against two steps, save, a new optimizer, load, three more steps.
    Run<T> resumed;
    loom::OptimizerState<T> saved;
    {
        const auto first = factory(resumed.params);
        resumed.steps(*first, 1, 2);
        saved = first->state();
    }
    CHECK(saved.step_count == 2);
    CHECK(names_of(saved) == expected_names);
    const auto second = factory(resumed.params);
    second->load_state(saved);
    CHECK(second->step_count() == 2);
    resumed.steps(*second, 3, 5);

    CHECK(second->step_count() == 5);
    for (std::size_t k = 0; k < 2; ++k) {
        INFO("parameter " << k);
        CHECK(same_bits(straight.params[k], resumed.params[k]));
    }
    // The whole state agrees too.
    const auto want = uninterrupted->state(), got = second->state();
    CHECK(got.kind == want.kind);
    CHECK(got.step_count == want.step_count);
    REQUIRE(names_of(got) == names_of(want));
    for (std::size_t i = 0; i < got.tensors.size(); ++i) {
        INFO("state tensor " << got.tensors[i].first);
        CHECK(same_bits(got.tensors[i].second, want.tensors[i].second));
    }
}

TEMPLATE_TEST_CASE("state and load_state resume exactly", "[optim][state]", float, double) {
    using T = TestType;
    using loom::Adam;
    using loom::AdamW;
    using loom::RMSprop;
    using loom::SGD;
    check_exact_resume<T>("SGD nesterov", make<T, SGD<T>>(0.1, 0.9, 0.01, true),
                          {"0.momentum_buffer", "1.momentum_buffer"});
    check_exact_resume<T>("SGD plain", make<T, SGD<T>>(0.1), {});
    check_exact_resume<T>("Adam amsgrad", make<T, Adam<T>>(0.01, 0.9, 0.999, 1e-8, 0.1, true),
                          {"0.exp_avg", "0.exp_avg_sq", "0.max_exp_avg_sq", "0.step", "1.exp_avg", "1.exp_avg_sq",
                           "1.max_exp_avg_sq", "1.step"});
    check_exact_resume<T>("AdamW", make<T, AdamW<T>>(0.01),
                          {"0.exp_avg", "0.exp_avg_sq", "0.step", "1.exp_avg", "1.exp_avg_sq", "1.step"});
    check_exact_resume<T>("RMSprop centered momentum", make<T, RMSprop<T>>(0.01, 0.99, 1e-8, 0.1, 0.9, true),
                          {"0.square_avg", "0.momentum_buffer", "0.grad_avg", "1.square_avg", "1.momentum_buffer",
                           "1.grad_avg"});
    check_exact_resume<T>("Adam in two groups", [](const std::vector<Tensor<T>>& p) {
        return std::make_unique<Adam<T>>(
            std::vector<ParamGroup<T>>{ParamGroup<T>{{p[0]}, 0.1, {}}, ParamGroup<T>{{p[1]}, {}, 0.5}}, 0.01);
    }, {"0.exp_avg", "0.exp_avg_sq", "0.step", "1.exp_avg", "1.exp_avg_sq", "1.step"});
}

TEMPLATE_TEST_CASE("state: contents, deep copies, parameters without state", "[optim][state]", float, double) {
    using T = TestType;
    Run<T> run;
    loom::Adam<T> optimizer(run.params, 0.01);
    CHECK(optimizer.state().tensors.empty());
    CHECK(optimizer.state().kind == "Adam");

    // Step 1 with a gradient for a only: b has no state yet.
    run.params[0].set_grad(Tensor<T>::ones(Shape{3, 4}));
    optimizer.step();
    optimizer.step();
    auto saved = optimizer.state();
    CHECK(saved.step_count == 2);
    REQUIRE(names_of(saved) == std::vector<std::string>{"0.exp_avg", "0.exp_avg_sq", "0.step"});
    CHECK(saved.tensors[2].second.rank() == 0);
    CHECK(saved.tensors[2].second.item() == T(2));
    // m after two steps of g = 1: 0.1 + 0.9 · 0.1 = 0.19.
    CHECK(std::abs(static_cast<double>(saved.tensors[0].second.at({1, 2})) - 0.19) < 1e-6);

    // The saved tensors are copies: changing them does not change the optimizer.
    saved.tensors[0].second.fill_(T(7));
    CHECK(std::abs(static_cast<double>(optimizer.state().tensors[0].second.at({0, 0})) - 0.19) < 1e-6);
    // load_state copies too.
    loom::Adam<T> other(run.params, 0.01);
    other.load_state(saved);
    saved.tensors[0].second.fill_(T(9));
    CHECK(other.state().tensors[0].second.at({0, 0}) == T(7));

    // Loading an empty state (a fresh optimizer's) forgets everything.
    other.load_state(loom::Adam<T>(run.params).state());
    CHECK(other.step_count() == 0);
    CHECK(other.state().tensors.empty());
}

TEMPLATE_TEST_CASE("load_state rejects state that does not fit", "[optim][state]", float, double) {
    using T = TestType;
    Run<T> run;
    loom::Adam<T> optimizer(run.params, 0.01);
    run.steps(optimizer, 1, 3);
    const loom::OptimizerState<T> good = optimizer.state();  // 0.* and 1.*, steps 3 and 2
    REQUIRE(good.tensors.size() == 6);

    const auto load_error = [&](const loom::OptimizerState<T>& state) {
        return error_message([&] { optimizer.load_state(state); });
    };
    const auto with = [&](auto change) {
        loom::OptimizerState<T> state = good;
        change(state);
        return state;
    };
    const auto find = [](loom::OptimizerState<T>& state, const std::string& name) -> Tensor<T>& {
        for (auto& entry : state.tensors)
            if (entry.first == name) return entry.second;
        FAIL("no " << name);
        throw;
    };

    CHECK(contains(load_error(loom::SGD<T>(run.params, 0.1, 0.9).state()),
                   "loom::Adam::load_state: the state is from a SGD optimizer, this one is Adam"));
    CHECK(contains(load_error(with([](auto& s) { s.kind = "AdamW"; })), "the state is from a AdamW optimizer"));
    CHECK(contains(load_error(with([](auto& s) { s.step_count = -1; })), "step_count must be >= 0, got -1"));
    for (const char* bad : {"exp_avg", "x.exp_avg", "-1.exp_avg", ".exp_avg", "0exp_avg"}) {
        INFO("name " << bad);
        CHECK(contains(load_error(with([&](auto& s) { s.tensors[0].first = bad; })),
                       "' is not a name of the form <parameter index>.<buffer>"));
    }
    CHECK(contains(load_error(with([](auto& s) { s.tensors[0].first = "2.exp_avg"; })),
                   "loom::Adam::load_state: '2.exp_avg' is for parameter 2 but this optimizer has 2 parameters"));
    CHECK(contains(load_error(with([](auto& s) { s.tensors[0].first = "0.momentum_buffer"; })),
                   "'0.momentum_buffer': Adam with these settings keeps exp_avg, exp_avg_sq, step, not "
                   "'momentum_buffer'"));
    CHECK(contains(load_error(with([](auto& s) { s.tensors[0].first = "0.exp_avg_sq"; })),
                   "the state has '0.exp_avg_sq' twice"));
    CHECK(contains(load_error(with([](auto& s) { s.tensors.erase(s.tensors.begin() + 1); })),
                   "the state has some entries for parameter 0 but not '0.exp_avg_sq'"));
    CHECK(contains(load_error(with([&](auto& s) { find(s, "1.exp_avg") = Tensor<T>::zeros(Shape{3, 4}); })),
                   "'1.exp_avg' has shape [3, 4] but parameter 1 has shape [5]"));
    CHECK(contains(load_error(with([&](auto& s) { find(s, "1.exp_avg") = Tensor<T>(); })),
                   "'1.exp_avg' is an undefined tensor"));
    CHECK(contains(load_error(with([&](auto& s) { find(s, "0.step") = Tensor<T>::scalar(T(2.5)); })),
                   "'0.step' must be a whole number of steps in [0, step_count = 3], got 2.5"));
    CHECK(contains(load_error(with([&](auto& s) { find(s, "0.step") = Tensor<T>::scalar(T(4)); })),
                   "'0.step' must be a whole number of steps"));
    CHECK(contains(load_error(with([&](auto& s) { find(s, "0.step") = Tensor<T>::zeros(Shape{2}); })),
                   "'0.step' must hold one number, it has shape [2]"));
    // amsgrad keeps one more buffer, so its state and plain Adam's do not mix.
    loom::Adam<T> amsgrad(run.params, 0.01, 0.9, 0.999, 1e-8, 0.0, true);
    CHECK(contains(error_message([&] { amsgrad.load_state(good); }),
                   "the state has some entries for parameter 0 but not '0.max_exp_avg_sq'"));

    // After all these failures the optimizer is unchanged.
    const auto now = optimizer.state();
    CHECK(now.step_count == 3);
    REQUIRE(names_of(now) == names_of(good));
    for (std::size_t i = 0; i < now.tensors.size(); ++i) CHECK(same_bits(now.tensors[i].second, good.tensors[i].second));
}

TEMPLATE_TEST_CASE("state refuses per-parameter step counts a tensor cannot hold exactly", "[optim][state]", float,
                   double) {
    using T = TestType;
    Run<T> run;
    loom::Adam<T> optimizer(run.params, 0.01);
    run.steps(optimizer, 1, 1);
    // Pretend 2^24 steps were taken (exact in float and double), then take one more.
    const std::int64_t many = std::int64_t{1} << 24;
    auto saved = optimizer.state();
    saved.step_count = many;
    for (auto& entry : saved.tensors)
        if (entry.first.find(".step") != std::string::npos) entry.second = Tensor<T>::scalar(static_cast<T>(many));
    optimizer.load_state(saved);
    run.steps(optimizer, 2, 2);  // a steps, b has no gradient
    if (std::is_same_v<T, float>) {
        CHECK(contains(error_message([&] { optimizer.state(); }),
                       "loom::Adam::state: parameter 0 has taken 16777217 steps, more than this tensor type stores "
                       "exactly"));
    } else {
        const auto now = optimizer.state();
        CHECK(now.step_count == many + 1);
        CHECK(now.tensors[2].first == "0.step");
        CHECK(now.tensors[2].second.item() == static_cast<T>(many + 1));
        CHECK(now.tensors[5].second.item() == static_cast<T>(many));
    }
}

// A two-layer model y = W₂ tanh(W₁ x + b₁) + b₂ with loss mean((y − target)²).
template <typename T>
struct SmallModel {
    loom::Generator generator{7};
    loom::Linear<T> hidden{3, 4, generator};
    loom::Linear<T> output{4, 2, generator};

    Tensor<T> loss(const Tensor<T>& x, const Tensor<T>& target) const {
        const Tensor<T> y = output(loom::tanh(hidden(x)));
        const Tensor<T> error = loom::sub(y, target);
        return loom::mean(loom::mul(error, error));
    }
    std::vector<Tensor<T>> parameters() const { return {hidden.weight, hidden.bias, output.weight, output.bias}; }
};

// Rows [first, first + count) of a [rows, columns] tensor, as a new tensor.
template <typename T>
Tensor<T> rows_of(const Tensor<T>& x, index_t first, index_t count) {
    const index_t columns = x.size(1);
    const std::vector<T> all = x.to_vector();
    return Tensor<T>::from_vector(std::vector<T>(all.begin() + first * columns, all.begin() + (first + count) * columns),
                                  Shape{count, columns});
}

TEST_CASE("Gradient accumulation over micro-batches gives the full batch's step", "[optim][accumulation]") {
    using T = double;
    const Tensor<T> x = loom_test::random_tensor<T>(Shape{8, 3}, 11);
    const Tensor<T> target = loom_test::random_tensor<T>(Shape{8, 2}, 12);
    const index_t micro_batches = 4, rows = 2;

    for (const std::string kind : {"SGD", "Adam"}) {
        INFO("optimizer " << kind);
        const auto make_optimizer = [&](const std::vector<Tensor<T>>& params) -> std::unique_ptr<loom::Optimizer<T>> {
            if (kind == "SGD") return std::make_unique<loom::SGD<T>>(params, 0.1, 0.9);
            return std::make_unique<loom::Adam<T>>(params, 0.01);
        };
        SmallModel<T> full, accumulated;  // same seed: same initial weights
        REQUIRE(same_bits(full.hidden.weight, accumulated.hidden.weight));
        const auto full_optimizer = make_optimizer(full.parameters());
        const auto accumulated_optimizer = make_optimizer(accumulated.parameters());

        for (int step = 0; step < 2; ++step) {
            INFO("step " << step);
            // One batch of 8 rows ...
            full_optimizer->zero_grad();
            full.loss(x, target).backward();
            full_optimizer->step();
            // ... or 4 micro-batches of 2, each loss scaled by 1/4: backward()
            // adds into the gradients already there, so they sum to the batch's.
            accumulated_optimizer->zero_grad();
            for (index_t m = 0; m < micro_batches; ++m) {
                const Tensor<T> loss = accumulated.loss(rows_of(x, m * rows, rows), rows_of(target, m * rows, rows));
                loom::mul(loss, T(1) / static_cast<T>(micro_batches)).backward();
            }
            const auto want = full.parameters(), got = accumulated.parameters();
            for (std::size_t k = 0; k < want.size(); ++k) {
                INFO("parameter " << k);
                check_matches(got[k].grad(), want[k].grad(), 1e-12);
            }
            accumulated_optimizer->step();
            for (std::size_t k = 0; k < want.size(); ++k) {
                INFO("parameter " << k);
                check_matches(got[k], want[k], 1e-12);
            }
        }
        // The parameters moved away from their start.
        CHECK(loom_test::max_abs_diff(full.hidden.weight, SmallModel<T>().hidden.weight) > 1e-3);
    }
}

}  // namespace optim_optimizers_test
