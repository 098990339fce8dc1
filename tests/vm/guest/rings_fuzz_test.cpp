// SPDX-License-Identifier: GPL-2.0
// fuzz/random_rings: malicious ring layouts under traffic. One /dev/vhnet device on a tap, its
// rings written by hand; FUZZ_RINGS layouts (2 000; 100 000 in make test-debug) each on one queue,
// chosen at random from a fixed, printed seed (VHNET_FUZZ_SEED):
//   - the queue is detached, its last_avail_idx read back (GET_VRING_BASE), its descriptor
//     table filled with random descriptors (mostly plausible buffers in guest memory, some
//     anything: addresses outside it, zero and huge lengths, NEXT loops and bad nexts, the
//     WRITE flag on the wrong queue, INDIRECT tables of random length and content, nested),
//     its avail ring with random heads and an index a few entries on (sometimes far on);
//   - the queue is attached again and kicked (TX) or a frame waits in the tap (RX), while a
//     flood of frames goes in on RX;
//   - the device answers within 10 s: its call or err eventfd, or its queue state in debugfs;
//     a queue debugfs calls broken has signalled its err eventfd (within a second).
// Every 64 layouts the other queue, laid out correctly, passes a frame (TX: the frame reaches
// the tap; RX: an injected frame lands in the buffer) while the fuzzed one is in whatever state
// its layout left. At the end the device closes and no instance is left; the rig checks the
// kernel log (and on the debug kernel, kmemleak).
#include <fcntl.h>
#include <linux/vhost.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <map>
#include <random>

#include "datapath_common.h"

using namespace vmtest;
using namespace dp;

