// vhnet_vring_get_chain(): taking chains from the avail ring, and every way a chain is broken.
#include "ring_test.h"

#include <cstring>
#include <vector>

using namespace vhnet::ringtest;

namespace {

// A broken chain is refused with ret and err, and its avail entry stays where it was.
void check_broken(Ring &ring, int ret, vhnet_ring_err err, unsigned max = 64) {
    const auto last = ring.r().last_avail_idx;
    const Taken t = take(ring.r(), max);
    CHECK(t.ret == ret);
    CHECK(t.err == err);
    CHECK(ring.r().last_avail_idx == last);
    // it stays broken: the core does not skip it
    const Taken again = take(ring.r(), max);
    CHECK(again.ret == ret);
    CHECK(again.err == err);
    CHECK(ring.r().last_avail_idx == last);
}

} // namespace

TEST_CASE("empty ring", "[ring][chain]") {
    Ring ring;
    const Taken t = take(ring.r());
    CHECK(t.ret == 0);
    CHECK(t.err == VHNET_RING_OK);
    CHECK(ring.r().last_avail_idx == 0);
    CHECK(ring.r().avail_idx == 0);
    bool empty = false;
    REQUIRE(vhnet_vring_avail_empty(&ring.r(), &empty) == 0);
    CHECK(empty);
}

TEST_CASE("single descriptor", "[ring][chain]") {
    Ring ring;
    const auto buf = ring.d.buffer(100);
    SECTION("driver-readable") {
        const auto head = ring.d.add_chain({{buf, 100}});
        ring.d.post(head);
        const Taken t = take(ring.r());
        REQUIRE(t.ret == 1);
        CHECK(t.err == VHNET_RING_OK);
        CHECK(t.c.head == head);
        CHECK(t.c.out == 1);
        CHECK(t.c.in == 0);
        CHECK(t.c.out_len == 100);
        CHECK(t.c.in_len == 0);
        check_seg(ring.g, t.iov[0], buf, 100);
    }
    SECTION("device-writable") {
        const auto head = ring.d.add_chain({{buf, 100, true}});
        ring.d.post(head);
        const Taken t = take(ring.r());
        REQUIRE(t.ret == 1);
        CHECK(t.c.out == 0);
        CHECK(t.c.in == 1);
        CHECK(t.c.out_len == 0);
        CHECK(t.c.in_len == 100);
        check_seg(ring.g, t.iov[0], buf, 100);
    }
    CHECK(ring.r().last_avail_idx == 1);
    CHECK(ring.r().avail_idx == 1);
    CHECK(take(ring.r()).ret == 0);
}

TEST_CASE("chained descriptors, out then in", "[ring][chain]") {
    Ring ring(16);
    const std::vector<Buf> bufs = {
        {ring.d.buffer(12), 12},       {ring.d.buffer(1500), 1500},
        {ring.d.buffer(64), 64, true}, {ring.d.buffer(4096), 4096, true},
        {ring.d.buffer(7), 7, true},
    };
    const auto head = ring.d.add_chain(bufs);
    ring.d.post(head);
    const Taken t = take(ring.r());
    REQUIRE(t.ret == 1);
    CHECK(t.c.head == head);
    CHECK(t.c.out == 2);
    CHECK(t.c.in == 3);
    CHECK(t.c.out_len == 12 + 1500);
    CHECK(t.c.in_len == 64 + 4096 + 7);
    REQUIRE(t.iov.size() == bufs.size());
    for (std::size_t i = 0; i < bufs.size(); i++)
        check_seg(ring.g, t.iov[i], bufs[i].gpa, bufs[i].len);
}

TEST_CASE("several chains in order", "[ring][chain]") {
    Ring ring(8);
    std::vector<std::uint16_t> heads;
    for (std::uint32_t i = 0; i < 3; i++) {
        heads.push_back(ring.d.add_chain({{ring.d.buffer(10 + i), 10 + i}}));
        ring.d.push(heads.back());
    }
    ring.d.publish();
    for (std::uint32_t i = 0; i < 3; i++) {
        const Taken t = take(ring.r());
        REQUIRE(t.ret == 1);
        CHECK(t.c.head == heads[i]);
        CHECK(t.c.out_len == 10 + i);
    }
    CHECK(take(ring.r()).ret == 0);
}

