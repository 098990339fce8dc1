// Notifications: vhnet_vring_need_notify(), vhnet_vring_disable_notify()/enable_notify() and
// vhnet_vring_avail_empty(), with and without VIRTIO_RING_F_EVENT_IDX.
#include "ring_test.h"

#include <vector>

using namespace vhnet::ringtest;

namespace {

// Takes every published chain and returns them all to the driver, n at a time.
void use(Ring &ring, unsigned n) {
    std::vector<vring_used_elem> elems(n, used_elem(0, 0));
    REQUIRE(vhnet_vring_add_used(&ring.r(), elems.data(), n) == 0);
}

// Whether index e is in [from, to) in 16-bit arithmetic.
bool in_range(std::uint16_t e, std::uint16_t from, std::uint16_t to) {
    return static_cast<std::uint16_t>(e - from) < static_cast<std::uint16_t>(to - from);
}

} // namespace

TEST_CASE("need_notify without EVENT_IDX follows NO_INTERRUPT", "[ring][notify]") {
    Ring ring(8);
    use(ring, 1);
    CHECK(vhnet_vring_need_notify(&ring.r()));
    ring.d.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
    CHECK_FALSE(vhnet_vring_need_notify(&ring.r()));
    ring.d.set_avail_flags(0);
    CHECK(vhnet_vring_need_notify(&ring.r()));
    // other bits mean nothing
    ring.d.set_avail_flags(0xfffe);
    CHECK(vhnet_vring_need_notify(&ring.r()));
    // used_event means nothing either
    ring.d.set_used_event(0x1234);
    ring.d.set_avail_flags(0);
    CHECK(vhnet_vring_need_notify(&ring.r()));
}

TEST_CASE("need_notify with EVENT_IDX follows used_event", "[ring][notify][event_idx]") {
    const std::uint16_t start = GENERATE(as<std::uint16_t>{}, 0, 100, 0xfffe);
    const std::uint16_t k = GENERATE(as<std::uint16_t>{}, 1, 5, 8);
    const auto fresh = [&](std::uint16_t event) {
        Ring ring(8, {.event_idx = true, .start_idx = start}, 4096);
        // the first call always notifies: nothing was signalled yet
        ring.d.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
        ring.d.set_used_event(static_cast<std::uint16_t>(start - 1));
        REQUIRE(vhnet_vring_need_notify(&ring.r()));
        for (unsigned left = k; left;) {
            const unsigned n = left < 8 ? left : 8;
            use(ring, n);
            left -= n;
        }
        ring.d.set_used_event(event);
        return vhnet_vring_need_notify(&ring.r());
    };
    const auto end = static_cast<std::uint16_t>(start + k);
    INFO("start " << start << " k " << k);
    // the boundaries: the driver wants to hear when used entry `event` is written
    CHECK(fresh(start));
    CHECK(fresh(static_cast<std::uint16_t>(end - 1)));
    CHECK_FALSE(fresh(end));
    CHECK_FALSE(fresh(static_cast<std::uint16_t>(start - 1)));
    CHECK_FALSE(fresh(static_cast<std::uint16_t>(end + 100)));
    CHECK_FALSE(fresh(static_cast<std::uint16_t>(start - 1000)));
    SECTION("every used_event") {
        for (std::uint32_t e = 0; e < 0x10000; e += 97) {
            const auto event = static_cast<std::uint16_t>(e);
            INFO("event " << event);
            const bool notify = fresh(event);
            REQUIRE(notify == in_range(event, start, end));
            REQUIRE(notify == (vring_need_event(event, end, start) != 0));
        }
    }
}

TEST_CASE("need_notify with EVENT_IDX compares from the last call", "[ring][notify][event_idx]") {
    Ring ring(8, {.event_idx = true});
    CHECK(vhnet_vring_need_notify(&ring.r()));
    use(ring, 3);
    ring.d.set_used_event(5);
    CHECK_FALSE(vhnet_vring_need_notify(&ring.r()));
    // AVAIL_F_NO_INTERRUPT means nothing with EVENT_IDX
    ring.d.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
    use(ring, 3);
    CHECK(vhnet_vring_need_notify(&ring.r()));
    // the event is behind now: the next entries need none
    use(ring, 1);
    CHECK_FALSE(vhnet_vring_need_notify(&ring.r()));
    // no entries since the last call: nothing to notify, whatever used_event says
    ring.d.set_used_event(7);
    CHECK_FALSE(vhnet_vring_need_notify(&ring.r()));
    use(ring, 1);
    CHECK(vhnet_vring_need_notify(&ring.r()));
}

