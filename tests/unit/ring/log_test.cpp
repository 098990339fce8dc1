// The ring core's part of dirty logging: a chain's device-writable buffers recorded for the
// net device to log what it wrote into them, and every write to the used ring reported through
// vhnet_ring_log_used() while the ring has log_used (VHOST_VRING_F_LOG) - and none without it.
#include "ring_test.h"

#include <cstddef>
#include <vector>

using namespace vhnet::ringtest;

namespace {

using UsedLog = FakeGuest::UsedLog;

constexpr std::size_t kFlags = offsetof(vring_used, flags);
constexpr std::size_t kIdx = offsetof(vring_used, idx);

constexpr std::size_t elem_off(unsigned slot) {
    return offsetof(vring_used, ring) + slot * sizeof(vring_used_elem);
}

struct Logged {
    Taken t;
    std::vector<vhnet_ring_log> log;
};

// Takes a chain asking for its writable buffers in a log of `room` entries.
Logged take_logged(vhnet_vring &r, unsigned room, unsigned max = 64) {
    Logged l;
    l.log.resize(room ? room : 1);
    l.t.iov.resize(max);
    l.t.c.log = l.log.data();
    l.t.c.log_max = room;
    l.t.ret = vhnet_vring_get_chain(&r, l.t.iov.data(), max, &l.t.c, &l.t.err);
    l.log.resize(l.t.ret == 1 ? l.t.c.nlog : 0);
    return l;
}

bool same(const std::vector<vhnet_ring_log> &got, const std::vector<Buf> &want) {
    if (got.size() != want.size())
        return false;
    for (std::size_t i = 0; i < got.size(); i++)
        if (got[i].addr != want[i].gpa || got[i].len != want[i].len)
            return false;
    return true;
}

} // namespace

TEST_CASE("get_chain records the device-writable buffers, only them", "[ring][log]") {
    Ring ring(16);
    const std::vector<Buf> out = {{ring.d.buffer(12), 12}, {ring.d.buffer(100), 100}};
    const std::vector<Buf> in = {{ring.d.buffer(64), 64, true}, {ring.d.buffer(4096), 4096, true}};
    std::vector<Buf> all = out;
    all.insert(all.end(), in.begin(), in.end());

    SECTION("direct") {
        ring.d.post(ring.d.add_chain(all));
        const auto l = take_logged(ring.r(), 8);
        REQUIRE(l.t.ret == 1);
        CHECK(l.t.c.nlog == 2);
        CHECK(same(l.log, in));
    }
    SECTION("indirect: the table's own descriptor is not a buffer") {
        ring.d.post(ring.d.add_indirect(all));
        const auto l = take_logged(ring.r(), 8);
        REQUIRE(l.t.ret == 1);
        CHECK(same(l.log, in));
    }
    SECTION("a driver-readable chain records nothing") {
        ring.d.post(ring.d.add_chain(out));
        const auto l = take_logged(ring.r(), 8);
        REQUIRE(l.t.ret == 1);
        CHECK(l.t.c.nlog == 0);
    }
    SECTION("a zero-length writable buffer has nothing to log") {
        ring.d.post(ring.d.add_chain({{ring.d.buffer(16), 0, true}, in[0]}));
        const auto l = take_logged(ring.r(), 8);
        REQUIRE(l.t.ret == 1);
        CHECK(same(l.log, {in[0]}));
    }
    SECTION("the count starts again with each chain") {
        ring.d.post(ring.d.add_chain(in));
        ring.d.post(ring.d.add_chain({in[0]}));
        CHECK(take_logged(ring.r(), 8).t.c.nlog == 2);
        CHECK(take_logged(ring.r(), 8).t.c.nlog == 1);
    }
    SECTION("without a log nothing is recorded") {
        ring.d.post(ring.d.add_chain(all));
        const Taken t = take(ring.r());
        REQUIRE(t.ret == 1);
        CHECK(t.c.nlog == 0);
    }
    SECTION("a log without room is out of segments, and the chain stays") {
        ring.d.post(ring.d.add_chain(all));
        const auto l = take_logged(ring.r(), 1);
        CHECK(l.t.ret == -ENOBUFS);
        CHECK(l.t.err == VHNET_RING_TOO_MANY_SEGS);
        CHECK(ring.r().last_avail_idx == 0);
        CHECK(take_logged(ring.r(), 2).t.ret == 1);
    }
}

TEST_CASE("used-ring writes are logged with log_used", "[ring][log]") {
    const bool event_idx = GENERATE(false, true);
    INFO("event_idx " << event_idx);
    Ring ring(8, {.event_idx = event_idx, .start_idx = 6});
    ring.r().log_used = true;
    const auto e = used_elem(1, 10);

    SECTION("add_used: the entries, then the index") {
        REQUIRE(vhnet_vring_add_used(&ring.r(), &e, 1) == 0);
        CHECK(ring.g.used_log() ==
              std::vector<UsedLog>{{elem_off(6), sizeof(vring_used_elem)}, {kIdx, 2}});
    }
    SECTION("add_used across the ring's end: both pieces") {
        const std::vector<vring_used_elem> elems(4, e);
        REQUIRE(vhnet_vring_add_used(&ring.r(), elems.data(), 4) == 0);
        CHECK(ring.g.used_log() == std::vector<UsedLog>{{elem_off(6), 2 * sizeof(vring_used_elem)},
                                                        {elem_off(0), 2 * sizeof(vring_used_elem)},
                                                        {kIdx, 2}});
    }
    SECTION("disable and enable notify: the flags, or avail_event after the last entry") {
        REQUIRE(vhnet_vring_disable_notify(&ring.r()) == 0);
        bool more = true;
        REQUIRE(vhnet_vring_enable_notify(&ring.r(), &more) == 0);
        if (event_idx)
            CHECK(ring.g.used_log() == std::vector<UsedLog>{{elem_off(8), 2}});
        else
            CHECK(ring.g.used_log() == std::vector<UsedLog>{{kFlags, 2}, {kFlags, 2}});
    }
    SECTION("a failed write logs nothing") {
        ring.g.fail_nth(FakeGuest::Op::write, 1);
        CHECK(vhnet_vring_add_used(&ring.r(), &e, 1) == -EFAULT);
        CHECK(ring.g.used_log().empty());
    }
}

TEST_CASE("used-ring writes are not logged without log_used", "[ring][log]") {
    Ring ring(8);
    const auto e = used_elem(1, 10);
    REQUIRE(vhnet_vring_add_used(&ring.r(), &e, 1) == 0);
    REQUIRE(vhnet_vring_disable_notify(&ring.r()) == 0);
    bool more = true;
    REQUIRE(vhnet_vring_enable_notify(&ring.r(), &more) == 0);
    CHECK(ring.g.used_log().empty());
}
