// SPDX-License-Identifier: GPL-2.0
// The in-guest test harness: tests register themselves, each runs in a forked child with a
// timeout, and each reports one line to stdout ("ok suite/name" or "not ok suite/name - why").
// Diagnostics are lines starting with "# ".
#pragma once

#include <cerrno>
#include <cstdint>
#include <functional>
#include <source_location>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace vmtest {

struct Failure {
    std::string message;
};

using TestFn = std::function<void()>;

// Register a test. Names use '-' between words; "suite/name" must be unique.
void add_test(std::string suite, std::string name, TestFn fn, unsigned timeout_s = 120);

// The ids ("suite/name") of every test registered in this binary, in registration order.
std::vector<std::string> registered_tests();

[[noreturn]] void fail(const std::string &msg,
                       std::source_location loc = std::source_location::current());

// "EBUSY (Device or resource busy)"; "0" for no error.
std::string errname(int err);

template <typename... Args>
void note(fmt::format_string<Args...> f, Args &&...args) {
    fmt::print("# {}\n", fmt::format(f, std::forward<Args>(args)...));
    std::fflush(stdout);
}

[[noreturn]] void fail_sys(const char *what, int err, std::source_location loc);

// Returns r, or fails the test with errno's name when a system call returned a negative value.
template <typename T>
T check_sys(T r, const char *what, std::source_location loc = std::source_location::current()) {
    if (r < 0)
        fail_sys(what, errno, loc);
    return r;
}

struct Registrar {
    Registrar(const char *suite, const char *name, void (*fn)(), unsigned timeout_s = 120);
};

} // namespace vmtest

// A test function; its name is written with '_' and reported with '-'.
#define VMTEST(suite, name)                                                                        \
    static void vmtest_##suite##_##name();                                                         \
    static const ::vmtest::Registrar vmtest_reg_##suite##_##name(#suite, #name,                    \
                                                                 vmtest_##suite##_##name);         \
    static void vmtest_##suite##_##name()

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ::vmtest::fail("EXPECT(" #cond ") failed");                                            \
    } while (0)

#define EXPECT_EQ(a, b)                                                                            \
    do {                                                                                           \
        const auto &vmtest_a = (a);                                                                \
        const auto &vmtest_b = (b);                                                                \
        if (!(vmtest_a == vmtest_b))                                                               \
            ::vmtest::fail(                                                                        \
                fmt::format("EXPECT_EQ({}, {}) failed: {} != {}", #a, #b, vmtest_a, vmtest_b));    \
    } while (0)

#define SYS(expr) ::vmtest::check_sys((expr), #expr)
