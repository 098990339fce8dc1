#include <vhnet/memory.h>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/vhost_types.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

using vhnet::MemoryTable;

namespace {

bool is_mapped(const void *p) {
    // msync() fails with ENOMEM on an address with no mapping.
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    auto *start = reinterpret_cast<void *>(reinterpret_cast<std::uintptr_t>(p) & ~(page - 1));
    return ::msync(start, page, MS_ASYNC) == 0;
}

template <typename T>
T read_at(const std::vector<std::byte> &buffer, std::size_t offset) {
    T value;
    std::memcpy(&value, buffer.data() + offset, sizeof value);
    return value;
}

} // namespace

TEST_CASE("MemoryTable adds zeroed memfd regions at guest addresses", "[memory]") {
    MemoryTable mem;
    CHECK(mem.regions().empty());

    auto low = mem.add_region(0x0, 0x10000);
    REQUIRE(low);
    CHECK(low->gpa() == 0);
    CHECK(low->size() == 0x10000);
    CHECK(low->end() == 0x10000);
    REQUIRE(low->host() != nullptr);
    CHECK(low->fd() >= 0);
    CHECK(low->host()[0] == std::byte{0});
    CHECK(low->host()[0xffff] == std::byte{0});

    auto high = mem.add_region(0x100000, 0x3000);
    REQUIRE(high);
    CHECK(mem.regions().size() == 2);
    CHECK(&mem.regions()[0] == &*low);
    CHECK(&mem.regions()[1] == &*high);

    // The mapping is the memfd: a write through one shows in the other.
    std::memcpy(high->host() + 0x10, "vhnet", 5);
    char back[5] = {};
    REQUIRE(::pread(high->fd(), back, sizeof back, 0x10) == 5);
    CHECK(std::memcmp(back, "vhnet", 5) == 0);
}

TEST_CASE("MemoryTable refuses zero, wrapping and overlapping regions with EINVAL", "[memory]") {
    MemoryTable mem;
    REQUIRE(mem.add_region(0x10000, 0x10000));

    const auto zero = mem.add_region(0x40000, 0);
    REQUIRE_FALSE(zero);
    CHECK(zero.error().code() == EINVAL);

    const auto wraps = mem.add_region(std::numeric_limits<std::uint64_t>::max() - 0xfff, 0x2000);
    REQUIRE_FALSE(wraps);
    CHECK(wraps.error().code() == EINVAL);

    for (const auto &[gpa, size] : {std::pair<std::uint64_t, std::uint64_t>{0x10000, 0x10000},
                                    {0x0, 0x10001},
                                    {0x1ffff, 0x1},
                                    {0x18000, 0x100},
                                    {0x0, 0x100000}}) {
        INFO("gpa " << gpa << " size " << size);
        const auto overlap = mem.add_region(gpa, size);
        REQUIRE_FALSE(overlap);
        CHECK(overlap.error().code() == EINVAL);
        CHECK(overlap.error().context().find("overlaps region [0x10000, +0x10000)") !=
              std::string::npos);
    }
    CHECK(mem.regions().size() == 1);

    // Touching is not overlapping.
    CHECK(mem.add_region(0x0, 0x10000));
    CHECK(mem.add_region(0x20000, 0x1000));
    CHECK(mem.regions().size() == 3);
}

TEST_CASE("MemoryTable translates guest addresses both ways", "[memory]") {
    MemoryTable mem;
    auto a = mem.add_region(0x1000, 0x2000);
    auto b = mem.add_region(0x10000, 0x1000);
    REQUIRE(a);
    REQUIRE(b);

    CHECK(mem.host(0x1000) == a->host());
    CHECK(mem.host(0x2fff) == a->host() + 0x1fff);
    CHECK(mem.host(0x10800, 0x800) == b->host() + 0x800);
    CHECK(mem.host(0x0fff) == nullptr);
    CHECK(mem.host(0x3000) == nullptr);
    CHECK(mem.host(0x2fff, 2) == nullptr); // runs off the end
    CHECK(mem.host(0x10800, 0x801) == nullptr);
    CHECK(mem.host(0x1000, std::numeric_limits<std::uint64_t>::max()) == nullptr);

    CHECK(mem.find(0x1800) == &*a);
    CHECK(mem.find(0x10000) == &*b);
    CHECK(mem.find(0x9000) == nullptr);
    CHECK(a->contains(0x1000, 0x2000));
    CHECK_FALSE(a->contains(0x1000, 0x2001));

    CHECK(mem.gpa(a->host()) == 0x1000u);
    CHECK(mem.gpa(b->host() + 0xfff) == 0x10fffu);
    // One past b's end is not b's (it may be a's: the kernel tends to map them side by side).
    CHECK(mem.gpa(b->host() + 0x1000) != std::optional<std::uint64_t>(0x11000));
    int local = 0;
    CHECK_FALSE(mem.gpa(&local));
}

