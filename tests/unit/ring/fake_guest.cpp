// The fake guest and the ring core's accessors over it; see fake_guest.h.
#include "fake_guest.h"

#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace vhnet::ringtest {

namespace {

std::uintptr_t addr(const void *p) {
    return reinterpret_cast<std::uintptr_t>(p);
}

FakeGuest &guest(vhnet_vring *r) {
    return *static_cast<FakeGuest *>(r->io);
}

} // namespace

FakeGuest::FakeGuest(std::size_t arena_size)
    : arena_(static_cast<std::uint8_t *>(std::aligned_alloc(4096, (arena_size + 4095) & ~4095UL))),
      size_(arena_size) {
    if (!arena_)
        throw std::bad_alloc();
    std::memset(arena_, 0, size_);
}

FakeGuest::~FakeGuest() {
    std::free(arena_);
}

bool FakeGuest::in_arena(const void *p, std::size_t len) const {
    const std::uintptr_t a = addr(p), base = addr(arena_);
    return a >= base && a - base <= size_ && len <= size_ - (a - base);
}

void FakeGuest::add_region(std::uint64_t gpa, std::uint64_t size, std::size_t arena_offset) {
    if (!size || arena_offset > size_ || size > size_ - arena_offset || gpa + (size - 1) < gpa)
        throw std::invalid_argument("FakeGuest: region out of the arena");
    regions_.push_back({gpa, size, arena_ + arena_offset});
}

std::uint8_t *FakeGuest::host(std::uint64_t gpa, std::size_t len) const {
    for (const auto &reg : regions_)
        if (gpa >= reg.gpa && gpa - reg.gpa < reg.size && len <= reg.size - (gpa - reg.gpa))
            return reg.host + (gpa - reg.gpa);
    return nullptr;
}

std::optional<std::uint64_t> FakeGuest::gpa(const void *host) const {
    for (const auto &reg : regions_)
        if (addr(host) >= addr(reg.host) && addr(host) - addr(reg.host) < reg.size)
            return reg.gpa + (addr(host) - addr(reg.host));
    return std::nullopt;
}

bool FakeGuest::in_region(const void *p, std::size_t len) const {
    for (const auto &reg : regions_) {
        const std::uintptr_t off = addr(p) - addr(reg.host);
        if (addr(p) >= addr(reg.host) && off <= reg.size && len <= reg.size - off)
            return true;
    }
    return false;
}

std::uint8_t *FakeGuest::alloc(std::size_t size, std::size_t align) {
    const std::size_t start = (next_ + align - 1) & ~(align - 1);
    if (start > size_ || size > size_ - start)
        throw std::length_error("FakeGuest: arena full");
    next_ = start + size;
    std::memset(arena_ + start, 0, size);
    return arena_ + start;
}

void FakeGuest::fail_calls(Op op, unsigned first, unsigned last, int err) {
    const unsigned done = calls(op);
    call_rules_.push_back({op, done + first, last == UINT_MAX ? UINT_MAX : done + last, err});
}

void FakeGuest::fail_range(const void *p, std::size_t len) {
    range_rules_.push_back({addr(p), addr(p) + len});
}

void FakeGuest::clear_faults() {
    call_rules_.clear();
    range_rules_.clear();
}

int FakeGuest::enter(Op op, const void *p, std::size_t len) {
    const unsigned n = ++calls_[static_cast<unsigned>(op)];
    const unsigned any = ++calls_[static_cast<unsigned>(Op::any)];

    for (const auto &rule : call_rules_) {
        const unsigned call = rule.op == Op::any ? any : rule.op == op ? n : 0;
        if (call >= rule.first && call <= rule.last) {
            injected_++;
            return rule.err;
        }
    }
    if (p && len) {
        for (const auto &rule : range_rules_) {
            if (addr(p) < rule.end && rule.begin < addr(p) + len) {
                injected_++;
                return -EFAULT;
            }
        }
    }
    return 0;
}

