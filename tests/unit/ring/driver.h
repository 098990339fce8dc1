// The driver's side of a split ring in a FakeGuest, for the ring core's tests: lays the ring
// out in the arena, adds descriptor chains (direct, chained, indirect), publishes them in the
// avail ring, and reads what the device returned in the used ring. Also the raw pokes a test
// needs to build broken rings.
#pragma once

#include "fake_guest.h"

#include <cstdint>
#include <utility>
#include <vector>

namespace vhnet::ringtest {

// One buffer of a chain: guest address, length, device-writable or not.
struct Buf {
    std::uint64_t gpa;
    std::uint32_t len;
    bool write = false;
};

struct RingOptions {
    bool event_idx = false;
    bool indirect = true;
    bool notify_on_empty = false;
    // The ring's indices start here (VHOST_SET_VRING_BASE and the used->idx the device reads).
    std::uint16_t start_idx = 0;
};

// An element of the used ring, in host byte order.
struct Used {
    std::uint32_t id;
    std::uint32_t len;
    bool operator==(const Used &) const = default;
};

class Driver {
public:
    // Lays out a ring of num entries in g's arena and sets up r, the device's view of it.
    Driver(FakeGuest &g, unsigned num, RingOptions opts = {});

    FakeGuest &guest() { return g_; }
    unsigned num() const { return num_; }

    // The device's view: what the module's vq would hold after setup.
    vhnet_vring r{};
    // The ring's parts, in the arena.
    vring_desc *desc;
    vring_avail *avail;
    vring_used *used;

    // A guest buffer of len bytes (in the arena, mapped through the memory table): its address.
    std::uint64_t buffer(std::uint32_t len, std::size_t align = 16);

    // A chain on free descriptors, in the order given: its head.
    std::uint16_t add_chain(const std::vector<Buf> &bufs);
    // One descriptor naming a new indirect table that holds the chain: its index.
    std::uint16_t add_indirect(const std::vector<Buf> &bufs);
    // A new indirect table of count zeroed entries: its host address; *gpa gets its address.
    vring_desc *indirect_table(unsigned count, std::uint64_t *gpa);

    // Raw descriptor, in the ring or in an indirect table.
    static void write_desc(vring_desc *d, std::uint64_t addr, std::uint32_t len,
                           std::uint16_t flags, std::uint16_t next = 0);
    void set_desc(std::uint16_t i, std::uint64_t addr, std::uint32_t len, std::uint16_t flags,
                  std::uint16_t next = 0) {
        write_desc(&desc[i], addr, len, flags, next);
    }

    // The avail ring: push() writes the next entry, publish() the index; post() does both.
    void push(std::uint16_t head);
    void publish();
    void post(std::uint16_t head) {
        push(head);
        publish();
    }
    std::uint16_t avail_shadow() const { return avail_idx_; }
    void set_avail_idx(std::uint16_t idx);
    void set_avail_entry(std::uint16_t slot, std::uint16_t head);
    void set_avail_flags(std::uint16_t flags);
    void set_used_event(std::uint16_t event);

    // The used ring.
    std::uint16_t used_idx() const;
    std::uint16_t used_flags() const;
    std::uint16_t avail_event() const;
    // The used entry of index idx (its slot is idx mod num).
    Used used_elem(std::uint16_t idx) const;
    // The entries the device returned since the last reap; frees their descriptors.
    std::vector<Used> reap();
    unsigned free_descs() const { return static_cast<unsigned>(free_.size()); }

private:
    FakeGuest &g_;
    unsigned num_;
    std::uint16_t avail_idx_;
    std::uint16_t reaped_idx_;
    std::vector<std::uint16_t> free_;
    std::vector<std::vector<std::uint16_t>> chains_;
};

// What one vhnet_vring_get_chain() returned.
struct Taken {
    int ret;
    vhnet_ring_err err;
    vhnet_chain c;
    std::vector<iovec> iov; // the chain's c.out + c.in segments when ret is 1
};

Taken take(vhnet_vring &r, unsigned max = 64);

// Host-order used element in ring byte order, for vhnet_vring_add_used().
vring_used_elem used_elem(std::uint32_t id, std::uint32_t len);

} // namespace vhnet::ringtest
