#include <vhnet/vring.h>

#include <fmt/format.h>

#include <bit>
#include <cerrno>
#include <cstring>

namespace vhnet {
namespace {

constexpr std::uint64_t align_up(std::uint64_t value, std::uint64_t align) {
    return (value + align - 1) & ~(align - 1);
}

// Placing the whole ring on a page boundary keeps the descriptor table and (with the legacy used
// alignment) the used ring page aligned, as legacy virtio requires.
constexpr std::uint64_t kRingAlign = 4096;

} // namespace

Result<VringLayout> VringLayout::compute(unsigned num, std::uint64_t used_align) {
    if (num == 0 || num > kMaxVringNum || !std::has_single_bit(num))
        return fail(EINVAL,
                    fmt::format("vring size {} (a power of two up to {})", num, kMaxVringNum));
    if (used_align < VRING_USED_ALIGN_SIZE || !std::has_single_bit(used_align))
        return fail(EINVAL, fmt::format("vring used ring alignment {}", used_align));

    VringLayout layout;
    layout.num = num;
    layout.desc_offset = 0;
    layout.desc_size = std::uint64_t{16} * num;
    layout.avail_offset = align_up(layout.desc_offset + layout.desc_size, VRING_AVAIL_ALIGN_SIZE);
    layout.avail_size = 6 + std::uint64_t{2} * num;
    layout.used_offset = align_up(layout.avail_offset + layout.avail_size, used_align);
    layout.used_size = 6 + std::uint64_t{8} * num;
    layout.total_size = layout.used_offset + layout.used_size;
    return layout;
}

Result<Vring> Vring::place(MemoryTable::Region &region, unsigned num, std::uint64_t used_align) {
    auto layout = VringLayout::compute(num, used_align);
    if (!layout)
        return layout.error();
    auto gpa = region.allocate(layout->total_size, kRingAlign);
    if (!gpa)
        return gpa.error();
    std::byte *host = region.host() + (*gpa - region.gpa());
    std::memset(host, 0, layout->total_size);
    return Vring(*layout, host, *gpa);
}

Result<Vring> Vring::place(MemoryTable &memory, unsigned num, std::uint64_t used_align) {
    auto layout = VringLayout::compute(num, used_align);
    if (!layout)
        return layout.error();
    for (auto &region : memory.regions()) {
        if (auto ring = place(region, num, used_align))
            return ring;
    }
    return fail(ENOMEM, fmt::format("place a vring of {} ({:#x} bytes) in {} memory regions", num,
                                    layout->total_size, memory.regions().size()));
}

vhost_vring_addr Vring::addr(unsigned index, unsigned flags) const noexcept {
    vhost_vring_addr addr{};
    addr.index = index;
    addr.flags = flags;
    addr.desc_user_addr = reinterpret_cast<std::uintptr_t>(desc());
    addr.used_user_addr = reinterpret_cast<std::uintptr_t>(used());
    addr.avail_user_addr = reinterpret_cast<std::uintptr_t>(avail());
    addr.log_guest_addr = used_gpa();
    return addr;
}

} // namespace vhnet
