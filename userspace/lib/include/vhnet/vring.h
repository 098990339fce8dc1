// VringLayout and Vring: the split virtqueue in guest memory.
//
//     auto mem = vhnet::MemoryTable::identity(1 << 20);
//     auto ring = vhnet::Vring::place(mem->regions().front(), 256);
//     dev.set_vring_num(0, 256);
//     dev.set_vring_addr(ring->addr(0));
#pragma once

#include <vhnet/memory.h>
#include <vhnet/result.h>

#include <linux/vhost_types.h>
#include <linux/virtio_ring.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace vhnet {

/// The largest ring size vhost accepts.
inline constexpr unsigned kMaxVringNum = 32768;
/// Where legacy virtio puts the used ring: on the next 4096-byte boundary after the avail ring.
inline constexpr std::uint64_t kLegacyUsedAlign = 4096;

/// Where the three parts of a split ring of `num` entries lie, as byte offsets from the ring's
/// start (the descriptor table, at offset 0):
///
///     desc   16 * num          aligned to 16
///     avail  6 + 2 * num       aligned to 2   (flags, idx, ring[num], used_event)
///     used   6 + 8 * num       aligned to `used_align` (flags, idx, ring[num], avail_event)
struct VringLayout {
    unsigned num = 0;
    std::uint64_t desc_offset = 0;
    std::uint64_t desc_size = 0;
    std::uint64_t avail_offset = 0;
    std::uint64_t avail_size = 0;
    std::uint64_t used_offset = 0;
    std::uint64_t used_size = 0;
    /// Bytes from the start of the descriptor table to the end of the used ring.
    std::uint64_t total_size = 0;

    /// The layout for `num` entries: EINVAL unless `num` is a power of two no larger than
    /// kMaxVringNum and `used_align` a power of two no smaller than 4.
    static Result<VringLayout> compute(unsigned num, std::uint64_t used_align = kLegacyUsedAlign);

    bool operator==(const VringLayout &) const = default;
};

/// A split ring placed in guest memory: the host view of its three parts plus their guest
/// addresses. A view, not an owner: copyable, valid as long as the memory it points into. The
/// fields are little-endian (VIRTIO_F_VERSION_1) and are not converted: vhnet runs on
/// little-endian hosts.
///
/// Shared with the device: the index fields are returned as std::atomic_ref, so a driver publishes
/// avail->idx with a release store after filling the ring, and reads used->idx with an acquire
/// load before reading the used elements.
class Vring {
public:
    /// A ring of `layout` whose descriptor table is at `host` (guest address `gpa`).
    Vring(const VringLayout &layout, std::byte *host, std::uint64_t gpa) noexcept
        : layout_(layout), host_(host), gpa_(gpa) {}

    /// Allocates a zeroed ring of `num` entries from `region`, page aligned.
    static Result<Vring> place(MemoryTable::Region &region, unsigned num,
                               std::uint64_t used_align = kLegacyUsedAlign);
    /// Allocates the ring from the first region of `memory` with room for it.
    static Result<Vring> place(MemoryTable &memory, unsigned num,
                               std::uint64_t used_align = kLegacyUsedAlign);

    const VringLayout &layout() const noexcept { return layout_; }
    unsigned num() const noexcept { return layout_.num; }

    /// Guest physical addresses of the three parts.
    std::uint64_t desc_gpa() const noexcept { return gpa_ + layout_.desc_offset; }
    std::uint64_t avail_gpa() const noexcept { return gpa_ + layout_.avail_offset; }
    std::uint64_t used_gpa() const noexcept { return gpa_ + layout_.used_offset; }

    /// What VHOST_SET_VRING_ADDR takes for queue `index`: the host virtual addresses of the three
    /// parts and the guest address of the used ring (for dirty logging, with
    /// VHOST_VRING_F_LOG in `flags`).
    vhost_vring_addr addr(unsigned index, unsigned flags = 0) const noexcept;

    /// The descriptor table, and one descriptor (i < num()).
    vring_desc *desc() const noexcept { return at<vring_desc>(layout_.desc_offset); }
    vring_desc &desc(unsigned i) const noexcept { return desc()[i]; }

    /// The available ring: the driver writes it, the device reads it.
    vring_avail *avail() const noexcept { return at<vring_avail>(layout_.avail_offset); }
    std::atomic_ref<std::uint16_t> avail_flags() const noexcept { return avail16(0); }
    std::atomic_ref<std::uint16_t> avail_idx() const noexcept { return avail16(1); }
    /// avail->ring[i], i < num().
    std::uint16_t &avail_ring(unsigned i) const noexcept { return ring16(i); }
    /// used_event (after avail->ring[num]): the driver's "interrupt me at this used index".
    std::atomic_ref<std::uint16_t> used_event() const noexcept { return avail16(2 + num()); }

    /// The used ring: the device writes it, the driver reads it.
    vring_used *used() const noexcept { return at<vring_used>(layout_.used_offset); }
    std::atomic_ref<std::uint16_t> used_flags() const noexcept { return used16(0); }
    std::atomic_ref<std::uint16_t> used_idx() const noexcept { return used16(1); }
    /// used->ring[i], i < num().
    vring_used_elem &used_ring(unsigned i) const noexcept {
        return *at<vring_used_elem>(layout_.used_offset + 4 + std::uint64_t{8} * i);
    }
    /// avail_event (after used->ring[num]): the device's "kick me at this avail index".
    std::atomic_ref<std::uint16_t> avail_event() const noexcept { return used16(2 + 4 * num()); }

private:
    template <typename T>
    T *at(std::uint64_t offset) const noexcept {
        return reinterpret_cast<T *>(host_ + offset);
    }
    /// The 16-bit word `i` of the avail/used ring part (0 = flags, 1 = idx).
    std::atomic_ref<std::uint16_t> avail16(std::uint64_t i) const noexcept {
        return std::atomic_ref(*at<std::uint16_t>(layout_.avail_offset + 2 * i));
    }
    std::atomic_ref<std::uint16_t> used16(std::uint64_t i) const noexcept {
        return std::atomic_ref(*at<std::uint16_t>(layout_.used_offset + 2 * i));
    }
    std::uint16_t &ring16(unsigned i) const noexcept {
        return *at<std::uint16_t>(layout_.avail_offset + 4 + std::uint64_t{2} * i);
    }

    VringLayout layout_;
    std::byte *host_;
    std::uint64_t gpa_;
};

} // namespace vhnet
