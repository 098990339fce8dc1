#include <vhnet/memory.h>
#include <vhnet/vring.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdint>
#include <cstring>

using vhnet::MemoryTable;
using vhnet::Vring;
using vhnet::VringLayout;

namespace {

// The legacy vring_size() of <linux/virtio_ring.h> (hidden by VIRTIO_RING_NO_LEGACY).
std::uint64_t legacy_vring_size(std::uint64_t num, std::uint64_t align) {
    return ((16 * num + 2 * (3 + num) + align - 1) & ~(align - 1)) + 2 * 3 + 8 * num;
}

std::uintptr_t address(const void *p) {
    return reinterpret_cast<std::uintptr_t>(p);
}

} // namespace

TEST_CASE("VringLayout of the split ring for common sizes", "[vring]") {
    struct Expected {
        unsigned num;
        std::uint64_t desc_size, avail_offset, avail_size, used_offset, used_size, total;
    };
    for (const auto &e : {
             Expected{64, 1024, 1024, 134, 4096, 518, 4614},
             Expected{256, 4096, 4096, 518, 8192, 2054, 10246},
             Expected{1024, 16384, 16384, 2054, 20480, 8198, 28678},
             Expected{32768, 524288, 524288, 65542, 593920, 262150, 856070},
         }) {
        INFO("num " << e.num);
        const auto layout = VringLayout::compute(e.num);
        REQUIRE(layout);
        CHECK(layout->num == e.num);
        CHECK(layout->desc_offset == 0);
        CHECK(layout->desc_size == e.desc_size);
        CHECK(layout->avail_offset == e.avail_offset);
        CHECK(layout->avail_size == e.avail_size);
        CHECK(layout->used_offset == e.used_offset);
        CHECK(layout->used_size == e.used_size);
        CHECK(layout->total_size == e.total);
        CHECK(layout->total_size == legacy_vring_size(e.num, 4096));
        CHECK(layout->used_offset % 4096 == 0);
    }
}

TEST_CASE("VringLayout with the virtio 1.0 alignments", "[vring]") {
    const auto layout = VringLayout::compute(256, 4);
    REQUIRE(layout);
    CHECK(layout->avail_offset == 4096);
    CHECK(layout->used_offset == 4616); // 4096 + 518, aligned to 4
    CHECK(layout->total_size == 4616 + 2054);
    CHECK(VringLayout::compute(1, 4)->total_size == 16 + 8 + 14); // 16 + 8, then 6 + 8
    CHECK(VringLayout::compute(2)->desc_size == 32);
}

TEST_CASE("VringLayout refuses sizes that are not powers of two up to 32768", "[vring]") {
    for (const unsigned num : {0u, 3u, 100u, 65536u, 32769u, 0x80000000u}) {
        INFO("num " << num);
        const auto layout = VringLayout::compute(num);
        REQUIRE_FALSE(layout);
        CHECK(layout.error().code() == EINVAL);
        CHECK(layout.error().message() == "vring size " + std::to_string(num) +
                                              " (a power of two up to 32768): Invalid argument");
    }
    CHECK(VringLayout::compute(256, 2).error().code() == EINVAL);
    CHECK(VringLayout::compute(256, 100).error().code() == EINVAL);
}

TEST_CASE("Vring::place puts the ring in a region and yields vhost_vring_addr", "[vring]") {
    MemoryTable mem;
    auto region = mem.add_region(0x100000, 0x10000);
    REQUIRE(region);

    auto ring = Vring::place(*region, 256);
    REQUIRE(ring);
    CHECK(ring->num() == 256);
    CHECK(ring->desc_gpa() == 0x100000);
    CHECK(ring->avail_gpa() == 0x101000);
    CHECK(ring->used_gpa() == 0x102000);
    CHECK(address(ring->desc()) == address(region->host()));
    CHECK(address(ring->avail()) == address(region->host() + 0x1000));
    CHECK(address(ring->used()) == address(region->host() + 0x2000));
    CHECK(mem.host(ring->used_gpa()) == reinterpret_cast<std::byte *>(ring->used()));

    const vhost_vring_addr addr = ring->addr(1);
    CHECK(addr.index == 1);
    CHECK(addr.flags == 0);
    CHECK(addr.desc_user_addr == address(ring->desc()));
    CHECK(addr.avail_user_addr == address(ring->avail()));
    CHECK(addr.used_user_addr == address(ring->used()));
    CHECK(addr.log_guest_addr == 0x102000);
    CHECK(ring->addr(0, VHOST_VRING_F_LOG).flags == VHOST_VRING_F_LOG);

    // A second ring goes after the first, page aligned.
    auto second = Vring::place(*region, 64);
    REQUIRE(second);
    CHECK(second->desc_gpa() == 0x100000 + 0x3000);

    // No room for another big one.
    const auto full = Vring::place(*region, 4096);
    REQUIRE_FALSE(full);
    CHECK(full.error().code() == ENOMEM);
    CHECK(Vring::place(*region, 3).error().code() == EINVAL);
}