TEST_CASE("indirect chain", "[ring][chain][indirect]") {
    Ring ring;
    const std::vector<Buf> bufs = {
        {ring.d.buffer(10), 10},
        {ring.d.buffer(20), 20},
        {ring.d.buffer(30), 30, true},
        {ring.d.buffer(40), 40, true},
    };
    SECTION("alone") {
        const auto head = ring.d.add_indirect(bufs);
        ring.d.post(head);
        const Taken t = take(ring.r());
        REQUIRE(t.ret == 1);
        CHECK(t.c.head == head);
        CHECK(t.c.out == 2);
        CHECK(t.c.in == 2);
        CHECK(t.c.out_len == 30);
        CHECK(t.c.in_len == 70);
        REQUIRE(t.iov.size() == 4);
        for (std::size_t i = 0; i < bufs.size(); i++)
            check_seg(ring.g, t.iov[i], bufs[i].gpa, bufs[i].len);
        CHECK(ring.d.free_descs() == 7);
    }
    SECTION("its table's entries in next order, not table order") {
        std::uint64_t gpa;
        auto *table = ring.d.indirect_table(3, &gpa);
        Driver::write_desc(&table[2], bufs[0].gpa, 10, VRING_DESC_F_NEXT, 0);
        Driver::write_desc(&table[0], bufs[1].gpa, 20, VRING_DESC_F_NEXT, 1);
        Driver::write_desc(&table[1], bufs[2].gpa, 30, VRING_DESC_F_WRITE);
        ring.d.set_desc(5, gpa, 3 * sizeof(vring_desc), VRING_DESC_F_INDIRECT);
        // the walk starts at entry 0, so table[2] is never reached
        ring.d.post(5);
        const Taken t = take(ring.r());
        REQUIRE(t.ret == 1);
        CHECK(t.c.head == 5);
        CHECK(t.c.out == 1);
        CHECK(t.c.in == 1);
        REQUIRE(t.iov.size() == 2);
        check_seg(ring.g, t.iov[0], bufs[1].gpa, 20);
        check_seg(ring.g, t.iov[1], bufs[2].gpa, 30);
    }
    SECTION("after direct descriptors") {
        // a direct out descriptor, then an indirect table with the rest
        std::uint64_t gpa;
        auto *table = ring.d.indirect_table(2, &gpa);
        Driver::write_desc(&table[0], bufs[1].gpa, 20, VRING_DESC_F_NEXT, 1);
        Driver::write_desc(&table[1], bufs[2].gpa, 30, VRING_DESC_F_WRITE);
        ring.d.set_desc(0, bufs[0].gpa, 10, VRING_DESC_F_NEXT, 1);
        ring.d.set_desc(1, gpa, 2 * sizeof(vring_desc), VRING_DESC_F_INDIRECT);
        ring.d.post(0);
        const Taken t = take(ring.r());
        REQUIRE(t.ret == 1);
        CHECK(t.c.out == 2);
        CHECK(t.c.in == 1);
        CHECK(t.c.out_len == 30);
        CHECK(t.c.in_len == 30);
    }
}

