// Running test code in a private network namespace, so that taps can be created without touching
// the host's interfaces.
#pragma once

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <vhnet/fd.h>
#include <vhnet/tap.h>

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <iostream>
#include <optional>
#include <string>

namespace vhnet::test {

namespace detail {

inline void write_all(int fd, const std::string &text) {
    for (std::size_t done = 0; done < text.size();) {
        const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        done += static_cast<std::size_t>(n);
    }
}

/// The child's side: enters the namespaces, checks that taps can be made, runs `body`. Returns
/// {"result": ...}, {"skip": reason} or {"error": what}. Uses no Catch2 assertion.
inline nlohmann::json child(const std::function<nlohmann::json()> &body) {
    const auto why = [](const char *what) {
        return std::string(what) + ": " + std::strerror(errno);
    };
    bool sysfs = false;
    if (::unshare(CLONE_NEWNET | CLONE_NEWNS) == 0) {
        // Our own sysfs, so /sys/class/net shows this namespace's links (tun_flags).
        sysfs = ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 &&
                ::mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0;
    } else if (::unshare(CLONE_NEWNET) != 0) {
        return {{"skip", why("unshare(CLONE_NEWNET)")}};
    }
    if (::access("/dev/net/tun", R_OK | W_OK) != 0)
        return {{"skip", why("/dev/net/tun")}};
    // A throwaway tap proves CAP_NET_ADMIN; it goes away with its file.
    TapOptions probe;
    probe.name = "vhnet-probe";
    if (auto tap = Tap::open(probe); !tap)
        return {{"skip", tap.error().message()}};
    try {
        return {{"result", body()}, {"sysfs", sysfs}};
    } catch (const std::exception &e) {
        return {{"error", e.what()}};
    }
}

} // namespace detail

/// Runs `body` in a forked child that has a network namespace of its own (and, where allowed, a
/// mount namespace with its own sysfs, so /sys/class/net/NAME/tun_flags is readable). The child
/// cannot use Catch2 assertions; `body` reports what it saw as JSON, which is returned here for
/// the parent to check. If the host allows no namespace or no tap (no CAP_NET_ADMIN, no
/// /dev/net/tun), WARNs and returns nullopt: the caller then returns, skipping the test.
/// `sysfs` (if given) tells whether the child had its own sysfs.
inline std::optional<nlohmann::json> in_private_netns(const std::function<nlohmann::json()> &body,
                                                      bool *sysfs = nullptr) {
    int pipe_fds[2];
    REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
    Fd read_end(pipe_fds[0]);
    Fd write_end(pipe_fds[1]);
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);

    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        read_end.reset();
        detail::write_all(write_end.get(), detail::child(body).dump());
        ::_exit(0);
    }
    write_end.reset();
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(read_end.get(), buf, sizeof buf)) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        REQUIRE(n > 0);
        text.append(buf, static_cast<std::size_t>(n));
    }
    int wstatus = 0;
    REQUIRE(::waitpid(pid, &wstatus, 0) == pid);
    REQUIRE(WIFEXITED(wstatus));
    REQUIRE(WEXITSTATUS(wstatus) == 0);

    const auto doc = nlohmann::json::parse(text);
    if (doc.contains("skip")) {
        // ctest reports a test whose output has this marker as skipped (tests/unit/CMakeLists.txt)
        WARN("VHNET-SKIP: no private network namespace with a tap: "
             << doc["skip"].get<std::string>());
        return std::nullopt;
    }
    if (doc.contains("error"))
        FAIL("in the private network namespace: " << doc["error"].get<std::string>());
    if (sysfs)
        *sysfs = doc.at("sysfs").get<bool>();
    return doc.at("result");
}

} // namespace vhnet::test
