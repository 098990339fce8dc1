// libFuzzer target for the ring core (kmod/ring/vring.c) in a fake guest (tests/unit/ring).
//
// The input is a ring size, features, a guest memory table, a script of device operations and
// the raw bytes of guest memory (descriptor table, avail ring, indirect tables, buffers); see
// README.md for the exact layout. The device runs the script, then drains the ring; after each
// call the target checks the core's contract:
//  - get_chain returns 1, 0 or a negative errno with the matching ring error;
//  - a chain's segments number at most the room given, add up to out_len/in_len and lie in
//    mapped guest memory; its head names a descriptor;
//  - a call reads at most num ring descriptors and, from indirect tables, at most what the
//    indirect descriptors it read announce;
//  - last_avail_idx moves by one per chain, never past avail_idx, and not at all on error;
//  - every accessor call stays in the ring part it is for: get16 in the avail ring, put16 and
//    write in the used ring, read in the descriptor table or in mapped guest memory;
//  - the other calls return 0 or -EFAULT, and add_used moves last_used_idx only on success.
// The script may also make any accessor call fail (fault injection), as a racing guest
// unmapping memory would.
// ASan and UBSan catch the rest. The same file, built without libFuzzer, replays a corpus
// (replay_main.cpp).
#include "fake_guest.h"

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <vector>

using vhnet::ringtest::FakeGuest;

namespace {

constexpr std::size_t arena_size = 0x10000;
constexpr std::size_t header_size = 16;
constexpr unsigned max_ops = 512;
// Accessor calls an input may make: a chain may legitimately walk num indirect tables of
// thousands of zero-length descriptors, and the fuzzer should not spend seconds on one input.
constexpr unsigned max_calls = 1u << 21;

// Aborts with a message: libFuzzer and the replay report it as a crash with the input.
[[noreturn]] void fail(const char *what, long long a, long long b) {
    std::fprintf(stderr, "ring_fuzz: invariant broken: %s (%lld, %lld)\n", what, a, b);
    std::abort();
}

// ENSURE(cond) or ENSURE(cond, a, b): a and b are printed when cond does not hold.
#define ENSURE(cond, ...) ENSURE_(cond __VA_OPT__(, ) __VA_ARGS__, 0, 0)
#define ENSURE_(cond, a, b, ...)                                                                   \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fail(#cond, static_cast<long long>(a), static_cast<long long>(b));                     \
    } while (0)

class Reader {
public:
    Reader(const std::uint8_t *data, std::size_t size) : p_(data), left_(size) {}
    std::size_t left() const { return left_; }
    const std::uint8_t *data() const { return p_; }
    std::uint64_t le(unsigned bytes) {
        std::uint64_t v = 0;
        for (unsigned i = 0; i < bytes && left_; i++, left_--)
            v |= std::uint64_t{*p_++} << (8 * i);
        return v;
    }
    std::uint8_t u8() { return static_cast<std::uint8_t>(le(1)); }
    std::uint16_t u16() { return static_cast<std::uint16_t>(le(2)); }
    std::uint32_t u32() { return static_cast<std::uint32_t>(le(4)); }
    std::uint64_t u64() { return le(8); }
    void skip(std::size_t n) {
        n = n < left_ ? n : left_;
        p_ += n;
        left_ -= n;
    }

private:
    const std::uint8_t *p_;
    std::size_t left_;
};

// VHNET_RING_FUZZ_TRACE=1 prints every call and its result (to check what a seed does).
const bool trace = std::getenv("VHNET_RING_FUZZ_TRACE") != nullptr;

#define TRACE(...)                                                                                 \
    do {                                                                                           \
        if (trace)                                                                                 \
            std::fprintf(stderr, __VA_ARGS__);                                                     \
    } while (0)

std::uintptr_t addr(const void *p) {
    return reinterpret_cast<std::uintptr_t>(p);
}

bool within(const void *p, std::size_t len, const void *base, std::size_t size) {
    return addr(p) >= addr(base) && addr(p) - addr(base) <= size &&
           len <= size - (addr(p) - addr(base));
}

class Device {
public:
    Device(FakeGuest &g, vhnet_vring &r, unsigned max) : g_(g), r_(r), max_(max) {
        g_.set_log(&log_);
        // the dirty log on: every used-ring write is reported, and must lie in the used ring
        r_.log_used = true;
    }
    ~Device() { g_.set_log(nullptr); }
    Device(const Device &) = delete;
    Device &operator=(const Device &) = delete;