TEST_CASE("a buffer spanning two memory regions", "[ring][chain][memory]") {
    FakeGuest g;
    // RAM for the ring itself, then two guest-contiguous regions that are not host-contiguous
    g.add_region(ram_gpa, 0x40000, 0);
    g.add_region(0x1000000, 0x1000, 0x80000);
    g.add_region(0x1001000, 0x1000, 0x50000);
    Driver d(g, 8);
    const auto head = d.add_chain({{0x1000ff0, 0x30, true}});
    d.post(head);
    const Taken t = take(d.r);
    REQUIRE(t.ret == 1);
    CHECK(t.c.in == 2);
    CHECK(t.c.out == 0);
    CHECK(t.c.in_len == 0x30);
    REQUIRE(t.iov.size() == 2);
    CHECK(t.iov[0].iov_base == g.arena() + 0x80ff0);
    CHECK(t.iov[0].iov_len == 0x10);
    CHECK(t.iov[1].iov_base == g.arena() + 0x50000);
    CHECK(t.iov[1].iov_len == 0x20);
    SECTION("two iovecs need room for two") {
        Driver::write_desc(&d.desc[head], 0x1000ff0, 0x30, 0);
        d.post(head);
        const Taken one = take(d.r, 1);
        CHECK(one.ret == -ENOBUFS);
        CHECK(one.err == VHNET_RING_TOO_MANY_SEGS);
    }
}

TEST_CASE("zero-length descriptors", "[ring][chain]") {
    Ring ring;
    const auto in = ring.d.buffer(10);
    SECTION("add no segment") {
        const auto head = ring.d.add_chain({{ring.d.buffer(0), 0}, {in, 10, true}, {in, 0, true}});
        ring.d.post(head);
        const Taken t = take(ring.r());
        REQUIRE(t.ret == 1);
        CHECK(t.c.out == 0);
        CHECK(t.c.in == 1);
        CHECK(t.c.out_len == 0);
        CHECK(t.c.in_len == 10);
        check_seg(ring.g, t.iov[0], in, 10);
    }
    SECTION("are not translated, so any address goes") {
        // as kmod/vq.c's translate: zero bytes need no memory
        const auto head = ring.d.add_chain({{0xdead0000, 0}, {in, 10, true}});
        ring.d.post(head);
        const Taken t = take(ring.r());
        REQUIRE(t.ret == 1);
        CHECK(t.c.out == 0);
        CHECK(t.c.in == 1);
    }
    SECTION("fit in no room") {
        const auto head = ring.d.add_chain({{in, 0}, {in, 0, true}});
        ring.d.post(head);
        const Taken t = take(ring.r(), 0);
        REQUIRE(t.ret == 1);
        CHECK(t.c.out + t.c.in == 0);
    }
}

TEST_CASE("head >= num", "[ring][chain][broken]") {
    Ring ring(8);
    const auto head = GENERATE(as<std::uint16_t>{}, 8, 9, 255, 0xffff);
    ring.d.post(head);
    check_broken(ring, -EINVAL, VHNET_RING_BAD_HEAD);
}

TEST_CASE("next >= num", "[ring][chain][broken]") {
    Ring ring(8);
    const auto next = GENERATE(as<std::uint16_t>{}, 8, 0xffff);
    const auto buf = ring.d.buffer(10);
    ring.d.set_desc(0, buf, 10, VRING_DESC_F_NEXT, 1);
    ring.d.set_desc(1, buf, 10, VRING_DESC_F_NEXT, next);
    ring.d.post(0);
    check_broken(ring, -EINVAL, VHNET_RING_BAD_NEXT);
}

TEST_CASE("a next without F_NEXT is ignored", "[ring][chain]") {
    Ring ring(8);
    const auto buf = ring.d.buffer(10);
    ring.d.set_desc(0, buf, 10, 0, 0xffff);
    ring.d.post(0);
    const Taken t = take(ring.r());
    REQUIRE(t.ret == 1);
    CHECK(t.c.out == 1);
}

TEST_CASE("descriptor loop", "[ring][chain][broken]") {
    Ring ring(8);
    const auto buf = ring.d.buffer(10);
    SECTION("onto itself") {
        ring.d.set_desc(3, buf, 0, VRING_DESC_F_NEXT, 3);
        ring.d.post(3);
    }
    SECTION("two descriptors") {
        ring.d.set_desc(0, buf, 0, VRING_DESC_F_NEXT, 1);
        ring.d.set_desc(1, buf, 0, VRING_DESC_F_NEXT, 0);
        ring.d.post(0);
    }
    SECTION("back into the middle") {
        ring.d.set_desc(0, buf, 0, VRING_DESC_F_NEXT, 1);
        ring.d.set_desc(1, buf, 0, VRING_DESC_F_NEXT, 2);
        ring.d.set_desc(2, buf, 0, VRING_DESC_F_NEXT, 1);
        ring.d.post(0);
    }
    // zero-length buffers take no iovec room: only the loop check can stop these
    check_broken(ring, -ELOOP, VHNET_RING_LOOP, 0);
    check_broken(ring, -ELOOP, VHNET_RING_LOOP);
}