TEST_CASE("need_notify with EVENT_IDX after more than a ring of entries",
          "[ring][notify][event_idx]") {
    Ring ring(8, {.event_idx = true});
    CHECK(vhnet_vring_need_notify(&ring.r()));
    // 20 entries through a ring of 8, with no call in between: still an exact comparison
    use(ring, 8);
    use(ring, 8);
    use(ring, 4);
    CHECK(ring.r().signalled_used_valid);
    SECTION("an event among them") {
        ring.d.set_used_event(3);
        CHECK(vhnet_vring_need_notify(&ring.r()));
    }
    SECTION("an event after them") {
        ring.d.set_used_event(20);
        CHECK_FALSE(vhnet_vring_need_notify(&ring.r()));
    }
}

TEST_CASE("need_notify with EVENT_IDX after the used index wrapped past the last notification",
          "[ring][notify][event_idx]") {
    // After 2^16 entries with no notification the driver's used_event cannot be placed any more
    // (the 16-bit indices went all the way round): the core must notify.
    constexpr unsigned num = 256;
    Ring ring(num, {.event_idx = true});
    CHECK(vhnet_vring_need_notify(&ring.r()));
    ring.d.set_used_event(0x8000);
    const unsigned batches = GENERATE(255u, 256u);
    for (unsigned i = 0; i < batches; i++)
        use(ring, num);
    use(ring, num - 1);
    INFO("entries since the notification: " << batches * num + num - 1);
    if (batches * num + num - 1 < 0x10000) {
        // 65535 entries: still exact, and 0x8000 lies behind the last one
        CHECK(ring.r().signalled_used_valid);
        CHECK(vhnet_vring_need_notify(&ring.r()));
    } else {
        // past 65536: every used_event looks already passed, so compare no more
        CHECK_FALSE(ring.r().signalled_used_valid);
        ring.d.set_used_event(static_cast<std::uint16_t>(ring.r().last_used_idx + 100));
        CHECK(vhnet_vring_need_notify(&ring.r()));
        // and exact again from there
        CHECK(ring.r().signalled_used_valid);
        use(ring, 1);
        CHECK_FALSE(vhnet_vring_need_notify(&ring.r()));
    }
}

TEST_CASE("notify_on_empty", "[ring][notify]") {
    const bool event_idx = GENERATE(false, true);
    const bool on_empty = GENERATE(false, true);
    INFO("event_idx " << event_idx << " notify_on_empty " << on_empty);
    Ring ring(8, {.event_idx = event_idx, .notify_on_empty = on_empty});
    ring.d.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
    ring.d.set_used_event(0x8000); // never reached
    const auto buf = ring.d.buffer(10);
    for (int i = 0; i < 3; i++)
        ring.d.push(ring.d.add_chain({{buf, 10}}));
    ring.d.publish();
    REQUIRE(take(ring.r()).ret == 1);
    use(ring, 1);
    // EVENT_IDX's first call notifies: nothing was signalled yet (an early return on empty
    // would not count, so the ring is not empty here)
    CHECK(vhnet_vring_need_notify(&ring.r()) == event_idx);
    REQUIRE(take(ring.r()).ret == 1);
    use(ring, 1);
    // one chain left: the driver's wishes decide
    CHECK_FALSE(vhnet_vring_need_notify(&ring.r()));
    REQUIRE(take(ring.r()).ret == 1);
    use(ring, 1);
    // none left: notify on empty, if negotiated
    CHECK(vhnet_vring_need_notify(&ring.r()) == on_empty);
    // even with nothing added
    CHECK(vhnet_vring_need_notify(&ring.r()) == on_empty);
}

TEST_CASE("enable notify when enabled does nothing", "[ring][notify]") {
    const bool event_idx = GENERATE(false, true);
    Ring ring(8, {.event_idx = event_idx});
    bool more = true;
    ring.d.post(ring.d.add_chain({{ring.d.buffer(10), 10}}));
    REQUIRE(vhnet_vring_enable_notify(&ring.r(), &more) == 0);
    // not even a look at the ring: the caller never disabled
    CHECK_FALSE(more);
    CHECK(ring.g.calls(FakeGuest::Op::put16) == 0);
    CHECK(ring.g.calls(FakeGuest::Op::get16) == 0);
}

