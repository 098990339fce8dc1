// The Catch2 test runner; the tests are in *_test.cpp.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
