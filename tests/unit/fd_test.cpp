#include <vhnet/fd.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

using vhnet::Fd;

namespace {

bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

Fd open_null() {
    Fd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    REQUIRE(fd.valid());
    return fd;
}

} // namespace

TEST_CASE("Fd default is empty", "[fd]") {
    Fd fd;
    CHECK_FALSE(fd.valid());
    CHECK_FALSE(fd);
    CHECK(fd.get() == -1);
    CHECK(fd.release() == -1);
    fd.reset(); // no-op
}

TEST_CASE("Fd closes on destruction", "[fd]") {
    int raw = -1;
    {
        const Fd fd = open_null();
        raw = fd.get();
        CHECK(is_open(raw));
    }
    CHECK_FALSE(is_open(raw));
}

TEST_CASE("Fd release gives up ownership without closing", "[fd]") {
    Fd fd = open_null();
    const int raw = fd.release();
    CHECK_FALSE(fd.valid());
    CHECK(is_open(raw));
    ::close(raw);
}

TEST_CASE("Fd reset closes the old descriptor", "[fd]") {
    Fd fd = open_null();
    const int first = fd.get();
    Fd other = open_null();
    const int second = other.release();

    fd.reset(second);
    CHECK_FALSE(is_open(first));
    CHECK(fd.get() == second);
    CHECK(is_open(second));

    fd.reset(second); // resetting to the owned descriptor keeps it open
    CHECK(is_open(second));

    fd.reset();
    CHECK_FALSE(fd.valid());
    CHECK_FALSE(is_open(second));
}

TEST_CASE("Fd moves ownership", "[fd]") {
    Fd a = open_null();
    const int raw_a = a.get();

    Fd b(std::move(a));
    CHECK_FALSE(a.valid()); // NOLINT(bugprone-use-after-move): moved-from state is specified
    CHECK(b.get() == raw_a);

    Fd c = open_null();
    const int raw_c = c.get();
    c = std::move(b);
    CHECK_FALSE(is_open(raw_c));
    CHECK(c.get() == raw_a);
    CHECK(is_open(raw_a));
}