TEST_CASE("descriptor loop inside an indirect table", "[ring][chain][indirect][broken]") {
    Ring ring(8);
    const auto buf = ring.d.buffer(10);
    std::uint64_t gpa;
    auto *table = ring.d.indirect_table(4, &gpa);
    Driver::write_desc(&table[0], buf, 0, VRING_DESC_F_NEXT, 1);
    Driver::write_desc(&table[1], buf, 0, VRING_DESC_F_NEXT, 2);
    SECTION("back to the start") {
        Driver::write_desc(&table[2], buf, 0, VRING_DESC_F_NEXT, 0);
    }
    SECTION("onto itself") {
        Driver::write_desc(&table[2], buf, 0, VRING_DESC_F_NEXT, 2);
    }
    ring.d.set_desc(0, gpa, 4 * sizeof(vring_desc), VRING_DESC_F_INDIRECT);
    ring.d.post(0);
    check_broken(ring, -ELOOP, VHNET_RING_LOOP, 0);
}

TEST_CASE("a chain exactly num long", "[ring][chain]") {
    const unsigned num = GENERATE(1u, 2u, 8u, 256u);
    Ring ring(num);
    const auto buf = ring.d.buffer(1);
    for (unsigned i = 0; i < num; i++) {
        const bool last = i + 1 == num;
        ring.d.set_desc(static_cast<std::uint16_t>(i), buf, 1, last ? 0 : VRING_DESC_F_NEXT,
                        static_cast<std::uint16_t>(last ? 0 : i + 1));
    }
    SECTION("is a chain") {
        ring.d.post(0);
        const Taken t = take(ring.r(), num);
        REQUIRE(t.ret == 1);
        CHECK(t.c.out == num);
        CHECK(t.c.out_len == num);
    }
    SECTION("and one more is a loop") {
        // the last descriptor goes back to the first: num + 1 descriptors
        const auto last = static_cast<std::uint16_t>(num - 1);
        ring.d.set_desc(last, buf, 1, VRING_DESC_F_NEXT, 0);
        ring.d.post(0);
        // room for every segment of num + 1 descriptors, so that only the loop check fails
        const unsigned reads = ring.g.calls(FakeGuest::Op::read);
        check_broken(ring, -ELOOP, VHNET_RING_LOOP, num + 1);
        // two attempts, each reading num descriptors: the one after is refused unread
        CHECK(ring.g.calls(FakeGuest::Op::read) - reads == 2 * num);
        // with room for num segments only, it is still a loop, not too many segments
        check_broken(ring, -ELOOP, VHNET_RING_LOOP, num);
    }
}

TEST_CASE("an indirect table walked to its end", "[ring][chain][indirect]") {
    Ring ring(2);
    const auto buf = ring.d.buffer(1);
    const unsigned count = 300; // longer than the ring: an indirect chain is bounded by its table
    std::uint64_t gpa;
    auto *table = ring.d.indirect_table(count, &gpa);
    for (unsigned i = 0; i < count; i++)
        Driver::write_desc(&table[i], buf, 1, i + 1 < count ? VRING_DESC_F_NEXT : 0,
                           static_cast<std::uint16_t>(i + 1 < count ? i + 1 : 0));
    ring.d.set_desc(1, gpa, count * sizeof(vring_desc), VRING_DESC_F_INDIRECT);
    ring.d.post(1);
    SECTION("is a chain") {
        const Taken t = take(ring.r(), count);
        REQUIRE(t.ret == 1);
        CHECK(t.c.out == count);
    }
    SECTION("and one more is a loop") {
        Driver::write_desc(&table[count - 1], buf, 1, VRING_DESC_F_NEXT, 0);
        const unsigned reads = ring.g.calls(FakeGuest::Op::read);
        check_broken(ring, -ELOOP, VHNET_RING_LOOP, count + 1);
        // two attempts, each reading the ring's descriptor and the table's count
        CHECK(ring.g.calls(FakeGuest::Op::read) - reads == 2 * (1 + count));
        check_broken(ring, -ELOOP, VHNET_RING_LOOP, count);
    }
}

