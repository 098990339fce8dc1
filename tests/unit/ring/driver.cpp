// The driver's side of a split ring; see driver.h.
#include "driver.h"

#include <cstring>
#include <stdexcept>

namespace vhnet::ringtest {

namespace {

std::uint16_t le16(__virtio16 v) {
    return __virtio16_to_cpu(true, v);
}

} // namespace

Driver::Driver(FakeGuest &g, unsigned num, RingOptions opts)
    : g_(g), num_(num), avail_idx_(opts.start_idx), reaped_idx_(opts.start_idx), chains_(num) {
    if (!num || (num & (num - 1)) || num > 32768)
        throw std::invalid_argument("Driver: ring size not a power of two");
    desc = reinterpret_cast<vring_desc *>(g.alloc(sizeof(vring_desc) * num, 16));
    avail = reinterpret_cast<vring_avail *>(g.alloc(4 + 2 * num + 2, 2));
    used = reinterpret_cast<vring_used *>(g.alloc(4 + sizeof(vring_used_elem) * num + 2, 4));
    avail->idx = __cpu_to_virtio16(true, opts.start_idx);
    used->idx = __cpu_to_virtio16(true, opts.start_idx);
    for (unsigned i = num; i-- > 0;)
        free_.push_back(static_cast<std::uint16_t>(i));

    r.num = num;
    r.desc = desc;
    r.avail = avail;
    r.used = used;
    r.last_avail_idx = opts.start_idx;
    r.avail_idx = opts.start_idx;
    r.last_used_idx = opts.start_idx;
    r.used_flags = 0;
    r.signalled_used = 0;
    r.signalled_used_valid = false;
    r.event_idx = opts.event_idx;
    r.indirect = opts.indirect;
    r.notify_on_empty = opts.notify_on_empty;
    g.attach(r);
}

std::uint64_t Driver::buffer(std::uint32_t len, std::size_t align) {
    const auto *p = g_.alloc(len ? len : 1, align);
    const auto gpa = g_.gpa(p);
    if (!gpa || !g_.host(*gpa, len))
        throw std::logic_error("Driver: buffer outside the memory table");
    return *gpa;
}

void Driver::write_desc(vring_desc *d, std::uint64_t addr, std::uint32_t len, std::uint16_t flags,
                        std::uint16_t next) {
    d->addr = __cpu_to_virtio64(true, addr);
    d->len = __cpu_to_virtio32(true, len);
    d->flags = __cpu_to_virtio16(true, flags);
    d->next = __cpu_to_virtio16(true, next);
}

std::uint16_t Driver::add_chain(const std::vector<Buf> &bufs) {
    if (bufs.empty() || bufs.size() > free_.size())
        throw std::length_error("Driver: no room for the chain");
    std::vector<std::uint16_t> ids;
    for (std::size_t i = 0; i < bufs.size(); i++) {
        ids.push_back(free_.back());
        free_.pop_back();
    }
    for (std::size_t i = 0; i < bufs.size(); i++) {
        const bool last = i + 1 == bufs.size();
        const auto flags = static_cast<std::uint16_t>((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
                                                      (last ? 0 : VRING_DESC_F_NEXT));
        set_desc(ids[i], bufs[i].gpa, bufs[i].len, flags, last ? 0 : ids[i + 1]);
    }
    chains_[ids[0]] = ids;
    return ids[0];
}

vring_desc *Driver::indirect_table(unsigned count, std::uint64_t *gpa) {
    auto *table = reinterpret_cast<vring_desc *>(g_.alloc(sizeof(vring_desc) * count, 16));
    const auto a = g_.gpa(table);
    if (!a)
        throw std::logic_error("Driver: indirect table outside the memory table");
    *gpa = *a;
    return table;
}

std::uint16_t Driver::add_indirect(const std::vector<Buf> &bufs) {
    if (free_.empty())
        throw std::length_error("Driver: no free descriptor");
    std::uint64_t gpa;
    auto *table = indirect_table(static_cast<unsigned>(bufs.size()), &gpa);
    for (std::size_t i = 0; i < bufs.size(); i++) {
        const bool last = i + 1 == bufs.size();
        const auto flags = static_cast<std::uint16_t>((bufs[i].write ? VRING_DESC_F_WRITE : 0) |
                                                      (last ? 0 : VRING_DESC_F_NEXT));
        write_desc(&table[i], bufs[i].gpa, bufs[i].len, flags,
                   static_cast<std::uint16_t>(last ? 0 : i + 1));
    }
    const std::uint16_t head = free_.back();
    free_.pop_back();
    set_desc(head, gpa, static_cast<std::uint32_t>(sizeof(vring_desc) * bufs.size()),
             VRING_DESC_F_INDIRECT);
    chains_[head] = {head};
    return head;
}

void Driver::push(std::uint16_t head) {
    set_avail_entry(static_cast<std::uint16_t>(avail_idx_ & (num_ - 1)), head);
    avail_idx_++;
}

void Driver::publish() {
    set_avail_idx(avail_idx_);
}

void Driver::set_avail_idx(std::uint16_t idx) {
    __atomic_thread_fence(__ATOMIC_RELEASE);
    avail->idx = __cpu_to_virtio16(true, idx);
}

void Driver::set_avail_entry(std::uint16_t slot, std::uint16_t head) {
    avail->ring[slot] = __cpu_to_virtio16(true, head);
}

void Driver::set_avail_flags(std::uint16_t flags) {
    avail->flags = __cpu_to_virtio16(true, flags);
}

void Driver::set_used_event(std::uint16_t event) {
    avail->ring[num_] = __cpu_to_virtio16(true, event);
}

std::uint16_t Driver::used_idx() const {
    return le16(used->idx);
}

std::uint16_t Driver::used_flags() const {
    return le16(used->flags);
}

std::uint16_t Driver::avail_event() const {
    __virtio16 event;
    std::memcpy(&event, &used->ring[num_], sizeof(event));
    return le16(event);
}

Used Driver::used_elem(std::uint16_t idx) const {
    const auto &e = used->ring[idx & (num_ - 1)];
    return {__virtio32_to_cpu(true, e.id), __virtio32_to_cpu(true, e.len)};
}

std::vector<Used> Driver::reap() {
    std::vector<Used> out;
    const std::uint16_t end = used_idx();
    for (; reaped_idx_ != end; reaped_idx_++) {
        const Used u = used_elem(reaped_idx_);
        out.push_back(u);
        if (u.id < num_) {
            for (auto id : chains_[u.id])
                free_.push_back(id);
            chains_[u.id].clear();
        }
    }
    return out;
}

Taken take(vhnet_vring &r, unsigned max) {
    Taken t{};
    // never a null iov: vring.c computes iov + n, which is UB on a null pointer even for n 0
    t.iov.resize(max ? max : 1);
    t.ret = vhnet_vring_get_chain(&r, t.iov.data(), max, &t.c, &t.err);
    t.iov.resize(t.ret == 1 ? t.c.out + t.c.in : 0);
    return t;
}

vring_used_elem used_elem(std::uint32_t id, std::uint32_t len) {
    vring_used_elem e;
    e.id = __cpu_to_virtio32(true, id);
    e.len = __cpu_to_virtio32(true, len);
    return e;
}

} // namespace vhnet::ringtest