namespace {

constexpr unsigned kNum = 256;
constexpr size_t kArea = 4 << 20;
constexpr uint64_t kRingAt[2] = {0x0, 0x20000};         // RX (0), TX (1): desc, avail +4K, used +8K
constexpr uint64_t kIndirectAt[2] = {0x40000, 0x60000}; // 64 KiB of indirect tables per queue
constexpr uint64_t kBufAt = 0x100000;                   // 2 MiB of buffers
constexpr uint64_t kBufSize = 0x200000;
constexpr uint64_t kGoodAt[2] = {0x300000, 0x380000}; // the other queue's correct buffers
constexpr uint16_t kTag = 0x0600;
constexpr uint64_t kFeatures = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << vhnet::kVirtioNetFMrgRxbuf) |
                               (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
constexpr size_t kHdr = 12; // struct virtio_net_hdr_mrg_rxbuf
using Clock = std::chrono::steady_clock;

// A hand-driven device: guest memory is one region at its own host address (gpa == hva).
class RawDevice {
public:
    explicit RawDevice(int tap_fd) : tap_(tap_fd) {
        mem_ = static_cast<uint8_t *>(
            mmap(nullptr, kArea, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (mem_ == MAP_FAILED)
            fail(fmt::format("mmap: {}", errname(errno)));
        fd_ = open_dev(kVhnet);
        ok(ioctl(fd_, VHOST_SET_OWNER), "SET_OWNER");
        uint64_t f = kFeatures;
        ok(ioctl(fd_, VHOST_SET_FEATURES, &f), "SET_FEATURES");
        struct {
            uint32_t nregions, padding;
            vhost_memory_region r;
        } t{};
        t.nregions = 1;
        t.r.guest_phys_addr = gpa(0);
        t.r.memory_size = kArea;
        t.r.userspace_addr = gpa(0);
        ok(ioctl(fd_, VHOST_SET_MEM_TABLE, &t), "SET_MEM_TABLE");
        for (unsigned q = 0; q < 2; q++) {
            kick_[q] = SYS(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
            call_[q] = SYS(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
            err_[q] = SYS(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
            vhost_vring_state num{q, kNum};
            ok(ioctl(fd_, VHOST_SET_VRING_NUM, &num), "SET_VRING_NUM");
            vhost_vring_state base{q, 0};
            ok(ioctl(fd_, VHOST_SET_VRING_BASE, &base), "SET_VRING_BASE");
            vhost_vring_addr a{};
            a.index = q;
            a.desc_user_addr = gpa(kRingAt[q]);
            a.avail_user_addr = gpa(kRingAt[q] + 0x1000);
            a.used_user_addr = gpa(kRingAt[q] + 0x2000);
            ok(ioctl(fd_, VHOST_SET_VRING_ADDR, &a), "SET_VRING_ADDR");
            vhost_vring_file k{q, kick_[q]}, c{q, call_[q]}, e{q, err_[q]};
            ok(ioctl(fd_, VHOST_SET_VRING_KICK, &k), "SET_VRING_KICK");
            ok(ioctl(fd_, VHOST_SET_VRING_CALL, &c), "SET_VRING_CALL");
            ok(ioctl(fd_, VHOST_SET_VRING_ERR, &e), "SET_VRING_ERR");
            attach(q);
        }
    }
    ~RawDevice() {
        close(fd_);
        for (unsigned q = 0; q < 2; q++)
            for (int f : {kick_[q], call_[q], err_[q]})
                close(f);
        munmap(mem_, kArea);
    }
    RawDevice(const RawDevice &) = delete;
    RawDevice &operator=(const RawDevice &) = delete;

    uint64_t gpa(uint64_t off) const { return reinterpret_cast<uintptr_t>(mem_) + off; }
    uint8_t *at(uint64_t off) const { return mem_ + off; }
    vring_desc *desc(unsigned q) const { return reinterpret_cast<vring_desc *>(at(kRingAt[q])); }
    vring_avail *avail(unsigned q) const {
        return reinterpret_cast<vring_avail *>(at(kRingAt[q] + 0x1000));
    }
    vring_used *used(unsigned q) const {
        return reinterpret_cast<vring_used *>(at(kRingAt[q] + 0x2000));
    }
    int err_fd(unsigned q) const { return err_[q]; }
    int call_fd(unsigned q) const { return call_[q]; }

    void attach(unsigned q) {
        vhost_vring_file b{q, tap_};
        ok(ioctl(fd_, VHOST_NET_SET_BACKEND, &b), "SET_BACKEND");
    }
    // Detaches the queue and returns where the device would go on in its avail ring.
    uint16_t detach(unsigned q) {
        vhost_vring_file b{q, -1};
        ok(ioctl(fd_, VHOST_NET_SET_BACKEND, &b), "SET_BACKEND -1");
        vhost_vring_state s{q, 0};
        ok(ioctl(fd_, VHOST_GET_VRING_BASE, &s), "GET_VRING_BASE");
        return static_cast<uint16_t>(s.num);
    }
    void set_base(unsigned q, uint16_t base) {
        vhost_vring_state s{q, base};
        ok(ioctl(fd_, VHOST_SET_VRING_BASE, &s), "SET_VRING_BASE");
    }
    void kick(unsigned q) {
        uint64_t one = 1;
        if (write(kick_[q], &one, sizeof one) != sizeof one)
            fail(fmt::format("kick: {}", errname(errno)));
    }
    // Reads (clears) an eventfd; whether it had been signalled.
    static bool consume(int fd) {
        uint64_t v;
        return read(fd, &v, sizeof v) == sizeof v;
    }

private:
    static void ok(int r, const char *what) {
        if (r < 0)
            fail(fmt::format("{}: {}", what, errname(errno)));
    }
    uint8_t *mem_ = nullptr;
    int fd_ = -1, tap_ = -1;
    int kick_[2] = {-1, -1}, call_[2] = {-1, -1}, err_[2] = {-1, -1};
};

// A queue's state in debugfs ("running", "broken", "stopped") of instance `id`.
std::string queue_state(const std::string &id, unsigned q) {
    const auto info = debugfs_fields(fmt::format("{}/{}/info", kDebugfs, id));
    const auto it = info.find(q == 0 ? "rx_state" : "tx_state");
    if (it == info.end())
        fail(fmt::format("debugfs instance {} has no queue state", id));
    return it->second;
}

class Layouts {
public:
    Layouts(RawDevice &d, uint64_t seed) : d_(d), rng_(seed) {}
    uint64_t below(uint64_t n) { return rng_() % n; }
    bool chance(unsigned pct) { return below(100) < pct; }

    // A random descriptor for queue q (RX wants WRITE, TX not).
    vring_desc descriptor(unsigned q, unsigned i) {
        vring_desc v{};
        const uint16_t w = q == 0 ? VRING_DESC_F_WRITE : 0;
        switch (below(10)) {
        case 0: // anything
            v.addr = rng_();
            v.len = static_cast<uint32_t>(rng_());
            v.flags = static_cast<uint16_t>(rng_());
            v.next = static_cast<uint16_t>(rng_());
            return v;
        case 1: // an indirect table of random length, content below
            v.addr = d_.gpa(kIndirectAt[q] + below(16) * 0x1000 + (chance(90) ? 0 : below(16)));
            v.len = static_cast<uint32_t>(chance(80) ? 16 * (below(40)) : below(0x2000));
            v.flags = static_cast<uint16_t>(VRING_DESC_F_INDIRECT | (chance(10) ? w : 0) |
                                            (chance(10) ? VRING_DESC_F_NEXT : 0));
            v.next = static_cast<uint16_t>(below(kNum));
            return v;
        case 2: // outside guest memory, or straddling its end
            v.addr = chance(50) ? d_.gpa(kArea - below(64)) : below(0x100000);
            v.len = static_cast<uint32_t>(64 + below(4096));
            v.flags = w;
            return v;
        default: // a plausible buffer, sometimes chained, sometimes the wrong direction
            v.addr = d_.gpa(kBufAt + below(kBufSize - 0x10000));
            v.len = static_cast<uint32_t>(chance(5) ? (chance(50) ? 0 : 0xffffffffu)
                                                    : below(chance(20) ? 65536 : 2048));
            v.flags = static_cast<uint16_t>((chance(95) ? w : (w ^ VRING_DESC_F_WRITE)) |
                                            (chance(30) ? VRING_DESC_F_NEXT : 0));
            v.next = static_cast<uint16_t>(chance(95) ? (i + 1 + below(4)) % kNum : rng_());
            return v;
        }
    }

    // Writes a random layout into queue q's ring, with `base` the device's next avail entry;
    // returns how many entries it published.
    uint16_t write(unsigned q, uint16_t base) {
        vring_desc *desc = d_.desc(q);
        for (unsigned i = 0; i < kNum; i++)
            desc[i] = descriptor(q, i);
        // indirect tables: plausible entries, some garbage
        auto *ind = reinterpret_cast<vring_desc *>(d_.at(kIndirectAt[q]));
        for (unsigned i = 0; i < 0x10000 / 16; i++) {
            ind[i] = descriptor(q, i % kNum);
            if (chance(85))
                ind[i].flags &= static_cast<uint16_t>(~VRING_DESC_F_INDIRECT);
            if (chance(50))
                ind[i].next = static_cast<uint16_t>((i + 1) % 32);
        }
        vring_avail *av = d_.avail(q);
        uint16_t n = static_cast<uint16_t>(chance(90) ? 1 + below(8)
                                                      : (chance(50) ? below(kNum + 2) : rng_()));
        for (unsigned k = 0; k < std::min<unsigned>(n, kNum); k++)
            av->ring[(base + k) % kNum] = static_cast<uint16_t>(chance(95) ? below(kNum) : rng_());
        av->flags = static_cast<uint16_t>(chance(90) ? 0 : rng_());
        // the used index the device reads when it attaches: where it is, mostly
        d_.used(q)->idx = chance(95) ? base : static_cast<uint16_t>(rng_());
        __atomic_store_n(&av->idx, static_cast<uint16_t>(base + n), __ATOMIC_RELEASE);
        return n;
    }

private:
    RawDevice &d_;
    std::mt19937_64 rng_;
};

// Waits until one of fds is readable, up to `ms`; the index of the first readable, or -1.
int wait_any(std::initializer_list<int> fds, int ms) {
    pollfd p[4];
    int n = 0;
    for (int f : fds)
        p[n++] = {f, POLLIN, 0};
    if (poll(p, static_cast<nfds_t>(n), ms) <= 0)
        return -1;
    for (int i = 0; i < n; i++)
        if (p[i].revents & POLLIN)
            return i;
    return -1;
}

// The other queue, laid out correctly, passes one frame.
void other_queue_passes(RawDevice &d, unsigned q, Capture &cap, Injector &inj, uint32_t seq) {
    const uint16_t base = d.detach(q);
    vring_desc *desc = d.desc(q);
    const uint64_t buf = kGoodAt[q];
    const uint16_t head = static_cast<uint16_t>(base % kNum);
    if (q == 1) { // TX: header and frame in one buffer
        const auto frame = eth_frame(100, kTag, seq);
        std::memset(d.at(buf), 0, kHdr);
        std::memcpy(d.at(buf + kHdr), frame.data(), frame.size());
        desc[head] = {d.gpa(buf), static_cast<uint32_t>(kHdr + frame.size()), 0, 0};
    } else {
        std::memset(d.at(buf), 0, 4096);
        desc[head] = {d.gpa(buf), 4096, VRING_DESC_F_WRITE, 0};
    }
    d.avail(q)->ring[base % kNum] = head;
    d.used(q)->idx = base;
    __atomic_store_n(&d.avail(q)->idx, static_cast<uint16_t>(base + 1), __ATOMIC_RELEASE);
    d.set_base(q, base);
    d.attach(q);
    if (q == 1) {
        d.kick(q);
        // A fuzzed TX layout's buffers may point anywhere in guest memory, kGoodAt included:
        // it can have sent again an earlier correct frame, still in the capture. Skip those.
        auto got = cap.next(kTag, 10000ms);
        unsigned stale = 0;
        for (; got && got->id.seq < seq; stale++)
            got = cap.next(kTag, 10000ms);
        if (stale)
            note("before frame {}: {} earlier frames sent again by fuzzed TX layouts", seq, stale);
        if (!got)
            fail(fmt::format("TX did not pass frame {} while RX held a fuzzed layout", seq));
        if (got->id.seq != seq)
            fail(fmt::format("TX passed frame {} when frame {} was sent", got->id.seq, seq));
    } else {
        const auto frame = eth_frame(100, kTag, seq);
        const auto until = Clock::now() + 10s;
        for (;;) {
            inj.send(frame);
            if (__atomic_load_n(&d.used(q)->idx, __ATOMIC_ACQUIRE) != base)
                break;
            if (Clock::now() > until)
                fail(fmt::format("RX did not take frame {} while TX held a fuzzed layout", seq));
            usleep(2000);
        }
        auto id = frame_id(
            std::span(reinterpret_cast<const std::byte *>(d.at(buf + kHdr)), frame.size()));
        if (!id)
            fail("RX wrote something else than an injected frame into the correct buffer");
    }
}

void random_rings() {
    const uint64_t seed = env_u64("VHNET_FUZZ_SEED", 0x76686e6574ULL) ^ 0x71e6ULL;
    const unsigned long layouts = env_u64("FUZZ_RINGS", 2000);
    note("seed {:#x}, {} layouts", seed, layouts);
    std::fflush(stdout);
    const int before = vhnet_instances();
    std::map<std::string, unsigned long> outcomes;
    const auto start = Clock::now();
    {
        auto tap = open_tap("rfz0");
        Capture cap(tap.name());
        Injector inj(tap.name());
        RawDevice d(tap.fd());
        const auto id = vhnet_instance_of(getpid());
        if (id.empty())
            fail("no vhnet instance of this process in debugfs");
        Layouts gen(d, seed);
        const auto frame = eth_frame(60, kTag + 1, 0);
        for (unsigned long i = 0; i < layouts; i++) {
            const auto q = static_cast<unsigned>(gen.below(2));
            const uint16_t base = d.detach(q);
            RawDevice::consume(d.err_fd(q));
            RawDevice::consume(d.call_fd(q));
            gen.write(q, base);
            d.set_base(q, base);
            d.attach(q);
            // traffic: RX always has frames coming; TX is kicked
            inj.send(frame);
            if (q == 1)
                d.kick(q);
            const int w = wait_any({d.err_fd(q), d.call_fd(q)}, 20);
            std::string what = w == 0 ? "err" : w == 1 ? "call" : "quiet";
            if (w != 0) {
                const auto state = queue_state(id, q);
                if (state == "broken") {
                    if (wait_any({d.err_fd(q)}, 1000) != 0)
                        fail(fmt::format("layout {} on {}: debugfs says broken, the err "
                                         "eventfd was not signalled",
                                         i, q ? "TX" : "RX"));
                    what = "err (late)";
                } else if (state != "running") {
                    fail(fmt::format("layout {}: queue {} is {}", i, q, state));
                }
            }
            outcomes[fmt::format("{} {}", q ? "tx" : "rx", what)]++;
            if (i % 64 == 63)
                other_queue_passes(d, 1 - q, cap, inj, static_cast<uint32_t>(i));
            if (i % 10000 == 9999)
                note("{} layouts, {:.0f}/s", i + 1,
                     static_cast<double>(i + 1) /
                         std::chrono::duration<double>(Clock::now() - start).count());
        }
        // which ring errors the layouts reached, as vhnet counts them
        for (const auto q : {Queue::Rx, Queue::Tx})
            for (const auto &[k, v] : vhnet_queue_stats(q))
                if (k.starts_with("error_") && v)
                    outcomes[fmt::format("{} debugfs {}", q == Queue::Rx ? "rx" : "tx", k)] += v;
    }
    const double secs = std::chrono::duration<double>(Clock::now() - start).count();
    note("{} layouts in {:.0f} s ({:.0f}/s), the other queue passed a frame {} times", layouts,
         secs, static_cast<double>(layouts) / secs, layouts / 64);
    for (const auto &[k, n] : outcomes)
        note("  {:>7} {}", n, k);
    if (wait_vhnet_instances(before) != before)
        fail("a vhnet instance was left after the device closed");
}

uint64_t rings_budget() {
    // about 10 ms a layout under TCG, several times that on the debug kernel: 50 ms
    return env_u64("FUZZ_RINGS", 2000) / 20 + 120;
}

const bool reg =
    (add_test("fuzz", "random_rings", random_rings, static_cast<unsigned>(rings_budget())), true);

} // namespace