TEST_CASE("indirect table of bad length", "[ring][chain][indirect][broken]") {
    Ring ring;
    const auto len = GENERATE(0u, 1u, 8u, 15u, 17u, 24u, 0xfffffff0u, 0xffffffffu);
    std::uint64_t gpa;
    ring.d.indirect_table(4, &gpa);
    ring.d.set_desc(0, gpa, len, VRING_DESC_F_INDIRECT);
    ring.d.post(0);
    check_broken(ring, -EINVAL, VHNET_RING_BAD_INDIRECT);
}

TEST_CASE("nested indirect table", "[ring][chain][indirect][broken]") {
    Ring ring;
    const auto buf = ring.d.buffer(10);
    std::uint64_t inner, outer;
    auto *in = ring.d.indirect_table(1, &inner);
    Driver::write_desc(in, buf, 10, 0);
    auto *out = ring.d.indirect_table(2, &outer);
    Driver::write_desc(&out[0], buf, 10, VRING_DESC_F_NEXT, 1);
    Driver::write_desc(&out[1], inner, sizeof(vring_desc), VRING_DESC_F_INDIRECT);
    ring.d.set_desc(0, outer, 2 * sizeof(vring_desc), VRING_DESC_F_INDIRECT);
    ring.d.post(0);
    check_broken(ring, -EINVAL, VHNET_RING_BAD_INDIRECT);
}

TEST_CASE("indirect next out of range", "[ring][chain][indirect][broken]") {
    Ring ring;
    const auto buf = ring.d.buffer(10);
    const auto next = GENERATE(as<std::uint16_t>{}, 2, 3, 0xffff);
    std::uint64_t gpa;
    // a table of 4 whose descriptor says it has 2: entries 2 and 3 are outside it
    auto *table = ring.d.indirect_table(4, &gpa);
    Driver::write_desc(&table[0], buf, 10, VRING_DESC_F_NEXT, next);
    Driver::write_desc(&table[1], buf, 10, 0);
    Driver::write_desc(&table[2], buf, 10, 0);
    Driver::write_desc(&table[3], buf, 10, 0);
    ring.d.set_desc(0, gpa, 2 * sizeof(vring_desc), VRING_DESC_F_INDIRECT);
    ring.d.post(0);
    check_broken(ring, -EINVAL, VHNET_RING_BAD_NEXT);
}

TEST_CASE("indirect table unmapped", "[ring][chain][indirect][broken]") {
    Ring ring;
    const auto buf = ring.d.buffer(10);
    SECTION("wholly") {
        ring.d.set_desc(0, 0x10, 2 * sizeof(vring_desc), VRING_DESC_F_INDIRECT);
    }
    SECTION("its second entry, past the end of guest memory") {
        const std::uint64_t end = ram_gpa + ring.g.arena_size();
        auto *table = ring.g.host(end - sizeof(vring_desc), sizeof(vring_desc));
        Driver::write_desc(reinterpret_cast<vring_desc *>(table), buf, 10, VRING_DESC_F_NEXT, 1);
        ring.d.set_desc(0, end - sizeof(vring_desc), 2 * sizeof(vring_desc), VRING_DESC_F_INDIRECT);
    }
    ring.d.post(0);
    check_broken(ring, -EFAULT, VHNET_RING_BAD_INDIRECT);
}

