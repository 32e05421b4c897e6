// loom_catch.hpp — include this in tests instead of a Catch2 header:
//
//   #include "loom_catch.hpp"
//
// It picks the Catch2 v3 or v2 header (the build defines LOOM_CATCH2_V3 for v3),
// so test files compile unchanged with either. Both spellings of Approx work
// under both versions: `Approx(x)` and `Catch::Approx(x)`.
#pragma once

#ifdef LOOM_CATCH2_V3
#include <catch2/catch_all.hpp>
using Catch::Approx;
#else
#include <catch2/catch.hpp>
namespace Catch {
using Detail::Approx;
}  // namespace Catch
#endif