    // Returns get_chain's return value.
    int get_chain() {
        // exactly max_, so that ASan sees a write past it; but never null (vring.c computes
        // iov + n, UB on a null pointer even for n 0)
        std::vector<iovec> iov(max_ ? max_ : 1);
        // room for as many log entries as segments, as the net device gives
        std::vector<vhnet_ring_log> wlog(max_ ? max_ : 1);
        vhnet_chain c{};
        c.log = wlog.data();
        c.log_max = max_;
        enum vhnet_ring_err err = VHNET_RING_ERR_MAX;
        const std::uint16_t last = r_.last_avail_idx;

        log_.clear();
        const int ret = vhnet_vring_get_chain(&r_, iov.data(), max_, &c, &err);
        TRACE("get_chain %d %s head %u out %u/%zu in %u/%zu last_avail %u avail %u\n", ret,
              vhnet_vring_error_name(err), c.head, c.out, c.out_len, c.in, c.in_len,
              r_.last_avail_idx, r_.avail_idx);
        check_accesses();
        check_reads();
        if (ret == 1) {
            ENSURE(err == VHNET_RING_OK, err, 0);
            ENSURE(c.head < r_.num, c.head, r_.num);
            ENSURE(c.out + c.in <= max_, c.out + c.in, max_);
            std::size_t out_len = 0, in_len = 0;
            for (unsigned i = 0; i < c.out + c.in; i++) {
                ENSURE(iov[i].iov_len > 0, i, 0);
                ENSURE(g_.in_region(iov[i].iov_base, iov[i].iov_len), i, iov[i].iov_len);
                (i < c.out ? out_len : in_len) += iov[i].iov_len;
            }
            ENSURE(out_len == c.out_len, out_len, c.out_len);
            ENSURE(in_len == c.in_len, in_len, c.in_len);
            // one log entry per device-writable buffer: never more than its segments, and
            // together exactly the bytes the device may write
            ENSURE(c.nlog <= c.in, c.nlog, c.in);
            std::uint64_t logged = 0;
            for (unsigned i = 0; i < c.nlog; i++) {
                ENSURE(wlog[i].len > 0, i, 0);
                logged += wlog[i].len;
            }
            ENSURE(logged == c.in_len, logged, c.in_len);
            ENSURE(r_.last_avail_idx == static_cast<std::uint16_t>(last + 1), r_.last_avail_idx,
                   last);
            ENSURE(static_cast<std::uint16_t>(r_.avail_idx - r_.last_avail_idx) < r_.num,
                   r_.avail_idx, r_.last_avail_idx);
            taken_.push_back(c.head);
        } else if (ret == 0) {
            ENSURE(err == VHNET_RING_OK, err, 0);
            ENSURE(r_.last_avail_idx == last, r_.last_avail_idx, last);
            ENSURE(r_.avail_idx == last, r_.avail_idx, last);
        } else {
            ENSURE(r_.last_avail_idx == last, r_.last_avail_idx, last);
            check_error(ret, err);
        }
        return ret;
    }

    void add_used(unsigned n, std::uint32_t len) {
        std::vector<vring_used_elem> elems;
        for (unsigned i = 0; i < n; i++) {
            // what the device took, in order, or made-up ids when it took fewer
            std::uint32_t id = len + i;
            if (!taken_.empty()) {
                id = taken_.front();
                taken_.pop_front();
            }
            vring_used_elem e;
            e.id = __cpu_to_virtio32(true, id);
            e.len = __cpu_to_virtio32(true, len);
            elems.push_back(e);
        }
        const std::uint16_t last = r_.last_used_idx;
        log_.clear();
        const int ret = vhnet_vring_add_used(&r_, elems.data(), n);
        TRACE("add_used %u: %d last_used %u\n", n, ret, r_.last_used_idx);
        check_accesses();
        ENSURE(ret == 0 || ret == -EFAULT, ret, 0);
        ENSURE(r_.last_used_idx == static_cast<std::uint16_t>(ret ? last : last + n),
               r_.last_used_idx, last);
    }

    void unget(unsigned n) {
        n = n < taken_.size() ? n : static_cast<unsigned>(taken_.size());
        for (unsigned i = 0; i < n; i++)
            taken_.pop_back();
        vhnet_vring_unget(&r_, n);
        TRACE("unget %u: last_avail %u\n", n, r_.last_avail_idx);
    }

    void need_notify() {
        log_.clear();
        const bool notify = vhnet_vring_need_notify(&r_);
        TRACE("need_notify %d\n", notify);
        check_accesses();
    }

