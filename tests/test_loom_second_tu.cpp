#include "test_util.hpp"

// loom/loom.hpp in a second translation unit of the same test executable; see
// test_loom.cpp. The test touches inline functions and variables of several
// layers so that their definitions are emitted here too.

#include <loom/loom.hpp>

TEST_CASE("the umbrella header gives the whole library (second unit)", "[loom]") {
    CHECK(loom::is_grad_enabled());
    CHECK(loom::get_num_threads() >= 1);
    CHECK(loom::Shape{2, 3}.to_string() == "[2, 3]");
    const loom::IndexTensor ids{0, 2};
    CHECK(ids.numel() == 2);
    const auto report = loom::gradcheck([](const std::vector<loom::Tensord>& in) { return loom::sum(in[0] * in[0]); },
                                        {loom::Tensord::from_list({1.0, -2.0}, loom::Shape{2})});
    CHECK(report.passed);
}
