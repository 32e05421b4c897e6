#include "test_util.hpp"

// Tests for loom/nn/memory_attention.hpp: BahdanauAttention and LuongAttention
// against PyTorch (tests/data/attention_*.txt, made by
// tests/fixtures/make_memory_attention_fixtures.py): three decoder steps over
// one memory with source lengths, coverage carried from step to step; the
// contexts, weights, coverage losses and the gradients of the memory, the
// queries and every parameter (loaded by name), in double (1e-10) and float
// (1e-5). Also the parameter names and the errors.

#include <set>
#include <string>
#include <vector>

#include <loom/nn/memory_attention.hpp>
#include <loom/ops/concat.hpp>
#include <loom/ops/slice.hpp>

#include "fixture_reader.hpp"
#include "recurrent_fixture.hpp"

using loom::index_t;
using loom::Shape;
using loom::Tensor;
using loom_test::contains;
using loom_test::error_message;

namespace nn_memory_attention_test {

using loom_test::recurrent::check_matches;
using loom_test::recurrent::dot;
using loom_test::recurrent::tracked;

const std::set<std::string> kData{"memory",  "queries", "lengths",      "R_context", "R_weights",
                                  "context", "weights", "coverage_loss"};

// Copies every parameter from the fixture by name; the fixture must hold
// exactly loom's parameters.
template <typename T>
void load_parameters(const loom::Module<T>& module, const loom_test::Fixture& fixture) {
    std::set<std::string> expected, loaded;
    for (const std::string& name : fixture.names())
        if (kData.count(name) == 0 && name.size() > 5 && name.compare(name.size() - 5, 5, "_grad") != 0)
            expected.insert(name);
    for (const auto& entry : module.named_parameters()) {
        INFO("loom parameter " << entry.first);
        REQUIRE(expected.count(entry.first) == 1);
        Tensor<T> parameter = entry.second;
        parameter.copy_(fixture.get<T>(entry.first));
        loaded.insert(entry.first);
    }
    CHECK(loaded == expected);
}

template <typename T, typename Attention>
void check_against_fixture(Attention& attention, const char* file) {
    INFO("fixture " << file);
    const auto fixture = loom_test::load_fixture(file);
    load_parameters(attention, fixture);
    Tensor<T> memory = tracked<T>(fixture, "memory");
    Tensor<T> queries = tracked<T>(fixture, "queries");
    const Tensor<T> lengths_values = fixture.get<T>("lengths");
    std::vector<index_t> lengths;
    for (index_t i = 0; i < lengths_values.numel(); ++i) lengths.push_back(static_cast<index_t>(lengths_values.data()[i]));
    const Tensor<T> r_context = fixture.get<T>("R_context"), r_weights = fixture.get<T>("R_weights");
    const index_t steps = queries.shape()[0], B = queries.shape()[1];

    const loom::EncodedMemory<T> encoded = attention.prepare(memory, lengths);
    Tensor<T> coverage, loss = Tensor<T>::scalar(T(0));
    std::vector<Tensor<T>> contexts, weights, coverage_losses;
    for (index_t t = 0; t < steps; ++t) {
        auto at = [&](const Tensor<T>& x) {
            return loom::reshape(loom::narrow(x, 0, t, 1), {x.shape()[1], x.shape()[2]});
        };
        const loom::AttentionStep<T> step = attention(loom::reshape(loom::narrow(queries, 0, t, 1),
                                                                    {B, queries.shape()[2]}),
                                                      encoded, coverage);
        loss = loom::add(loss, loom::add(dot(step.context, at(r_context)), dot(step.weights, at(r_weights))));
        if (attention.with_coverage) {
            loss = loom::add(loss, loom::mul(step.coverage_loss, T(0.5)));
            coverage_losses.push_back(loom::reshape(step.coverage_loss, {1}));
            coverage = step.coverage;
        }
        contexts.push_back(step.context);
        weights.push_back(step.weights);
    }
    check_matches("context", loom::stack(contexts, 0), fixture.get<T>("context"));
    check_matches("weights", loom::stack(weights, 0), fixture.get<T>("weights"));
    if (attention.with_coverage) check_matches("coverage_loss", loom::concat(coverage_losses, 0), fixture.get<T>("coverage_loss"));
    loss.backward();
    check_matches("memory_grad", memory.grad(), fixture.get<T>("memory_grad"));
    check_matches("queries_grad", queries.grad(), fixture.get<T>("queries_grad"));
    for (const auto& entry : attention.named_parameters())
        check_matches(entry.first + "_grad", entry.second.grad(), fixture.get<T>(entry.first + "_grad"));
}

TEMPLATE_TEST_CASE("Bahdanau and Luong attention, with and without coverage, match PyTorch",
                   "[memory_attention][fixture]", float, double) {
    using T = TestType;
    loom::Generator generator(81);
    loom::BahdanauAttention<T> bahdanau(3, 4, 6, generator);
    check_against_fixture<T>(bahdanau, "attention_bahdanau.txt");
    loom::BahdanauAttention<T> bahdanau_coverage(3, 4, 6, generator, true);
    check_against_fixture<T>(bahdanau_coverage, "attention_bahdanau_coverage.txt");
    loom::LuongAttention<T> luong_dot(4, 4, loom::LuongScore::dot, generator);
    check_against_fixture<T>(luong_dot, "attention_luong_dot.txt");
    loom::LuongAttention<T> luong_general(3, 4, loom::LuongScore::general, generator, true);
    check_against_fixture<T>(luong_general, "attention_luong_general_coverage.txt");
}

TEST_CASE("memory attention layers: parameter names and shapes", "[memory_attention]") {
    loom::Generator generator(82);
    loom::BahdanauAttention<float> bahdanau(8, 10, 6, generator, true);
    std::vector<std::string> names;
    for (const auto& entry : bahdanau.named_parameters()) names.push_back(entry.first + " " + entry.second.shape().to_string());
    CHECK(names == std::vector<std::string>{"memory_layer.weight [6, 10]", "memory_layer.bias [6]",
                                            "query_layer.weight [6, 8]", "energy.weight [1, 6]",
                                            "coverage_layer.weight [6, 1]"});
    CHECK(loom::BahdanauAttention<float>(8, 10, 6, generator).named_parameters().size() == 4);
    CHECK(loom::LuongAttention<float>(4, 4, loom::LuongScore::dot, generator).named_parameters().empty());
    loom::LuongAttention<float> general(8, 10, loom::LuongScore::general, generator, true);
    CHECK(general.named_parameters().size() == 2);
    CHECK(general.named_parameters()[0].first == "coverage_weight");  // (a module's own parameters come first)
    CHECK(general.named_parameters()[1].first == "memory_layer.weight");
}

TEST_CASE("memory attention layers check their inputs", "[memory_attention][errors]") {
    loom::Generator generator(83);
    loom::BahdanauAttention<float> bahdanau(8, 10, 6, generator, true);
    CHECK(contains(error_message([&] { bahdanau.prepare(Tensor<float>::zeros(Shape{2, 5, 9})); }),
                   "loom::BahdanauAttention::prepare: memory must be [batch, source, 10], got [2, 5, 9]"));
    const auto memory = bahdanau.prepare(Tensor<float>::zeros(Shape{2, 5, 10}), {5, 3});
    CHECK(contains(error_message([&] { bahdanau(Tensor<float>::zeros(Shape{3, 8}), memory); }),
                   "loom::BahdanauAttention: query must be [2, 8] for a memory of 2 sources, got [3, 8]"));
    CHECK(contains(error_message([&] { bahdanau(Tensor<float>::zeros(Shape{2, 8}), memory, Tensor<float>::zeros(Shape{2, 4})); }),
                   "loom::BahdanauAttention: coverage must be [2, 5], got [2, 4]"));
    CHECK(contains(error_message([&] { bahdanau(Tensor<float>::zeros(Shape{2, 8}), loom::EncodedMemory<float>{}); }),
                   "the memory is empty; call prepare() first"));
    CHECK(contains(error_message([&] { loom::LuongAttention<float>(4, 5, loom::LuongScore::dot, generator); }),
                   "loom::LuongAttention: the dot score needs query_size == memory_size, got 4 and 5"));
    CHECK(contains(error_message([] { loom::parse_luong_score("concat"); }), "unknown score 'concat'"));
    const auto step = bahdanau(Tensor<float>::zeros(Shape{2, 8}), memory);
    CHECK(step.weights.data()[9] == 0.0f);      // source 1's padding
    CHECK(step.coverage.shape() == Shape{2, 5});  // c + a for the next step
}

}  // namespace nn_memory_attention_test
