// vhnet_vring_add_used() and vhnet_vring_unget(), and the 16-bit indices wrapping.
#include "ring_test.h"

#include <cstring>
#include <deque>
#include <vector>

using namespace vhnet::ringtest;

TEST_CASE("add_used", "[ring][used]") {
    Ring ring(8);
    const auto head = ring.d.add_chain({{ring.d.buffer(100), 100, true}});
    ring.d.post(head);
    const Taken t = take(ring.r());
    REQUIRE(t.ret == 1);
    const auto e = used_elem(t.c.head, 42);
    REQUIRE(vhnet_vring_add_used(&ring.r(), &e, 1) == 0);
    CHECK(ring.r().last_used_idx == 1);
    CHECK(ring.d.used_idx() == 1);
    CHECK(ring.d.used_elem(0) == Used{head, 42});
    CHECK(ring.d.reap() == std::vector<Used>{{head, 42}});
    CHECK(ring.d.free_descs() == 8);

    SECTION("of nothing") {
        REQUIRE(vhnet_vring_add_used(&ring.r(), nullptr, 0) == 0);
        CHECK(ring.r().last_used_idx == 1);
        CHECK(ring.d.used_idx() == 1);
    }
}

TEST_CASE("add_used wrapping across the ring end", "[ring][used]") {
    struct Case {
        std::uint16_t start;
        unsigned n;
        unsigned writes; // the used entries in one piece or two
    };
    const auto c = GENERATE(Case{6, 4, 2}, Case{4, 4, 1}, Case{3, 8, 2}, Case{0, 8, 1},
                            Case{7, 1, 1}, Case{0xfffe, 5, 2}, Case{0xfff8, 8, 1});
    INFO("start " << c.start << " n " << c.n);
    Ring ring(8, {.start_idx = c.start});
    // a pattern in every slot, to see which ones are written
    std::memset(ring.d.used->ring, 0xaa, 8 * sizeof(vring_used_elem));
    std::vector<vring_used_elem> elems;
    for (unsigned i = 0; i < c.n; i++)
        elems.push_back(used_elem(i, 1000 + i));
    const unsigned writes = ring.g.calls(FakeGuest::Op::write);
    REQUIRE(vhnet_vring_add_used(&ring.r(), elems.data(), c.n) == 0);
    CHECK(ring.g.calls(FakeGuest::Op::write) - writes == c.writes);
    const auto end = static_cast<std::uint16_t>(c.start + c.n);
    CHECK(ring.r().last_used_idx == end);
    CHECK(ring.d.used_idx() == end);
    for (unsigned i = 0; i < c.n; i++)
        CHECK(ring.d.used_elem(static_cast<std::uint16_t>(c.start + i)) == Used{i, 1000 + i});
    // the slots not written keep the pattern
    for (unsigned i = c.n; i < 8; i++)
        CHECK(ring.d.used_elem(static_cast<std::uint16_t>(c.start + i)) ==
              Used{0xaaaaaaaa, 0xaaaaaaaa});
}

TEST_CASE("unget", "[ring][used]") {
    Ring ring(8, {.start_idx = GENERATE(as<std::uint16_t>{}, 0, 0xfffe)});
    const auto start = ring.r().last_avail_idx;
    std::vector<std::uint16_t> heads;
    for (std::uint32_t i = 0; i < 3; i++) {
        heads.push_back(ring.d.add_chain({{ring.d.buffer(8), 8 + i}}));
        ring.d.push(heads.back());
    }
    ring.d.publish();
    for (unsigned i = 0; i < 3; i++)
        REQUIRE(take(ring.r()).c.head == heads[i]);
    SECTION("the last two") {
        vhnet_vring_unget(&ring.r(), 2);
        CHECK(ring.r().last_avail_idx == static_cast<std::uint16_t>(start + 1));
        for (unsigned i = 1; i < 3; i++) {
            const Taken t = take(ring.r());
            REQUIRE(t.ret == 1);
            CHECK(t.c.head == heads[i]);
            CHECK(t.c.out_len == 8 + i);
        }
    }
    SECTION("all") {
        vhnet_vring_unget(&ring.r(), 3);
        CHECK(ring.r().last_avail_idx == start);
        for (unsigned i = 0; i < 3; i++)
            CHECK(take(ring.r()).c.head == heads[i]);
    }
    SECTION("none") {
        vhnet_vring_unget(&ring.r(), 0);
    }
    CHECK(take(ring.r()).ret == 0);
    CHECK(ring.r().last_avail_idx == static_cast<std::uint16_t>(start + 3));
}

