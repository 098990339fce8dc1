// A fake guest for the ring core on the host: an arena of host memory that stands for the
// owner's address space, a memory table of {gpa, size, host} regions inside it, and the five
// accessors of kmod/ring/vring.h implemented over them, with fault injection.
//
// The ring's desc/avail/used pointers ("user addresses") point into the arena; every access
// through vhnet_ring_get16/put16/read/write is bounds-checked against the arena and fails with
// -EFAULT outside it, so a ring that points anywhere else is a fault, not a crash.
// vhnet_ring_translate() walks the regions as kmod/vq.c does: split at region boundaries,
// -EFAULT for an unmapped byte, -ENOBUFS when out of iovec room.
//
// A ring's io pointer names its FakeGuest: attach(r) sets it.
#pragma once

#include "vring_cxx.h"

#include <climits>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace vhnet::ringtest {

class FakeGuest {
public:
    // The accessors, for counting and fault injection; any counts them all.
    enum class Op : unsigned { get16, put16, read, write, translate, any };
    static constexpr unsigned op_count = 6;

    struct Region {
        std::uint64_t gpa;
        std::uint64_t size;
        std::uint8_t *host;
    };

    // One accessor call, as the access log records it (translate: p is nullptr, gpa and len).
    struct Access {
        Op op;
        const void *p;
        std::uint64_t gpa;
        std::size_t len;
        int ret;
    };

    explicit FakeGuest(std::size_t arena_size = std::size_t{1} << 20);
    ~FakeGuest();
    FakeGuest(const FakeGuest &) = delete;
    FakeGuest &operator=(const FakeGuest &) = delete;

    std::uint8_t *arena() const { return arena_; }
    std::size_t arena_size() const { return size_; }
    bool in_arena(const void *p, std::size_t len) const;
    // Makes r's accessors use this guest.
    void attach(vhnet_vring &r) { r.io = this; }

    // The memory table: guest [gpa, gpa + size) is the arena at [offset, offset + size).
    void add_region(std::uint64_t gpa, std::uint64_t size, std::size_t arena_offset);
    void clear_regions() { regions_.clear(); }
    const std::vector<Region> &regions() const { return regions_; }
    // The host address of guest [gpa, gpa + len) if one region holds it all, else nullptr.
    std::uint8_t *host(std::uint64_t gpa, std::size_t len = 1) const;
    // The guest address of a host address in a region.
    std::optional<std::uint64_t> gpa(const void *host) const;
    // Whether [p, p + len) lies in one region's host range.
    bool in_region(const void *p, std::size_t len) const;

    // A bump allocator over the arena, for rings, tables and buffers (zeroed; throws when full).
    std::uint8_t *alloc(std::size_t size, std::size_t align = 16);

    // Fault injection. Call numbers count from now: fail_nth(op, 1) fails the next call of op.
    void fail_nth(Op op, unsigned n, int err = -EFAULT) { fail_calls(op, n, n, err); }
    void fail_from(Op op, unsigned n, int err = -EFAULT) { fail_calls(op, n, UINT_MAX, err); }
    // get16/put16/read/write touching a byte of [p, p + len) fail with -EFAULT.
    void fail_range(const void *p, std::size_t len);
    void clear_faults();
    unsigned calls(Op op) const { return calls_[static_cast<unsigned>(op)]; }
    unsigned faults_injected() const { return injected_; }

    // Records every accessor call into *log while set (nullptr stops).
    void set_log(std::vector<Access> *log) { log_ = log; }

    // The used-ring writes the ring core reported for the dirty log (vhnet_ring_log_used()), in
    // order: offset into the used ring and length.
    struct UsedLog {
        std::size_t offset;
        std::size_t len;
        bool operator==(const UsedLog &) const = default;
    };
    void log_used(std::size_t offset, std::size_t len) { used_log_.push_back({offset, len}); }
    const std::vector<UsedLog> &used_log() const { return used_log_; }
    void clear_used_log() { used_log_.clear(); }

    int get16(std::uint16_t *val, const void *p);
    int put16(std::uint16_t val, void *p);
    int read(void *dst, const void *src, std::size_t len);
    int write(void *dst, const void *src, std::size_t len);
    int translate(std::uint64_t gpa, std::uint32_t len, iovec *iov, unsigned max);

private:
    struct CallRule {
        Op op;
        unsigned first, last; // absolute call numbers of op
        int err;
    };
    struct RangeRule {
        std::uintptr_t begin, end;
    };

    void fail_calls(Op op, unsigned first, unsigned last, int err);
    // Counts a call of op; its injected error or 0.
    int enter(Op op, const void *p, std::size_t len);
    void record(Op op, const void *p, std::uint64_t gpa, std::size_t len, int ret);

    std::uint8_t *arena_;
    std::size_t size_;
    std::size_t next_ = 0;
    std::vector<Region> regions_;
    std::vector<CallRule> call_rules_;
    std::vector<RangeRule> range_rules_;
    unsigned calls_[op_count] = {};
    unsigned injected_ = 0;
    std::vector<Access> *log_ = nullptr;
    std::vector<UsedLog> used_log_;
};

} // namespace vhnet::ringtest
