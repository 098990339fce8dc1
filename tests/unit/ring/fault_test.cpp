// Faults on every accessor path: each call returns its documented error, says why, and leaves
// the ring's indices as they were.
#include "ring_test.h"

#include <string>
#include <vector>

using namespace vhnet::ringtest;
using Op = FakeGuest::Op;

namespace {

void check_fault(Ring &ring, int ret, vhnet_ring_err err, unsigned max = 64) {
    const auto last = ring.r().last_avail_idx;
    const unsigned injected = ring.g.faults_injected();
    const Taken t = take(ring.r(), max);
    CHECK(t.ret == ret);
    CHECK(t.err == err);
    CHECK(ring.r().last_avail_idx == last);
    CHECK(ring.g.faults_injected() > injected);
    // and once the fault is gone, the same chain is there
    ring.g.clear_faults();
    const Taken again = take(ring.r(), max);
    CHECK(again.ret == 1);
    CHECK(again.err == VHNET_RING_OK);
    CHECK(ring.r().last_avail_idx == static_cast<std::uint16_t>(last + 1));
}

} // namespace

TEST_CASE("get_chain: a fault reading the ring", "[ring][fault]") {
    Ring ring(8);
    const auto buf = ring.d.buffer(10);
    const auto head = ring.d.add_chain({{buf, 10}, {buf, 10, true}});
    ring.d.post(head);
    SECTION("avail->idx") {
        ring.g.fail_range(&ring.d.avail->idx, 2);
    }
    SECTION("the avail entry") {
        ring.g.fail_range(&ring.d.avail->ring[0], 2);
    }
    SECTION("the head descriptor") {
        ring.g.fail_range(&ring.d.desc[head], sizeof(vring_desc));
    }
    SECTION("the next descriptor") {
        ring.g.fail_range(&ring.d.desc[__virtio16_to_cpu(true, ring.d.desc[head].next)], 1);
    }
    SECTION("the first get16") {
        ring.g.fail_nth(Op::get16, 1);
    }
    SECTION("the second get16") {
        ring.g.fail_nth(Op::get16, 2);
    }
    SECTION("the second read") {
        ring.g.fail_nth(Op::read, 2);
    }
    check_fault(ring, -EFAULT, VHNET_RING_EFAULT_RING);
}

TEST_CASE("get_chain: a fault translating a buffer", "[ring][fault]") {
    const bool indirect = GENERATE(false, true);
    Ring ring(8);
    const auto buf = ring.d.buffer(10);
    const std::vector<Buf> bufs = {{buf, 10}, {buf, 10, true}};
    ring.d.post(indirect ? ring.d.add_indirect(bufs) : ring.d.add_chain(bufs));
    // an indirect table's entries are translated too, one before each buffer
    SECTION("first") {
        ring.g.fail_nth(Op::translate, indirect ? 2 : 1);
    }
    SECTION("second") {
        ring.g.fail_nth(Op::translate, indirect ? 4 : 2);
    }
    check_fault(ring, -EFAULT, VHNET_RING_BAD_ADDR);
}

TEST_CASE("get_chain: translate out of room", "[ring][fault]") {
    Ring ring(8);
    const auto buf = ring.d.buffer(10);
    ring.d.post(ring.d.add_chain({{buf, 10}, {buf, 10, true}}));
    ring.g.fail_nth(Op::translate, 2, -ENOBUFS);
    check_fault(ring, -ENOBUFS, VHNET_RING_TOO_MANY_SEGS);
}

TEST_CASE("get_chain: a fault reading an indirect table", "[ring][fault][indirect]") {
    Ring ring(8);
    const auto buf = ring.d.buffer(10);
    const auto head = ring.d.add_indirect({{buf, 10}, {buf, 10, true}});
    ring.d.post(head);
    const auto table = __virtio64_to_cpu(true, ring.d.desc[head].addr);
    SECTION("reading its first entry") {
        ring.g.fail_range(ring.g.host(table, 16), 16);
    }
    SECTION("reading its second entry") {
        ring.g.fail_range(ring.g.host(table + 16, 16), 1);
    }
    SECTION("translating its first entry") {
        ring.g.fail_nth(Op::translate, 1);
    }
    SECTION("translating its second entry") {
        ring.g.fail_nth(Op::translate, 3);
    }
    SECTION("translating it out of room") {
        ring.g.fail_nth(Op::translate, 1, -ENOBUFS);
    }
    check_fault(ring, -EFAULT, VHNET_RING_BAD_INDIRECT);
}