void FakeGuest::record(Op op, const void *p, std::uint64_t gpa, std::size_t len, int ret) {
    if (log_)
        log_->push_back({op, p, gpa, len, ret});
}

int FakeGuest::get16(std::uint16_t *val, const void *p) {
    int ret = enter(Op::get16, p, 2);
    if (!ret && !in_arena(p, 2))
        ret = -EFAULT;
    if (!ret) {
        __virtio16 v;
        std::memcpy(&v, p, sizeof(v));
        *val = __virtio16_to_cpu(true, v);
    }
    record(Op::get16, p, 0, 2, ret);
    return ret;
}

int FakeGuest::put16(std::uint16_t val, void *p) {
    int ret = enter(Op::put16, p, 2);
    if (!ret && !in_arena(p, 2))
        ret = -EFAULT;
    if (!ret) {
        const __virtio16 v = __cpu_to_virtio16(true, val);
        std::memcpy(p, &v, sizeof(v));
    }
    record(Op::put16, p, 0, 2, ret);
    return ret;
}

int FakeGuest::read(void *dst, const void *src, std::size_t len) {
    int ret = enter(Op::read, src, len);
    if (!ret && !in_arena(src, len))
        ret = -EFAULT;
    if (!ret && len)
        std::memmove(dst, src, len);
    record(Op::read, src, 0, len, ret);
    return ret;
}

int FakeGuest::write(void *dst, const void *src, std::size_t len) {
    int ret = enter(Op::write, dst, len);
    if (!ret && !in_arena(dst, len))
        ret = -EFAULT;
    if (!ret && len)
        std::memmove(dst, src, len);
    record(Op::write, dst, 0, len, ret);
    return ret;
}

// As kmod/vq.c: an unmapped byte is -EFAULT even when the iovec is full.
int FakeGuest::translate(std::uint64_t gpa, std::uint32_t len, iovec *iov, unsigned max) {
    const std::uint64_t start = gpa;
    const std::uint32_t total = len;
    unsigned n = 0;
    int ret = enter(Op::translate, nullptr, 0);

    while (!ret && len) {
        const Region *reg = nullptr;
        for (const auto &r : regions_) {
            if (gpa >= r.gpa && gpa - r.gpa < r.size) {
                reg = &r;
                break;
            }
        }
        if (!reg) {
            ret = -EFAULT;
            break;
        }
        if (n == max) {
            ret = -ENOBUFS;
            break;
        }
        const std::uint64_t room = reg->size - (gpa - reg->gpa);
        const std::uint32_t chunk = room < len ? static_cast<std::uint32_t>(room) : len;
        iov[n].iov_base = reg->host + (gpa - reg->gpa);
        iov[n].iov_len = chunk;
        gpa += chunk;
        len -= chunk;
        n++;
    }
    if (!ret)
        ret = static_cast<int>(n);
    record(Op::translate, nullptr, start, total, ret);
    return ret;
}

} // namespace vhnet::ringtest

using vhnet::ringtest::guest;

extern "C" {

int vhnet_ring_get16(struct vhnet_vring *r, u16 *val, const __virtio16 *p) {
    return guest(r).get16(val, p);
}

int vhnet_ring_put16(struct vhnet_vring *r, u16 val, __virtio16 *p) {
    return guest(r).put16(val, p);
}

int vhnet_ring_read(struct vhnet_vring *r, void *dst, const void *src, size_t len) {
    return guest(r).read(dst, src, len);
}

int vhnet_ring_write(struct vhnet_vring *r, void *dst, const void *src, size_t len) {
    return guest(r).write(dst, src, len);
}

int vhnet_ring_translate(struct vhnet_vring *r, u64 gpa, u32 len, struct iovec *iov,
                         unsigned int max) {
    return guest(r).translate(gpa, len, iov, max);
}

void vhnet_ring_log_used(struct vhnet_vring *r, size_t offset, size_t len) {
    guest(r).log_used(offset, len);
}

} // extern "C"
