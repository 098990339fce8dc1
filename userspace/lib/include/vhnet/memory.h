// MemoryTable: guest memory for a vhost device, made of memfd-backed regions.
//
//     auto mem = vhnet::MemoryTable();
//     auto region = mem.add_region(0x100000, 1 << 20);     // 1 MiB at guest address 1 MiB
//     if (!region)
//         return region.error();
//     std::byte *p = mem.host(0x100010);                   // the host view of a guest address
//     dev.set_mem_table(mem);                              // VHOST_SET_MEM_TABLE
#pragma once

#include <vhnet/fd.h>
#include <vhnet/result.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

namespace vhnet {

/// Guest physical memory as a vhost device sees it: a set of non-overlapping regions, each a
/// memfd mapped MAP_SHARED into this process and placed at a guest physical address (GPA). The
/// kernel reaches guest memory through the host virtual addresses of these mappings, so the
/// MemoryTable must outlive every use of the device it was handed to. Move-only; unmaps and closes
/// everything on destruction.
class MemoryTable {
public:
    /// One region: `size` bytes of guest memory at guest physical address `gpa`, backed by a memfd
    /// mapped at `host()`. Holds a bump allocator for placing rings and buffers (allocate()).
    class Region {
    public:
        Region(Region &&other) noexcept;
        Region &operator=(Region &&other) noexcept;
        Region(const Region &) = delete;
        Region &operator=(const Region &) = delete;
        ~Region();

        std::uint64_t gpa() const noexcept { return gpa_; }
        std::uint64_t size() const noexcept { return size_; }
        /// One past the last guest address of the region.
        std::uint64_t end() const noexcept { return gpa_ + size_; }
        /// The host mapping of the region's first byte.
        std::byte *host() const noexcept { return host_; }
        /// The memfd behind the region (for sharing it with another process).
        int fd() const noexcept { return fd_.get(); }

        /// Whether [gpa, gpa + len) lies inside the region.
        bool contains(std::uint64_t gpa, std::uint64_t len = 1) const noexcept;

        /// Reserves `size` bytes aligned to `align` (a power of two) from the part of the region
        /// not yet allocated, and returns their guest address. ENOMEM when they do not fit, EINVAL
        /// for a zero size or a bad alignment. Allocations are never given back.
        Result<std::uint64_t> allocate(std::uint64_t size, std::uint64_t align = 64);
        /// Bytes handed out by allocate() so far, alignment padding included.
        std::uint64_t allocated() const noexcept { return next_; }

    private:
        friend class MemoryTable;
        Region(Fd fd, std::byte *host, std::uint64_t gpa, std::uint64_t size,
               std::uint64_t map_size) noexcept
            : fd_(std::move(fd)), host_(host), gpa_(gpa), size_(size), map_size_(map_size) {}

        Fd fd_;
        std::byte *host_ = nullptr;
        std::uint64_t gpa_ = 0;
        std::uint64_t size_ = 0;
        std::uint64_t map_size_ = 0; ///< size rounded up to whole pages
        std::uint64_t next_ = 0;     ///< offset of the first byte not yet allocated
    };

    MemoryTable() = default;
    MemoryTable(MemoryTable &&) noexcept = default;
    MemoryTable &operator=(MemoryTable &&) noexcept = default;
    MemoryTable(const MemoryTable &) = delete;
    MemoryTable &operator=(const MemoryTable &) = delete;
    ~MemoryTable() = default;

    /// A table with one identity region of `size` bytes (see add_identity_region()), the layout
    /// tools/virtio/vhost_net_test.c uses.
    static Result<MemoryTable> identity(std::uint64_t size);

    /// Adds a zero-filled region of `size` bytes at guest address `gpa`. EINVAL if `size` is 0,
    /// the region would wrap around 2^64 or it overlaps a region already in the table. The
    /// reference stays valid as long as the table (moving the table included).
    Result<Region &> add_region(std::uint64_t gpa, std::uint64_t size);
    /// Adds a region whose guest address is its host virtual address (gpa == hva), so guest
    /// addresses can be used directly as pointers by the driver.
    Result<Region &> add_identity_region(std::uint64_t size);

    /// The regions in the order they were added.
    const std::deque<Region> &regions() const noexcept { return regions_; }
    std::deque<Region> &regions() noexcept { return regions_; }

    /// The region holding all of [gpa, gpa + len), or nullptr.
    const Region *find(std::uint64_t gpa, std::uint64_t len = 1) const noexcept;
    Region *find(std::uint64_t gpa, std::uint64_t len = 1) noexcept;

    /// The host address of guest address `gpa`, provided all of [gpa, gpa + len) is in one region;
    /// nullptr otherwise.
    std::byte *host(std::uint64_t gpa, std::uint64_t len = 1) const noexcept;
    /// The guest address of host address `p`, if `p` points into a region.
    std::optional<std::uint64_t> gpa(const void *p) const noexcept;

    /// The table as VHOST_SET_MEM_TABLE takes it: a struct vhost_memory header followed by one
    /// struct vhost_memory_region per region (guest address, size, host address), in the order of
    /// regions(). The buffer's storage comes from operator new, so it is suitably aligned to be
    /// read as a struct vhost_memory.
    std::vector<std::byte> to_vhost() const;

private:
    Result<Region &> map_region(std::optional<std::uint64_t> gpa, std::uint64_t size);

    std::deque<Region> regions_;
};

} // namespace vhnet