TEST_CASE("a ring outside the arena is a fault, not a crash", "[ring][fault]") {
    Ring ring(8);
    const auto buf = ring.d.buffer(10);
    ring.d.post(ring.d.add_chain({{buf, 10}}));
    auto *beyond = ring.g.arena() + ring.g.arena_size();
    bool b = false;
    SECTION("desc") {
        ring.r().desc = reinterpret_cast<vring_desc *>(beyond);
        const Taken t = take(ring.r());
        CHECK(t.ret == -EFAULT);
        CHECK(t.err == VHNET_RING_EFAULT_RING);
    }
    SECTION("desc straddling the arena's end") {
        ring.r().desc = reinterpret_cast<vring_desc *>(beyond - 8);
        const Taken t = take(ring.r());
        CHECK(t.ret == -EFAULT);
        CHECK(t.err == VHNET_RING_EFAULT_RING);
    }
    SECTION("avail") {
        ring.r().avail = reinterpret_cast<vring_avail *>(beyond);
        const Taken t = take(ring.r());
        CHECK(t.ret == -EFAULT);
        CHECK(t.err == VHNET_RING_EFAULT_RING);
        CHECK(vhnet_vring_avail_empty(&ring.r(), &b) == -EFAULT);
        CHECK(vhnet_vring_need_notify(&ring.r()));
    }
    SECTION("used") {
        ring.r().used = reinterpret_cast<vring_used *>(beyond);
        REQUIRE(take(ring.r()).ret == 1);
        const auto e = used_elem(0, 0);
        CHECK(vhnet_vring_add_used(&ring.r(), &e, 1) == -EFAULT);
        CHECK(ring.r().last_used_idx == 0);
        CHECK(vhnet_vring_disable_notify(&ring.r()) == -EFAULT);
    }
}

TEST_CASE("add_used: faults", "[ring][fault][used]") {
    Ring ring(8, {.start_idx = 6});
    std::vector<vring_used_elem> elems = {used_elem(1, 1), used_elem(2, 2), used_elem(3, 3)};
    SECTION("the entries") {
        ring.g.fail_range(&ring.d.used->ring[6], 1);
    }
    SECTION("the entries after the wrap") {
        ring.g.fail_range(&ring.d.used->ring[0], 1);
    }
    SECTION("used->idx") {
        ring.g.fail_range(&ring.d.used->idx, 2);
    }
    SECTION("the first write") {
        ring.g.fail_nth(Op::write, 1);
    }
    SECTION("the second write") {
        ring.g.fail_nth(Op::write, 2);
    }
    SECTION("put16") {
        ring.g.fail_nth(Op::put16, 1);
    }
    CHECK(vhnet_vring_add_used(&ring.r(), elems.data(), 3) == -EFAULT);
    CHECK(ring.r().last_used_idx == 6);
    CHECK(ring.d.used_idx() == 6);
    // once the fault is gone it works
    ring.g.clear_faults();
    CHECK(vhnet_vring_add_used(&ring.r(), elems.data(), 3) == 0);
    CHECK(ring.r().last_used_idx == 9);
    CHECK(ring.d.used_idx() == 9);
}

TEST_CASE("need_notify: a fault reading the driver's wishes notifies", "[ring][fault][notify]") {
    SECTION("avail->flags") {
        Ring ring(8);
        ring.d.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
        CHECK_FALSE(vhnet_vring_need_notify(&ring.r()));
        ring.g.fail_range(&ring.d.avail->flags, 2);
        CHECK(vhnet_vring_need_notify(&ring.r()));
    }
    SECTION("used_event") {
        Ring ring(8, {.event_idx = true});
        ring.d.set_used_event(0x8000);
        CHECK(vhnet_vring_need_notify(&ring.r()));
        REQUIRE(vhnet_vring_add_used(&ring.r(), nullptr, 0) == 0);
        CHECK_FALSE(vhnet_vring_need_notify(&ring.r()));
        ring.g.fail_range(&ring.d.avail->ring[8], 2);
        CHECK(vhnet_vring_need_notify(&ring.r()));
        CHECK(ring.g.faults_injected() == 1);
    }
}