TEST_CASE("an indirect table spanning two memory regions", "[ring][chain][indirect][memory]") {
    FakeGuest g;
    g.add_region(ram_gpa, 0x40000, 0);
    g.add_region(0x1000000, 0x1000, 0x80000);
    g.add_region(0x1001000, 0x1000, 0x50000);
    Driver d(g, 8);
    const auto buf = d.buffer(10);
    // table entry 1 straddles the regions' boundary: 8 bytes in each
    auto *e0 = reinterpret_cast<vring_desc *>(g.host(0x1000ff8 - 16, 16));
    Driver::write_desc(e0, buf, 10, VRING_DESC_F_NEXT, 1);
    vring_desc e1;
    Driver::write_desc(&e1, buf, 10, VRING_DESC_F_WRITE);
    std::memcpy(g.host(0x1000ff8, 8), &e1, 8);
    std::memcpy(g.host(0x1001000, 8), reinterpret_cast<std::uint8_t *>(&e1) + 8, 8);
    d.set_desc(0, 0x1000ff8 - 16, 2 * sizeof(vring_desc), VRING_DESC_F_INDIRECT);
    d.post(0);
    const Taken t = take(d.r);
    REQUIRE(t.ret == 1);
    CHECK(t.c.out == 1);
    CHECK(t.c.in == 1);
}

