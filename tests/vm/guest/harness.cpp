// SPDX-License-Identifier: GPL-2.0
#include "harness.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fnmatch.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace vmtest {
namespace {

struct Test {
    std::string suite;
    std::string name;
    TestFn fn;
    unsigned timeout_s;
    std::string id() const { return suite + "/" + name; }
};

std::vector<Test> &registry() {
    static std::vector<Test> tests;
    return tests;
}

// Runs in the child: 0 on success, 1 on failure (the reason is already printed).
int run_child(const Test &t) {
    alarm(t.timeout_s);
    try {
        t.fn();
    } catch (const Failure &f) {
        fmt::print("# {}: {}\n", t.id(), f.message);
        return 1;
    } catch (const std::exception &e) {
        fmt::print("# {}: exception: {}\n", t.id(), e.what());
        return 1;
    }
    return 0;
}

// Forks, runs the test and prints its result line. Returns true if it passed.
bool run_one(const Test &t) {
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        fmt::print("not ok {} - fork: {}\n", t.id(), errname(errno));
        return false;
    }
    if (pid == 0) {
        int rc = run_child(t);
        std::fflush(stdout);
        _exit(rc);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        fmt::print("ok {}\n", t.id());
        return true;
    }
    std::string why;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        why = fmt::format("timed out after {}s", t.timeout_s);
    else if (WIFSIGNALED(status))
        why = fmt::format("killed by signal {}", strsignal(WTERMSIG(status)));
    else
        why = "failed";
    fmt::print("not ok {} - {}\n", t.id(), why);
    std::fflush(stdout);
    return false;
}

} // namespace

void add_test(std::string suite, std::string name, TestFn fn, unsigned timeout_s) {
    registry().push_back({std::move(suite), std::move(name), std::move(fn), timeout_s});
}

std::vector<std::string> registered_tests() {
    std::vector<std::string> ids;
    for (const auto &t : registry())
        ids.push_back(t.id());
    return ids;
}

Registrar::Registrar(const char *suite, const char *name, void (*fn)(), unsigned timeout_s) {
    std::string n = name;
    for (char &c : n)
        if (c == '_')
            c = '-';
    add_test(suite, n, fn, timeout_s);
}

void fail(const std::string &msg, std::source_location loc) {
    throw Failure{fmt::format("{}:{}: {}", loc.file_name(), loc.line(), msg)};
}

std::string errname(int err) {
    if (err == 0)
        return "0";
    const char *name = strerrorname_np(err);
    return fmt::format("{} ({})", name ? name : std::to_string(err), strerror(err));
}

void fail_sys(const char *what, int err, std::source_location loc) {
    fail(fmt::format("{}: {}", what, errname(err)), loc);
}

} // namespace vmtest

int main(int argc, char **argv) {
    std::string suite, filter = "*";
    bool list = false;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--list")
            list = true;
        else if (a == "--suite" && i + 1 < argc)
            suite = argv[++i];
        else if (a == "--filter" && i + 1 < argc)
            filter = argv[++i];
        else {
            fmt::print(stderr, "usage: {} [--list] [--suite NAME] [--filter GLOB]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, nullptr, _IOLBF, 0);
    int failed = 0;
    for (const auto &t : vmtest::registry()) {
        if (!suite.empty() && t.suite != suite)
            continue;
        if (fnmatch(filter.c_str(), t.id().c_str(), 0) != 0)
            continue;
        if (list)
            fmt::print("{}\n", t.id());
        else if (!vmtest::run_one(t))
            failed++;
    }
    return failed ? 1 : 0;
}
