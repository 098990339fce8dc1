#include <vhnet/memory.h>

#include <fmt/format.h>
#include <linux/vhost_types.h>
#include <sys/mman.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

namespace vhnet {
namespace {

std::uint64_t page_size() {
    static const auto size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    return size;
}

std::string describe(std::uint64_t gpa, std::uint64_t size) {
    return fmt::format("region [{:#x}, +{:#x})", gpa, size);
}

} // namespace

// Region

MemoryTable::Region::Region(Region &&other) noexcept
    : fd_(std::move(other.fd_)), host_(std::exchange(other.host_, nullptr)), gpa_(other.gpa_),
      size_(other.size_), map_size_(std::exchange(other.map_size_, 0)), next_(other.next_) {}

MemoryTable::Region &MemoryTable::Region::operator=(Region &&other) noexcept {
    if (this != &other) {
        if (host_)
            ::munmap(host_, map_size_);
        fd_ = std::move(other.fd_);
        host_ = std::exchange(other.host_, nullptr);
        gpa_ = other.gpa_;
        size_ = other.size_;
        map_size_ = std::exchange(other.map_size_, 0);
        next_ = other.next_;
    }
    return *this;
}

MemoryTable::Region::~Region() {
    if (host_)
        ::munmap(host_, map_size_);
}

bool MemoryTable::Region::contains(std::uint64_t gpa, std::uint64_t len) const noexcept {
    // Written so that nothing overflows: gpa + len may wrap.
    return gpa >= gpa_ && gpa - gpa_ <= size_ && len <= size_ - (gpa - gpa_);
}

Result<std::uint64_t> MemoryTable::Region::allocate(std::uint64_t size, std::uint64_t align) {
    const auto what = fmt::format("allocate {:#x} bytes in {}", size, describe(gpa_, size_));
    if (size == 0 || !std::has_single_bit(align))
        return fail(EINVAL, what);
    // Align the guest address (what the device sees), not the offset.
    const std::uint64_t start = ((gpa_ + next_ + align - 1) & ~(align - 1)) - gpa_;
    if (start < next_ || start > size_ || size > size_ - start)
        return fail(ENOMEM, what);
    next_ = start + size;
    return gpa_ + start;
}

// MemoryTable

Result<MemoryTable> MemoryTable::identity(std::uint64_t size) {
    MemoryTable table;
    if (auto region = table.add_identity_region(size); !region)
        return region.error();
    return table;
}

Result<MemoryTable::Region &> MemoryTable::add_region(std::uint64_t gpa, std::uint64_t size) {
    return map_region(gpa, size);
}

Result<MemoryTable::Region &> MemoryTable::add_identity_region(std::uint64_t size) {
    return map_region(std::nullopt, size);
}

Result<MemoryTable::Region &> MemoryTable::map_region(std::optional<std::uint64_t> gpa,
                                                      std::uint64_t size) {
    const auto what = gpa ? describe(*gpa, size) : fmt::format("identity region of {:#x}", size);
    const std::uint64_t page = page_size();
    if (size == 0 || size > std::numeric_limits<std::uint64_t>::max() - page)
        return fail(EINVAL, what);
    if (gpa && size > std::numeric_limits<std::uint64_t>::max() - *gpa)
        return fail(EINVAL, what + " wraps around");
    if (gpa) {
        for (const auto &region : regions_) {
            if (*gpa < region.end() && region.gpa() < *gpa + size)
                return fail(EINVAL, what + " overlaps " + describe(region.gpa(), region.size()));
        }
    }

    const std::uint64_t map_size = (size + page - 1) & ~(page - 1);
    Fd fd(::memfd_create("vhnet-guest-memory", MFD_CLOEXEC));
    if (!fd)
        return fail(errno, "memfd_create for " + what);
    if (::ftruncate(fd.get(), static_cast<off_t>(map_size)) < 0)
        return fail(errno, "ftruncate memfd for " + what);
    void *host = ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (host == MAP_FAILED)
        return fail(errno, "mmap memfd for " + what);
    auto *bytes = static_cast<std::byte *>(host);
    // A fresh mapping overlaps no other, so an identity region cannot collide with another
    // identity region; it can with a region placed by hand.
    const std::uint64_t at = gpa ? *gpa : reinterpret_cast<std::uintptr_t>(host);
    Region region(std::move(fd), bytes, at, size, map_size);
    if (!gpa) {
        for (const auto &other : regions_) {
            if (at < other.end() && other.gpa() < at + size)
                return fail(EINVAL, fmt::format("identity region at {:#x} overlaps {}", at,
                                                describe(other.gpa(), other.size())));
        }
    }
    return regions_.emplace_back(std::move(region));
}

const MemoryTable::Region *MemoryTable::find(std::uint64_t gpa, std::uint64_t len) const noexcept {
    for (const auto &region : regions_) {
        if (region.contains(gpa, len))
            return &region;
    }
    return nullptr;
}

MemoryTable::Region *MemoryTable::find(std::uint64_t gpa, std::uint64_t len) noexcept {
    return const_cast<Region *>(std::as_const(*this).find(gpa, len));
}

std::byte *MemoryTable::host(std::uint64_t gpa, std::uint64_t len) const noexcept {
    const Region *region = find(gpa, len);
    return region ? region->host() + (gpa - region->gpa()) : nullptr;
}

std::optional<std::uint64_t> MemoryTable::gpa(const void *p) const noexcept {
    const auto address = reinterpret_cast<std::uintptr_t>(p);
    for (const auto &region : regions_) {
        const auto base = reinterpret_cast<std::uintptr_t>(region.host());
        if (address >= base && address - base < region.size())
            return region.gpa() + (address - base);
    }
    return std::nullopt;
}

std::vector<std::byte> MemoryTable::to_vhost() const {
    std::vector<std::byte> buffer(sizeof(vhost_memory) +
                                  regions_.size() * sizeof(vhost_memory_region));
    vhost_memory header{};
    header.nregions = static_cast<std::uint32_t>(regions_.size());
    std::memcpy(buffer.data(), &header, sizeof header);
    std::size_t offset = sizeof(vhost_memory);
    for (const auto &region : regions_) {
        vhost_memory_region entry{};
        entry.guest_phys_addr = region.gpa();
        entry.memory_size = region.size();
        entry.userspace_addr = reinterpret_cast<std::uintptr_t>(region.host());
        std::memcpy(buffer.data() + offset, &entry, sizeof entry);
        offset += sizeof entry;
    }
    return buffer;
}

} // namespace vhnet