TEST_CASE("out after in", "[ring][chain][broken]") {
    Ring ring;
    const auto buf = ring.d.buffer(10);
    SECTION("direct") {
        ring.d.post(ring.d.add_chain({{buf, 10}, {buf, 10, true}, {buf, 10}}));
    }
    SECTION("in an indirect table") {
        ring.d.post(ring.d.add_indirect({{buf, 10, true}, {buf, 10}}));
    }
    SECTION("a direct in, then an indirect out") {
        std::uint64_t gpa;
        auto *table = ring.d.indirect_table(1, &gpa);
        Driver::write_desc(table, buf, 10, 0);
        ring.d.set_desc(0, buf, 10, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
        ring.d.set_desc(1, gpa, sizeof(vring_desc), VRING_DESC_F_INDIRECT);
        ring.d.post(0);
    }
    check_broken(ring, -EINVAL, VHNET_RING_OUT_AFTER_IN);
}

TEST_CASE("unmapped buffer address", "[ring][chain][broken]") {
    Ring ring;
    const std::uint64_t end = ram_gpa + ring.g.arena_size();
    const std::vector<Buf> bad = {
        {0, 1},                      // below guest memory
        {ram_gpa - 1, 2},            // its first byte
        {end - 1, 2},                // its last byte
        {end, 1},                    // right after it
        {0xfffffffffffffff0, 0x20},  // wrapping the address space
        {ram_gpa, 0xffffffff, true}, // far too long
    };
    for (const auto &b : bad) {
        Ring fresh;
        INFO("gpa " << b.gpa << " len " << b.len);
        const auto ok = fresh.d.buffer(4);
        fresh.d.post(fresh.d.add_chain({{ok, 4}, b}));
        check_broken(fresh, -EFAULT, VHNET_RING_BAD_ADDR);
    }
    SECTION("in an indirect table") {
        ring.d.post(ring.d.add_indirect({{end, 1}}));
        check_broken(ring, -EFAULT, VHNET_RING_BAD_ADDR);
    }
}

TEST_CASE("too many segments", "[ring][chain][broken]") {
    Ring ring;
    const auto buf = ring.d.buffer(10);
    SECTION("direct") {
        ring.d.post(ring.d.add_chain({{buf, 10}, {buf, 10}, {buf, 10, true}}));
        CHECK(take(ring.r(), 3).ret == 1);
        ring.d.post(ring.d.add_chain({{buf, 10}, {buf, 10}, {buf, 10, true}}));
        check_broken(ring, -ENOBUFS, VHNET_RING_TOO_MANY_SEGS, 2);
        check_broken(ring, -ENOBUFS, VHNET_RING_TOO_MANY_SEGS, 0);
    }
    SECTION("indirect") {
        ring.d.post(ring.d.add_indirect({{buf, 10}, {buf, 10}, {buf, 10, true}}));
        check_broken(ring, -ENOBUFS, VHNET_RING_TOO_MANY_SEGS, 2);
        CHECK(take(ring.r(), 3).ret == 1);
    }
}

TEST_CASE("avail idx moving by more than the ring size", "[ring][chain][broken]") {
    Ring ring(8, {.start_idx = GENERATE(as<std::uint16_t>{}, 0, 5, 0xfffc)});
    const auto start = ring.r().last_avail_idx;
    for (std::uint16_t i = 0; i < 8; i++) {
        ring.d.set_desc(i, ring.d.buffer(1), 1, 0);
        ring.d.set_avail_entry(i, i);
    }
    SECTION("by num + 1 is an error") {
        ring.d.set_avail_idx(static_cast<std::uint16_t>(start + 9));
        check_broken(ring, -EINVAL, VHNET_RING_BAD_AVAIL_IDX);
    }
    SECTION("backwards is an error") {
        ring.d.set_avail_idx(static_cast<std::uint16_t>(start - 1));
        check_broken(ring, -EINVAL, VHNET_RING_BAD_AVAIL_IDX);
    }
    SECTION("by exactly num is fine") {
        ring.d.set_avail_idx(static_cast<std::uint16_t>(start + 8));
        for (unsigned i = 0; i < 8; i++) {
            const Taken t = take(ring.r());
            REQUIRE(t.ret == 1);
            CHECK(t.c.head == ((start + i) & 7));
        }
        CHECK(take(ring.r()).ret == 0);
        CHECK(ring.r().last_avail_idx == static_cast<std::uint16_t>(start + 8));
    }
}

TEST_CASE("F_WRITE on an indirect descriptor is ignored", "[ring][chain][indirect]") {
    Ring ring;
    const auto buf = ring.d.buffer(10);
    std::uint64_t gpa;
    auto *table = ring.d.indirect_table(1, &gpa);
    Driver::write_desc(table, buf, 10, 0);
    ring.d.set_desc(0, gpa, sizeof(vring_desc), VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE);
    ring.d.post(0);
    const Taken t = take(ring.r());
    REQUIRE(t.ret == 1);
    // the table's own flags decide: a driver-readable buffer
    CHECK(t.c.out == 1);
    CHECK(t.c.in == 0);
}

// The virtio spec (2.7.5.3.1) says a driver MUST NOT set both F_INDIRECT and F_NEXT; like
// drivers/vhost, the ring core tolerates it and follows the NEXT after the table, so that vhnet
// and vhost-net take the same chain from such a driver.
TEST_CASE("indirect descriptor with F_NEXT is followed after the table",
          "[ring][chain][indirect]") {
    Ring ring;
    const auto buf = ring.d.buffer(10);
    std::uint64_t gpa;
    auto *table = ring.d.indirect_table(1, &gpa);
    Driver::write_desc(table, buf, 10, 0);
    ring.d.set_desc(0, gpa, sizeof(vring_desc), VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
    ring.d.set_desc(1, buf, 10, VRING_DESC_F_WRITE);
    ring.d.post(0);
    const Taken t = take(ring.r());
    REQUIRE(t.ret == 1);
    CHECK(t.c.out == 1);
    CHECK(t.c.in == 1);
    CHECK(t.c.out_len == 10);
    CHECK(t.c.in_len == 10);
}

TEST_CASE("get_chain counts the descriptors it read, indirect ones too", "[ring][chain]") {
    Ring ring(16);
    const std::vector<Buf> bufs = {
        {ring.d.buffer(12), 12}, {ring.d.buffer(64), 64, true}, {ring.d.buffer(64), 64, true}};
    ring.d.post(ring.d.add_chain(bufs));
    ring.d.post(ring.d.add_indirect(bufs));
    Taken t = take(ring.r());
    REQUIRE(t.ret == 1);
    CHECK(t.c.descs == 3);
    t = take(ring.r());
    REQUIRE(t.ret == 1);
    CHECK(t.c.descs == 4); // the ring's descriptor and the table's three
    t = take(ring.r());
    CHECK(t.ret == 0);
    CHECK(t.c.descs == 0);
}