TEST_CASE("disable/enable_notify and avail_empty: faults", "[ring][fault][notify]") {
    const bool event_idx = GENERATE(false, true);
    INFO("event_idx " << event_idx);
    Ring ring(8, {.event_idx = event_idx});
    bool b = true;
    SECTION("disable") {
        ring.g.fail_nth(Op::put16, 1);
        CHECK(vhnet_vring_disable_notify(&ring.r()) == (event_idx ? 0 : -EFAULT));
    }
    SECTION("enable writing") {
        REQUIRE(vhnet_vring_disable_notify(&ring.r()) == 0);
        ring.g.fail_nth(Op::put16, 1);
        CHECK(vhnet_vring_enable_notify(&ring.r(), &b) == -EFAULT);
        CHECK_FALSE(b);
    }
    SECTION("enable reading avail->idx") {
        REQUIRE(vhnet_vring_disable_notify(&ring.r()) == 0);
        ring.g.fail_range(&ring.d.avail->idx, 2);
        CHECK(vhnet_vring_enable_notify(&ring.r(), &b) == -EFAULT);
        CHECK_FALSE(b);
    }
    SECTION("avail_empty") {
        ring.g.fail_nth(Op::get16, 1);
        CHECK(vhnet_vring_avail_empty(&ring.r(), &b) == -EFAULT);
        CHECK_FALSE(b);
    }
}

TEST_CASE("fail every accessor call in turn", "[ring][fault]") {
    // A pass of a device over a ring with a direct, an indirect and a region-spanning chain.
    // Failing its nth accessor call, whatever n, gives documented results only.
    const bool event_idx = GENERATE(false, true);
    const auto pass = [event_idx](unsigned fail, std::vector<std::string> &log) {
        FakeGuest g;
        g.add_region(ram_gpa, 0x40000, 0);
        g.add_region(0x1000000, 0x1000, 0x80000);
        g.add_region(0x1001000, 0x1000, 0x50000);
        Driver d(g, 4, {.event_idx = event_idx, .start_idx = 0xfffe});
        const auto buf = d.buffer(64);
        d.push(d.add_chain({{buf, 10}, {buf, 64, true}}));
        d.push(d.add_indirect({{buf, 8}, {buf, 16}, {buf, 32, true}}));
        d.push(d.add_chain({{0x1000ff0, 0x20, true}}));
        d.publish();
        if (fail)
            g.fail_nth(FakeGuest::Op::any, fail);

        int ret = vhnet_vring_disable_notify(&d.r);
        CHECK((ret == 0 || ret == -EFAULT));
        log.push_back("disable " + std::to_string(ret));
        std::vector<vring_used_elem> elems;
        for (;;) {
            const auto last = d.r.last_avail_idx;
            const Taken t = take(d.r, 8);
            log.push_back("take " + std::to_string(t.ret) + " " + vhnet_vring_error_name(t.err));
            if (t.ret < 0) {
                CHECK(t.ret == -EFAULT);
                CHECK((t.err == VHNET_RING_EFAULT_RING || t.err == VHNET_RING_BAD_ADDR ||
                       t.err == VHNET_RING_BAD_INDIRECT));
                CHECK(d.r.last_avail_idx == last);
                break;
            }
            CHECK(t.err == VHNET_RING_OK);
            if (!t.ret)
                break;
            elems.push_back(used_elem(t.c.head, static_cast<std::uint32_t>(t.c.in_len)));
        }
        const auto used = d.r.last_used_idx;
        ret = vhnet_vring_add_used(&d.r, elems.data(), static_cast<unsigned>(elems.size()));
        CHECK((ret == 0 || ret == -EFAULT));
        CHECK(d.r.last_used_idx == (ret ? used : static_cast<std::uint16_t>(used + elems.size())));
        log.push_back("add_used " + std::to_string(ret));
        log.push_back("need_notify " + std::to_string(vhnet_vring_need_notify(&d.r)));
        bool more = true;
        ret = vhnet_vring_enable_notify(&d.r, &more);
        CHECK((ret == 0 || ret == -EFAULT));
        log.push_back("enable " + std::to_string(ret) + " " + std::to_string(more));
        bool empty = false;
        ret = vhnet_vring_avail_empty(&d.r, &empty);
        CHECK((ret == 0 || ret == -EFAULT));
        log.push_back("avail_empty " + std::to_string(ret) + " " + std::to_string(empty));
        return g.faults_injected();
    };

    std::vector<std::string> clean;
    REQUIRE(pass(0, clean) == 0);
    CHECK(clean == std::vector<std::string>{"disable 0", "take 1 ok", "take 1 ok", "take 1 ok",
                                            "take 0 ok", "add_used 0", "need_notify 1",
                                            "enable 0 0", "avail_empty 0 1"});
    unsigned n = 1;
    for (;; n++) {
        std::vector<std::string> log;
        INFO("failing call " << n);
        if (!pass(n, log))
            break; // fewer calls than n: all done
        std::string text;
        for (const auto &l : log)
            text += l + "; ";
        INFO("calls: " << text);
    }
    // every call was failed once
    CHECK(n > 20);
}
