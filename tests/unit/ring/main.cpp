// The Catch2 runner of the ring core's host tests; the tests are in *_test.cpp.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