TEST_CASE("MemoryTable::to_vhost lays out struct vhost_memory", "[memory]") {
    MemoryTable empty;
    const auto none = empty.to_vhost();
    REQUIRE(none.size() == 8);
    CHECK(read_at<std::uint32_t>(none, 0) == 0);

    MemoryTable mem;
    auto a = mem.add_region(0x100000, 0x4000);
    auto b = mem.add_region(0x0, 0x1000);
    REQUIRE(a);
    REQUIRE(b);
    const auto buffer = mem.to_vhost();
    static_assert(sizeof(vhost_memory) == 8 && sizeof(vhost_memory_region) == 32);
    REQUIRE(buffer.size() == 8 + 2 * 32);
    CHECK(reinterpret_cast<std::uintptr_t>(buffer.data()) % alignof(vhost_memory) == 0);

    // Header: nregions, padding.
    CHECK(read_at<std::uint32_t>(buffer, 0) == 2);
    CHECK(read_at<std::uint32_t>(buffer, 4) == 0);
    // Regions in the order added: guest_phys_addr, memory_size, userspace_addr, flags_padding.
    CHECK(read_at<std::uint64_t>(buffer, 8) == 0x100000);
    CHECK(read_at<std::uint64_t>(buffer, 16) == 0x4000);
    CHECK(read_at<std::uint64_t>(buffer, 24) == reinterpret_cast<std::uintptr_t>(a->host()));
    CHECK(read_at<std::uint64_t>(buffer, 32) == 0);
    CHECK(read_at<std::uint64_t>(buffer, 40) == 0x0);
    CHECK(read_at<std::uint64_t>(buffer, 48) == 0x1000);
    CHECK(read_at<std::uint64_t>(buffer, 56) == reinterpret_cast<std::uintptr_t>(b->host()));
    CHECK(read_at<std::uint64_t>(buffer, 64) == 0);

    const auto &header = *reinterpret_cast<const vhost_memory *>(buffer.data());
    CHECK(header.nregions == 2);
    CHECK(header.regions[1].guest_phys_addr == 0);
}

TEST_CASE("MemoryTable identity regions have gpa == host address", "[memory]") {
    auto mem = MemoryTable::identity(0x8000);
    REQUIRE(mem);
    REQUIRE(mem->regions().size() == 1);
    const auto &region = mem->regions().front();
    CHECK(region.gpa() == reinterpret_cast<std::uintptr_t>(region.host()));
    CHECK(region.size() == 0x8000);
    CHECK(mem->host(region.gpa() + 0x10) == region.host() + 0x10);

    auto second = mem->add_identity_region(0x1000);
    REQUIRE(second);
    CHECK(second->gpa() == reinterpret_cast<std::uintptr_t>(second->host()));
    CHECK(mem->regions().size() == 2);

    // A region placed by hand over an identity region is refused.
    const auto clash = mem->add_region(region.gpa() + 0x1000, 0x1000);
    REQUIRE_FALSE(clash);
    CHECK(clash.error().code() == EINVAL);

    CHECK(MemoryTable::identity(0).error().code() == EINVAL);
}

TEST_CASE("MemoryTable::Region allocates aligned space from the region", "[memory]") {
    MemoryTable mem;
    auto region = mem.add_region(0x10010, 0x3000); // an unaligned guest address
    REQUIRE(region);

    const auto first = region->allocate(100, 64);
    REQUIRE(first);
    CHECK(*first == 0x10040);
    const auto second = region->allocate(0x1000, 4096);
    REQUIRE(second);
    CHECK(*second == 0x11000);
    CHECK(region->allocated() == 0x11000 - 0x10010 + 0x1000);

    const auto too_big = region->allocate(0x2000, 1);
    REQUIRE_FALSE(too_big);
    CHECK(too_big.error().code() == ENOMEM);
    const auto rest = region->allocate(0x13010 - 0x12000, 1);
    REQUIRE(rest);
    CHECK(*rest == 0x12000);
    CHECK(region->allocate(1, 1).error().code() == ENOMEM);

    CHECK(region->allocate(0, 8).error().code() == EINVAL);
    CHECK(region->allocate(8, 3).error().code() == EINVAL);
}

TEST_CASE("MemoryTable is move-only and unmaps on destruction", "[memory]") {
    static_assert(!std::is_copy_constructible_v<MemoryTable>);
    static_assert(!std::is_copy_constructible_v<MemoryTable::Region>);
    static_assert(std::is_nothrow_move_constructible_v<MemoryTable>);

    std::byte *host = nullptr;
    int fd = -1;
    {
        MemoryTable outer;
        {
            MemoryTable mem;
            auto region = mem.add_region(0x0, 0x2000);
            REQUIRE(region);
            host = region->host();
            fd = region->fd();
            outer = std::move(mem);
            // The region (and references to it) moved with the table.
            CHECK(&outer.regions().front() == &*region);
        }
        CHECK(is_mapped(host));
        CHECK(::fcntl(fd, F_GETFD) != -1);
        CHECK(outer.host(0x10) == host + 0x10);
    }
    CHECK_FALSE(is_mapped(host));
    CHECK(::fcntl(fd, F_GETFD) == -1);
}
