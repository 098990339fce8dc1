// What the ring core's tests share: a guest whose whole arena is RAM, and a ring in it.
#pragma once

#include "driver.h"
#include "fake_guest.h"

#include <catch2/catch.hpp>

#include <cstdint>

namespace vhnet::ringtest {

// Where the arena sits in guest physical memory in the tests' default memory table.
inline constexpr std::uint64_t ram_gpa = 0x100000;

// A guest whose memory table maps the whole arena at ram_gpa.
struct RamGuest : FakeGuest {
    explicit RamGuest(std::size_t size = std::size_t{1} << 20) : FakeGuest(size) {
        add_region(ram_gpa, arena_size(), 0);
    }
};

// A ring of num entries in a RamGuest.
struct Ring {
    RamGuest g;
    Driver d;
    explicit Ring(unsigned num = 8, RingOptions opts = {}, std::size_t arena = std::size_t{1} << 20)
        : g(arena), d(g, num, opts) {}
    vhnet_vring &r() { return d.r; }
};

// The first segment of guest [gpa, gpa + len) as the core should hand it out.
inline void check_seg(const FakeGuest &g, const iovec &iov, std::uint64_t gpa, std::size_t len) {
    CHECK(iov.iov_base == g.host(gpa, len));
    CHECK(iov.iov_len == len);
}

} // namespace vhnet::ringtest