TEST_CASE("Vring::place in a MemoryTable takes the first region with room", "[vring]") {
    MemoryTable mem;
    REQUIRE(mem.add_region(0x0, 0x1000));
    REQUIRE(mem.add_region(0x200000, 0x80000));
    auto ring = Vring::place(mem, 1024);
    REQUIRE(ring);
    CHECK(ring->desc_gpa() == 0x200000);

    const auto none = Vring::place(mem, 32768);
    REQUIRE_FALSE(none);
    CHECK(none.error().code() == ENOMEM);
    CHECK(none.error().context() == "place a vring of 32768 (0xd1006 bytes) in 2 memory regions");
}

TEST_CASE("Vring accessors address the split ring fields", "[vring]") {
    auto mem = MemoryTable::identity(0x10000);
    REQUIRE(mem);
    auto &region = mem->regions().front();
    std::memset(region.host(), 0xaa, 0x10000);
    auto ring = Vring::place(region, 64);
    REQUIRE(ring);
    CHECK(ring->desc_gpa() == address(ring->desc())); // identity layout
    const auto *base = reinterpret_cast<const unsigned char *>(ring->desc());
    CHECK(base[0] == 0);                             // zeroed by place()
    CHECK(base[ring->layout().total_size - 1] == 0); // to the end

    const auto u16_at = [&](std::uint64_t offset) {
        std::uint16_t value;
        std::memcpy(&value, base + offset, 2);
        return value;
    };
    const auto u32_at = [&](std::uint64_t offset) {
        std::uint32_t value;
        std::memcpy(&value, base + offset, 4);
        return value;
    };

    ring->desc(3).addr = 0x1234;
    ring->desc(3).len = 1500;
    ring->desc(3).flags = VRING_DESC_F_NEXT;
    ring->desc(3).next = 4;
    CHECK(u32_at(3 * 16 + 8) == 1500);
    CHECK(u16_at(3 * 16 + 12) == VRING_DESC_F_NEXT);
    CHECK(u16_at(3 * 16 + 14) == 4);

    const std::uint64_t avail = 1024;
    ring->avail_flags().store(VRING_AVAIL_F_NO_INTERRUPT);
    ring->avail_ring(5) = 3;
    ring->avail_idx().store(6, std::memory_order_release);
    ring->used_event().store(0x55);
    CHECK(u16_at(avail) == VRING_AVAIL_F_NO_INTERRUPT);
    CHECK(u16_at(avail + 2) == 6);
    CHECK(u16_at(avail + 4 + 2 * 5) == 3);
    CHECK(u16_at(avail + 4 + 2 * 64) == 0x55);
    CHECK(ring->avail()->idx == 6);

    const std::uint64_t used = 4096;
    ring->used_ring(63).id = 3;
    ring->used_ring(63).len = 60;
    ring->used_idx().store(1, std::memory_order_release);
    ring->used_flags().store(VRING_USED_F_NO_NOTIFY);
    ring->avail_event().store(0x66);
    CHECK(u16_at(used) == VRING_USED_F_NO_NOTIFY);
    CHECK(u16_at(used + 2) == 1);
    CHECK(u32_at(used + 4 + 8 * 63) == 3);
    CHECK(u32_at(used + 4 + 8 * 63 + 4) == 60);
    CHECK(u16_at(used + 4 + 8 * 64) == 0x66);
    CHECK(ring->used()->idx == 1);
    CHECK(ring->used_idx().load(std::memory_order_acquire) == 1);
    CHECK(used + 4 + 8 * 64 + 2 == ring->layout().total_size);
}