TEST_CASE("16-bit wraparound of the indices", "[ring][used][wrap]") {
    constexpr unsigned num = 256;
    constexpr std::uint32_t chains = 200000;
    constexpr std::uint16_t start = 65530;
    Ring ring(num, {.start_idx = start});
    const auto buf = ring.d.buffer(4096);
    struct Sent {
        std::uint16_t head;
        std::uint32_t len;
    };
    std::deque<Sent> in_flight;
    std::uint32_t sent = 0, done = 0, seed = 1;
    const auto rand = [&seed](std::uint32_t range) {
        seed = seed * 1103515245 + 12345;
        return (seed >> 16) % range;
    };

    while (done < chains) {
        // the driver adds a batch of chains of 1 to 3 descriptors, the last one writable
        const std::uint32_t batch = 1 + rand(2 * num);
        for (std::uint32_t k = 0; k < batch && sent < chains; k++) {
            const unsigned descs = 1 + sent % 3;
            if (ring.d.free_descs() < descs)
                break;
            const std::uint32_t len = 1 + sent % 4000;
            std::vector<Buf> bufs(descs - 1, Buf{buf, 16});
            bufs.push_back({buf, len, true});
            const auto head = ring.d.add_chain(bufs);
            ring.d.push(head);
            in_flight.push_back({head, len});
            sent++;
        }
        ring.d.publish();

        // the device takes all of them and returns them in batches
        std::vector<vring_used_elem> elems;
        for (;;) {
            const Taken t = take(ring.r(), 4);
            REQUIRE(t.ret >= 0);
            if (!t.ret)
                break;
            REQUIRE(t.c.in == 1);
            elems.push_back(used_elem(t.c.head, static_cast<std::uint32_t>(t.c.in_len)));
        }
        for (std::size_t pos = 0; pos < elems.size();) {
            const auto n = std::min<std::size_t>(elems.size() - pos,
                                                 1 + rand(static_cast<std::uint32_t>(num)));
            REQUIRE(vhnet_vring_add_used(&ring.r(), &elems[pos], static_cast<unsigned>(n)) == 0);
            pos += n;
        }
        REQUIRE(ring.d.used_idx() == ring.r().last_used_idx);
        REQUIRE(ring.r().last_avail_idx == ring.d.avail_shadow());

        // the driver gets them back in order
        for (const auto &u : ring.d.reap()) {
            REQUIRE(!in_flight.empty());
            REQUIRE(u == Used{in_flight.front().head, in_flight.front().len});
            in_flight.pop_front();
            done++;
        }
        REQUIRE(in_flight.empty());
    }
    const auto end = static_cast<std::uint16_t>(start + chains);
    CHECK(ring.r().last_avail_idx == end);
    CHECK(ring.r().avail_idx == end);
    CHECK(ring.r().last_used_idx == end);
    CHECK(ring.d.used_idx() == end);
    CHECK(ring.d.free_descs() == num);
}

// vhnet_vring_add_used() takes n on trust: with more than num entries its second write runs
// past used->ring[num - 1] (over avail_event and whatever follows the ring in the owner's
// memory), and with more than num - slot it overwrites entries it has just written. A guest that
// republishes heads while the device loops can make a caller collect more than num chains
// (kmod/net.c's mergeable RX collects up to UIO_MAXIOV heads). Reported to the lead: add_used
// should refuse n > num (or callers cap their batches at num). Remove [!mayfail] once it does.
TEST_CASE("add_used of more than num entries stays in the used ring", "[ring][used]") {
    Ring ring(8, {.start_idx = 6});
    auto *after = reinterpret_cast<std::uint8_t *>(&ring.d.used->ring[8]);
    std::vector<std::uint8_t> before(after, after + 64);
    std::vector<vring_used_elem> elems;
    for (std::uint32_t i = 0; i < 12; i++)
        elems.push_back(used_elem(i, i));
    const int ret = vhnet_vring_add_used(&ring.r(), elems.data(), 12);
    // either refused, or at least nothing written past the ring
    CHECK(ret == -EINVAL);
    CHECK(std::vector<std::uint8_t>(after, after + 64) == before);
}