    void disable_notify() {
        log_.clear();
        const int ret = vhnet_vring_disable_notify(&r_);
        TRACE("disable_notify %d\n", ret);
        check_accesses();
        ENSURE(ret == 0 || ret == -EFAULT, ret, 0);
    }

    void enable_notify() {
        bool more = true;
        log_.clear();
        const int ret = vhnet_vring_enable_notify(&r_, &more);
        TRACE("enable_notify %d more %d avail %u\n", ret, more, r_.avail_idx);
        check_accesses();
        ENSURE(ret == 0 || ret == -EFAULT, ret, 0);
        ENSURE(!ret || !more);
    }

    // Fault injection: the nth accessor call from now fails with -EFAULT.
    void fail_call(unsigned n) {
        g_.fail_nth(FakeGuest::Op::any, n);
        TRACE("fault armed: accessor call %u from now\n", n);
    }

    void avail_empty() {
        bool empty = true;
        log_.clear();
        const int ret = vhnet_vring_avail_empty(&r_, &empty);
        TRACE("avail_empty %d empty %d\n", ret, empty);
        check_accesses();
        ENSURE(ret == 0 || ret == -EFAULT, ret, 0);
        ENSURE(!ret || !empty);
        if (!ret && empty)
            ENSURE(r_.avail_idx == r_.last_avail_idx);
    }

private:
    static void check_error(int ret, vhnet_ring_err err) {
        switch (err) {
        case VHNET_RING_EFAULT_RING:
        case VHNET_RING_BAD_ADDR:
            ENSURE(ret == -EFAULT, ret, err);
            break;
        case VHNET_RING_BAD_AVAIL_IDX:
        case VHNET_RING_BAD_HEAD:
        case VHNET_RING_BAD_NEXT:
        case VHNET_RING_OUT_AFTER_IN:
            ENSURE(ret == -EINVAL, ret, err);
            break;
        case VHNET_RING_BAD_INDIRECT:
            ENSURE(ret == -EINVAL || ret == -EFAULT, ret, err);
            break;
        case VHNET_RING_LOOP:
            ENSURE(ret == -ELOOP, ret, err);
            break;
        case VHNET_RING_TOO_MANY_SEGS:
            ENSURE(ret == -ENOBUFS, ret, err);
            break;
        default:
            fail("get_chain: no error given", ret, err);
        }
    }

    std::size_t desc_size() const { return sizeof(vring_desc) * r_.num; }
    std::size_t avail_size() const { return 4 + 2 * r_.num + 2; }
    std::size_t used_size() const { return 4 + sizeof(vring_used_elem) * r_.num + 2; }

    // Every accessor call of the last operation stayed in the ring part it is for.
    void check_accesses() const {
        for (const auto &a : log_) {
            switch (a.op) {
            case FakeGuest::Op::get16:
                ENSURE(within(a.p, 2, r_.avail, avail_size()));
                break;
            case FakeGuest::Op::put16:
                ENSURE(within(a.p, 2, r_.used, 4) || within(a.p, 2, &r_.used->ring[r_.num], 2));
                break;
            case FakeGuest::Op::write:
                ENSURE(within(a.p, a.len, r_.used->ring, sizeof(vring_used_elem) * r_.num), a.len,
                       r_.num);
                break;
            case FakeGuest::Op::read:
                // a descriptor, or a piece of one that spans two regions
                ENSURE(a.len > 0 && a.len <= sizeof(vring_desc), a.len, 0);
                ENSURE(within(a.p, a.len, r_.desc, desc_size()) || g_.in_region(a.p, a.len));
                break;
            case FakeGuest::Op::translate:
            case FakeGuest::Op::any:
                break;
            }
            // every used-ring write that happened was reported for the dirty log
            if ((a.op == FakeGuest::Op::put16 || a.op == FakeGuest::Op::write) && a.ret == 0)
                ENSURE(used_logged(a.p, a.len), a.len, 0);
        }
        // and nothing else: reports lie in the used ring (flags, idx, ring[num], avail_event)
        for (const auto &u : g_.used_log())
            ENSURE(u.offset + u.len <= 4 + sizeof(vring_used_elem) * r_.num + 2, u.offset, u.len);
        g_.clear_used_log();
    }

    bool used_logged(const void *p, std::size_t len) const {
        const std::size_t off = addr(p) - addr(r_.used);
        for (const auto &u : g_.used_log())
            if (off >= u.offset && off + len <= u.offset + u.len)
                return true;
        return false;
    }