TEST_CASE("disable and enable notify without EVENT_IDX", "[ring][notify]") {
    Ring ring(8);
    const auto puts = [&] { return ring.g.calls(FakeGuest::Op::put16); };
    bool more = true;

    REQUIRE(vhnet_vring_disable_notify(&ring.r()) == 0);
    CHECK(ring.d.used_flags() == VRING_USED_F_NO_NOTIFY);
    CHECK(ring.r().used_flags == VRING_USED_F_NO_NOTIFY);
    CHECK(puts() == 1);
    // twice writes once
    REQUIRE(vhnet_vring_disable_notify(&ring.r()) == 0);
    CHECK(puts() == 1);

    SECTION("nothing new") {
        REQUIRE(vhnet_vring_enable_notify(&ring.r(), &more) == 0);
        CHECK_FALSE(more);
        CHECK(ring.d.used_flags() == 0);
        CHECK(ring.r().used_flags == 0);
        CHECK(puts() == 2);
        // avail_event is not written
        CHECK(ring.d.avail_event() == 0);
        // twice writes once
        REQUIRE(vhnet_vring_enable_notify(&ring.r(), &more) == 0);
        CHECK(puts() == 2);
    }
    SECTION("the driver published in between") {
        ring.d.post(ring.d.add_chain({{ring.d.buffer(10), 10}}));
        REQUIRE(vhnet_vring_enable_notify(&ring.r(), &more) == 0);
        CHECK(more);
        CHECK(ring.d.used_flags() == 0);
        // the index is read again by the next get_chain, as the cached one is caught up
        CHECK(ring.r().avail_idx == 0);
        CHECK(take(ring.r()).ret == 1);
    }
    SECTION("a chain published before the last read is not news") {
        // more means "published since the index was last read", as in vhost: chains already
        // known (or given back with unget) wait for the next kick instead of spinning the
        // device on buffers it cannot use
        ring.d.post(ring.d.add_chain({{ring.d.buffer(10), 10}}));
        ring.d.post(ring.d.add_chain({{ring.d.buffer(10), 10}}));
        REQUIRE(take(ring.r()).ret == 1);
        REQUIRE(vhnet_vring_enable_notify(&ring.r(), &more) == 0);
        CHECK_FALSE(more);
        CHECK(take(ring.r()).ret == 1);
    }
}

TEST_CASE("disable and enable notify with EVENT_IDX", "[ring][notify][event_idx]") {
    Ring ring(8, {.event_idx = true, .start_idx = 0xfffe});
    const auto puts = [&] { return ring.g.calls(FakeGuest::Op::put16); };
    bool more = true;
    const auto buf = ring.d.buffer(10);
    for (int i = 0; i < 3; i++)
        ring.d.post(ring.d.add_chain({{buf, 10}}));
    for (int i = 0; i < 3; i++)
        REQUIRE(take(ring.r()).ret == 1);

    REQUIRE(vhnet_vring_disable_notify(&ring.r()) == 0);
    // used->flags is not used with EVENT_IDX
    CHECK(puts() == 0);
    CHECK(ring.d.used_flags() == 0);
    CHECK(ring.r().used_flags == VRING_USED_F_NO_NOTIFY);

    SECTION("nothing new") {
        REQUIRE(vhnet_vring_enable_notify(&ring.r(), &more) == 0);
        CHECK_FALSE(more);
        CHECK(puts() == 1);
        CHECK(ring.d.used_flags() == 0);
        CHECK(ring.r().used_flags == 0);
        // kick me when you publish entry 1 (0xfffe + 3)
        CHECK(ring.d.avail_event() == 1);
    }
    SECTION("the driver published in between") {
        ring.d.post(ring.d.add_chain({{buf, 10}}));
        REQUIRE(vhnet_vring_enable_notify(&ring.r(), &more) == 0);
        CHECK(more);
        // the event written is what the device knew then; it reads the index after it
        CHECK(ring.d.avail_event() == 1);
        CHECK(ring.r().avail_idx == 1);
        CHECK(take(ring.r()).ret == 1);
    }
}

TEST_CASE("avail_empty", "[ring][notify]") {
    Ring ring(8);
    const auto gets = [&] { return ring.g.calls(FakeGuest::Op::get16); };
    bool empty = false;
    REQUIRE(vhnet_vring_avail_empty(&ring.r(), &empty) == 0);
    CHECK(empty);
    CHECK(gets() == 1);
    ring.d.post(ring.d.add_chain({{ring.d.buffer(10), 10}}));
    ring.d.post(ring.d.add_chain({{ring.d.buffer(10), 10}}));
    REQUIRE(vhnet_vring_avail_empty(&ring.r(), &empty) == 0);
    CHECK_FALSE(empty);
    CHECK(ring.r().avail_idx == 2);
    REQUIRE(take(ring.r()).ret == 1);
    // a chain known to be there: no need to look
    const unsigned before = gets();
    REQUIRE(vhnet_vring_avail_empty(&ring.r(), &empty) == 0);
    CHECK_FALSE(empty);
    CHECK(gets() == before);
    REQUIRE(take(ring.r()).ret == 1);
    REQUIRE(vhnet_vring_avail_empty(&ring.r(), &empty) == 0);
    CHECK(empty);
}
