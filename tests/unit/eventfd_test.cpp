#include <vhnet/eventfd.h>

#include <catch2/catch.hpp>

#include <fcntl.h>

#include <cerrno>
#include <chrono>
#include <thread>

using namespace std::chrono_literals;
using vhnet::EventFd;

TEST_CASE("EventFd is close-on-exec and optionally non-blocking", "[eventfd]") {
    auto blocking = EventFd::create();
    REQUIRE(blocking);
    REQUIRE(blocking->fd() >= 0);
    CHECK((::fcntl(blocking->fd(), F_GETFD) & FD_CLOEXEC) != 0);
    CHECK((::fcntl(blocking->fd(), F_GETFL) & O_NONBLOCK) == 0);

    auto nonblocking = EventFd::create(0, true);
    REQUIRE(nonblocking);
    CHECK((::fcntl(nonblocking->fd(), F_GETFL) & O_NONBLOCK) != 0);
}

TEST_CASE("EventFd signal adds up and consume resets", "[eventfd]") {
    for (const bool nonblocking : {false, true}) {
        INFO("nonblocking " << nonblocking);
        auto ev = EventFd::create(0, nonblocking);
        REQUIRE(ev);
        CHECK(*ev->consume() == 0);
        REQUIRE(ev->signal());
        REQUIRE(ev->signal(2));
        CHECK(*ev->consume() == 3);
        CHECK(*ev->consume() == 0);

        REQUIRE(ev->signal(5));
        const auto waited = ev->wait(0ms);
        REQUIRE(waited);
        CHECK(*waited == 5);
    }
    auto initial = EventFd::create(7);
    REQUIRE(initial);
    CHECK(*initial->wait() == 7);
}

TEST_CASE("EventFd wait times out with ETIMEDOUT", "[eventfd]") {
    auto ev = EventFd::create();
    REQUIRE(ev);
    const auto now = ev->wait(0ms);
    REQUIRE_FALSE(now);
    CHECK(now.error().code() == ETIMEDOUT);
    CHECK(now.error().message() == "eventfd wait: Connection timed out");

    const auto start = std::chrono::steady_clock::now();
    const auto later = ev->wait(50ms);
    const auto waited = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(later);
    CHECK(later.error().code() == ETIMEDOUT);
    CHECK(waited >= 50ms);
    CHECK(waited < 5s);
}

TEST_CASE("EventFd wait wakes up when another thread signals", "[eventfd]") {
    auto ev = EventFd::create();
    REQUIRE(ev);
    std::thread signaller([&] {
        std::this_thread::sleep_for(20ms);
        (void)ev->signal(4);
    });
    const auto value = ev->wait(10s);
    signaller.join();
    REQUIRE(value);
    CHECK(*value == 4);
}

TEST_CASE("EventFd signal overflow is an error", "[eventfd]") {
    auto ev = EventFd::create(0, true);
    REQUIRE(ev);
    REQUIRE(ev->signal(0xfffffffffffffffe));
    const auto overflow = ev->signal(1);
    REQUIRE_FALSE(overflow);
    CHECK(overflow.error().code() == EAGAIN);
    CHECK(overflow.error().context() == "eventfd write");
}

TEST_CASE("EventFd is movable and owns its descriptor", "[eventfd]") {
    auto created = EventFd::create();
    REQUIRE(created);
    const int raw = created->fd();
    {
        EventFd ev = std::move(created).value();
        CHECK(ev.fd() == raw);
    }
    CHECK(::fcntl(raw, F_GETFD) == -1);
}
