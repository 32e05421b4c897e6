// The one translation unit that holds Catch2 v2's main(). With Catch2 v3 the
// build links Catch2::Catch2WithMain instead and leaves this file out; the guard
// keeps it empty should it be compiled there anyway.
#ifndef LOOM_CATCH2_V3
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
#endif