    // get_chain read at most num descriptors from the ring, and from indirect tables at most
    // what the indirect descriptors it read from the ring announce, each in one or two pieces.
    void check_reads() const {
        std::uint64_t reads = 0, allowance = 0;
        for (const auto &a : log_) {
            if (a.op != FakeGuest::Op::read)
                continue;
            reads++;
            // a read there may be an indirect table's (the guest may put one anywhere): then
            // the allowance only grows, and the bound stays sound
            if (!a.ret && within(a.p, a.len, r_.desc, desc_size()) && a.len == sizeof(vring_desc)) {
                vring_desc d;
                std::memcpy(&d, a.p, sizeof(d));
                if (__virtio16_to_cpu(true, d.flags) & VRING_DESC_F_INDIRECT)
                    allowance += __virtio32_to_cpu(true, d.len) / sizeof(vring_desc);
            }
        }
        ENSURE(reads <= r_.num + 2 * allowance, reads, allowance);
    }

    FakeGuest &g_;
    vhnet_vring &r_;
    unsigned max_;
    std::deque<std::uint16_t> taken_;
    std::vector<FakeGuest::Access> log_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
    if (size < header_size)
        return -1;
    Reader in(data, size);
    const unsigned num = 1u << (in.u8() % 9);
    const std::uint8_t features = in.u8();
    const std::uint16_t avail_start = in.u16();
    const std::uint16_t used_start = in.u16();
    const unsigned max = in.u8() % 65;
    const unsigned nregions = in.u8() % 5;
    // the ring's parts, aligned as the spec requires (and UBSan checks)
    const std::size_t desc_off = in.u16() & ~std::size_t{0xf};
    const std::size_t avail_off = in.u16() & ~std::size_t{0x1};
    const std::size_t used_off = in.u16() & ~std::size_t{0x3};
    const std::uint16_t ops_len = in.u16();

    FakeGuest g(arena_size);
    for (unsigned i = 0; i < nregions; i++) {
        const std::uint64_t gpa = in.u64();
        std::uint64_t len = in.u32();
        const std::size_t off = in.u32() % arena_size;
        if (len > arena_size - off)
            len = arena_size - off;
        if (len && gpa + (len - 1) >= gpa)
            g.add_region(gpa, len, off);
    }
    const Reader ops(in.data(), in.left() < ops_len ? in.left() : ops_len);
    in.skip(ops_len);
    std::memcpy(g.arena(), in.data(), in.left() < arena_size ? in.left() : arena_size);

    vhnet_vring r{};
    r.num = num;
    // the ring may stick out of the arena: that is a fault, checked by the accessors
    r.desc = reinterpret_cast<vring_desc *>(g.arena() + desc_off);
    r.avail = reinterpret_cast<vring_avail *>(g.arena() + avail_off);
    r.used = reinterpret_cast<vring_used *>(g.arena() + used_off);
    r.last_avail_idx = avail_start;
    r.avail_idx = avail_start;
    r.last_used_idx = used_start;
    r.event_idx = features & 1;
    r.indirect = features & 2;
    r.notify_on_empty = features & 4;
    g.attach(r);

    TRACE("--- num %u features %#x max %u regions %zu\n", num, features, max, g.regions().size());
    Device dev(g, r, max);
    Reader script = ops;
    for (unsigned n = 0; n < max_ops && script.left() && g.calls(FakeGuest::Op::any) < max_calls;
         n++) {
        const std::uint8_t op = script.u8();
        const unsigned arg = op >> 3;
        switch (op & 7) {
        case 0:
            dev.get_chain();
            break;
        case 1:
            dev.add_used(arg % num + 1, arg);
            break;
        case 2:
            dev.need_notify();
            break;
        case 3:
            dev.disable_notify();
            break;
        case 4:
            dev.enable_notify();
            break;
        case 5:
            if (arg < 16)
                dev.avail_empty();
            else
                dev.fail_call(arg - 15);
            break;
        case 6:
            dev.unget(arg);
            break;
        case 7: {
            // the guest writes a byte meanwhile (publishes, rewrites a descriptor...)
            const std::uint16_t off = script.u16();
            const std::uint8_t val = script.u8();
            g.arena()[off % arena_size] = val;
            TRACE("guest writes %#x at %#x\n", val, off);
            break;
        }
        }
    }
    // then the device drains the ring, as a queue handler does
    for (unsigned n = 0; n < 2 * num + 2 && g.calls(FakeGuest::Op::any) < max_calls; n++) {
        if (dev.get_chain() != 1)
            break;
        dev.add_used(1, 0);
    }
    dev.need_notify();
    return 0;
}
