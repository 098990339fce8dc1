// SPDX-License-Identifier: GPL-2.0
// Suite "fuzz": random calls on a few /dev/vhnet files, from a fixed seed (printed; override with
// VHNET_FUZZ_SEED, the operation count with FUZZ_OPS, 10 000 by default and 1 000 000 in make
// test-debug, and the time they may take with FUZZ_BUDGET seconds). The calls: every vhost ioctl
// number plus random numbers, with NULL, small integers, kernel addresses, pointers to random
// bytes, pointers to plausible structures (ring indices 0..2, eventfd/tap/AF_PACKET/pipe fds,
// rings and memory tables in an mmap'd area with random content), the IOTLB write/read/poll
// channel, SET_OWNER/RESET_OWNER, close/reopen/dup, forked children (other mm: not the owner,
// or a short-lived owner, or an owner that exits while its threads are inside calls on its device)
// and up to four threads racing on the files, often all on one. Now and then a device is set up
// properly (memory table, rings, eventfds, a backend) and kicked with random descriptors, so
// that the datapath runs too.
//
// Each call is bounded by alarm(): a call that does not return fails the test and names it.
// Afterwards every file is closed, the debugfs instance count must be back to 0 and the module
// must unload and load again.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "util.h"

using namespace vmtest;

namespace {

constexpr uint64_t kDefaultSeed = 0x76686e6574ULL; // "vhnet"
constexpr unsigned long kDefaultOps = 10000;
constexpr unsigned kCallTimeout = 10;    // seconds, per call
constexpr unsigned kDefaultBudget = 500; // seconds for the whole loop
constexpr int kSlots = 4;
constexpr size_t kPage = 4096;
constexpr size_t kArea = size_t{1} << 20;
constexpr uint64_t kNetFeatures = 0x33D008000ULL;
constexpr uint64_t kKernelAddr = 0xffff888000000000ULL;

// Every ioctl of <linux/vhost.h> (vhost-net's and the other vhost devices'), and later
// kernels' numbers (worker ioctls, fork-owner control).
const unsigned long kIoctls[] = {
    VHOST_GET_FEATURES,
    VHOST_SET_FEATURES,
    VHOST_SET_OWNER,
    VHOST_RESET_OWNER,
    VHOST_SET_MEM_TABLE,
    VHOST_SET_LOG_BASE,
    VHOST_SET_LOG_FD,
    VHOST_SET_VRING_NUM,
    VHOST_SET_VRING_ADDR,
    VHOST_SET_VRING_BASE,
    VHOST_GET_VRING_BASE,
    VHOST_SET_VRING_ENDIAN,
    VHOST_GET_VRING_ENDIAN,
    VHOST_SET_VRING_KICK,
    VHOST_SET_VRING_CALL,
    VHOST_SET_VRING_ERR,
    VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
    VHOST_GET_VRING_BUSYLOOP_TIMEOUT,
    VHOST_SET_BACKEND_FEATURES,
    VHOST_GET_BACKEND_FEATURES,
    VHOST_NET_SET_BACKEND,
    VHOST_SCSI_GET_ABI_VERSION,
    VHOST_VSOCK_SET_GUEST_CID,
    VHOST_VSOCK_SET_RUNNING,
    VHOST_VDPA_GET_DEVICE_ID,
    VHOST_VDPA_SET_STATUS,
    VHOST_VDPA_GET_VRING_NUM,
    VHOST_VDPA_SUSPEND,
    0x8004af08UL, // VHOST_NEW_WORKER
    0x4004af09UL, // VHOST_FREE_WORKER
    0x4008af15UL, // VHOST_ATTACH_VRING_WORKER
    0xc008af16UL, // VHOST_GET_VRING_WORKER
    0x4001af84UL, // VHOST_SET_FORK_FROM_OWNER
    0x8001af85UL, // VHOST_GET_FORK_FROM_OWNER
};

// What the call in progress is, for the alarm handler.
char g_call[256];

void on_hang(int) {
    const char pre[] = "# fuzz: a call did not return within the alarm: ";
    ssize_t r = write(STDOUT_FILENO, pre, sizeof pre - 1);
    r = write(STDOUT_FILENO, g_call, strnlen(g_call, sizeof g_call));
    r = write(STDOUT_FILENO, "\n", 1);
    (void)r;
    _exit(3);
}

template <typename... Args>
void describe(fmt::format_string<Args...> f, Args &&...args) {
    auto r = fmt::format_to_n(g_call, sizeof g_call - 1, f, std::forward<Args>(args)...);
    *r.out = '\0';
}

// Helper files a vring_file or a backend may name.
struct Pool {
    int eventfd = -1, eventfd2 = -1, tap = -1, packet = -1, pipe = -1, tun = -1, udp = -1;
    int pipe_w = -1; // the pipe's other end, never handed out
    void close_all() const {
        for (int f : {eventfd, eventfd2, tap, packet, pipe, pipe_w, tun, udp})
            close(f);
    }
};

int open_vhnet() {
    int fd = open(kVhnet, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        fail(fmt::format("open {}: {}", kVhnet, errname(errno)));
    return fd;
}

class Fuzzer {
public:
    Fuzzer(uint64_t seed, uint8_t *area, const Pool &pool, int *slots)
        : rng_(seed), area_(area), pool_(pool), slots_(slots) {}

    uint64_t rnd() { return rng_(); }
    uint64_t below(uint64_t n) { return rng_() % n; }
    bool chance(unsigned pct) { return below(100) < pct; }
    template <typename T, size_t N>
    T pick(const T (&a)[N]) {
        return a[below(N)];
    }

    uint64_t area() const { return reinterpret_cast<uintptr_t>(area_); }

    int slot_fd() { return slots_[below(kSlots)]; }

    // A file descriptor number for a vring_file / backend / log fd.
    int some_fd() {
        switch (below(12)) {
        case 0:
            return -1;
        case 1:
            return pool_.eventfd;
        case 2:
            return pool_.eventfd2;
        case 3:
            return pool_.tap;
        case 4:
            return pool_.packet;
        case 5:
            return pool_.pipe;
        case 6:
            return pool_.tun;
        case 7:
            return pool_.udp;
        case 8:
            return slot_fd();
        case 9:
            return static_cast<int>(below(64));
        case 10:
            return -2;
        default:
            return static_cast<int>(rnd());
        }
    }

    uint32_t ring_index() {
        static const uint32_t v[] = {0, 0, 0, 1, 1, 1, 2, 0xffffffff};
        return chance(5) ? static_cast<uint32_t>(rnd()) : pick(v);
    }

    uint32_t some_num() {
        static const uint32_t v[] = {0, 1, 2, 3, 64, 256, 256, 1024, 0x8000, 0xffff, 0x10000};
        return chance(20) ? static_cast<uint32_t>(rnd()) : pick(v);
    }

    // An address: mostly inside the area (sometimes misaligned), or anything.
    uint64_t some_addr() {
        switch (below(8)) {
        case 0:
            return 0;
        case 1:
            return kKernelAddr + below(0x10000);
        case 2:
            return rnd();
        case 3:
            return area() + below(kArea);
        default:
            return area() + (below(kArea) & ~uint64_t{0xf});
        }
    }

    uint64_t some_features() {
        switch (below(6)) {
        case 0:
            return 0;
        case 1:
            return kNetFeatures;
        case 2:
            return rnd();
        case 3:
            return uint64_t{1} << below(64);
        default:
            return kNetFeatures & rnd();
        }
    }

    // Fills buf_ with a structure plausible for req.
    void build(unsigned long req) {
        std::memset(buf_, 0, sizeof buf_);
        switch (req) {
        case VHOST_SET_FEATURES: {
            uint64_t f = some_features();
            std::memcpy(buf_, &f, sizeof f);
            break;
        }
        case VHOST_SET_BACKEND_FEATURES: {
            uint64_t f = chance(70) ? below(4) : rnd();
            std::memcpy(buf_, &f, sizeof f);
            break;
        }
        case VHOST_SET_MEM_TABLE: {
            static const uint32_t counts[] = {0, 1, 1, 2, 3, 64, 65};
            uint32_t n = chance(5) ? static_cast<uint32_t>(rnd()) : pick(counts);
            uint32_t hdr[2] = {n, chance(5) ? 1u : 0u};
            std::memcpy(buf_, hdr, sizeof hdr);
            for (uint32_t i = 0; i < std::min<uint32_t>(n, 66); i++) {
                vhost_memory_region r{};
                if (chance(60)) {
                    r.guest_phys_addr = area();
                    r.memory_size = kArea;
                    r.userspace_addr = area();
                } else {
                    r.guest_phys_addr = chance(50) ? below(16) << 20 : rnd();
                    r.memory_size = chance(50) ? kPage << below(8) : rnd();
                    r.userspace_addr = some_addr();
                }
                r.flags_padding = chance(10) ? rnd() : 0;
                std::memcpy(buf_ + 8 + i * sizeof r, &r, sizeof r);
            }
            break;
        }
        case VHOST_SET_LOG_BASE: {
            uint64_t a = some_addr();
            std::memcpy(buf_, &a, sizeof a);
            break;
        }
        case VHOST_SET_LOG_FD: {
            int f = some_fd();
            std::memcpy(buf_, &f, sizeof f);
            break;
        }
        case VHOST_SET_VRING_ADDR: {
            vhost_vring_addr a{};
            a.index = ring_index();
            a.flags = chance(80) ? 0 : static_cast<uint32_t>(below(4));
            a.desc_user_addr = some_addr();
            a.avail_user_addr = some_addr();
            a.used_user_addr = some_addr();
            a.log_guest_addr = chance(70) ? 0 : some_addr();
            std::memcpy(buf_, &a, sizeof a);
            break;
        }
        case VHOST_SET_VRING_KICK:
        case VHOST_SET_VRING_CALL:
        case VHOST_SET_VRING_ERR:
        case VHOST_NET_SET_BACKEND: {
            vhost_vring_file f{ring_index(), some_fd()};
            std::memcpy(buf_, &f, sizeof f);
            break;
        }
        default: {
            vhost_vring_state s{ring_index(), some_num()};
            std::memcpy(buf_, &s, sizeof s);
            break;
        }
        }
    }

    // A random ioctl number: a known one, one with the vhost magic, or anything the VFS does not
    // handle itself (FIONBIO would turn O_NONBLOCK off, FIFREEZE & co. act on the filesystem).
    unsigned long some_request() {
        if (chance(75))
            return pick(kIoctls);
        if (chance(60))
            return _IOC(below(4), VHOST_VIRTIO, below(256), below(128));
        for (;;) {
            unsigned long r = static_cast<uint32_t>(rnd());
            auto type = static_cast<unsigned>((r >> 8) & 0xff);
            if (type != 'T' && type != 'X' && type != 'f' && type != 0x94 && type != 0)
                return r;
        }
    }

    // One random ioctl on fd.
    Outcome random_ioctl(int fd) {
        unsigned long req = some_request();
        unsigned long arg = 0;
        const char *kind = "";
        switch (below(10)) {
        case 0:
            kind = "NULL";
            break;
        case 1:
            kind = "small";
            arg = below(17);
            break;
        case 2:
            kind = "kernel";
            arg = kKernelAddr;
            break;
        case 3:
            kind = "random-bytes";
            for (auto &b : buf_)
                b = static_cast<uint8_t>(rnd());
            arg = reinterpret_cast<uintptr_t>(buf_);
            break;
        case 4: {
            kind = "area";
            arg = area() + below(kArea - 64);
            break;
        }
        case 5:
            kind = "area-end";
            arg = area() + kArea - 1 - below(40);
            break;
        default:
            kind = "struct";
            build(req);
            arg = reinterpret_cast<uintptr_t>(buf_);
            break;
        }
        describe("ioctl(fd {}, {:#x}, {} {:#x})", fd, req, kind, arg);
        return timed([&] { return ioctl(fd, req, arg); });
    }

    // An IOTLB message of random shape.
    Outcome random_write(int fd) {
        vhost_msg_v2 m{};
        m.type = chance(80) ? static_cast<uint32_t>(1 + below(2)) : static_cast<uint32_t>(rnd());
        m.iotlb.iova = chance(50) ? area() + below(kArea) : rnd();
        m.iotlb.size = chance(70) ? kPage << below(6) : rnd();
        m.iotlb.uaddr = some_addr();
        m.iotlb.perm = static_cast<uint8_t>(below(5));
        m.iotlb.type = static_cast<uint8_t>(below(8));
        size_t len = chance(70) ? sizeof m : below(sizeof m + 8);
        describe("write(fd {}, type {} iotlb type {}, {} bytes)", fd, m.type, m.iotlb.type, len);
        return timed([&] { return write(fd, &m, len); });
    }

    Outcome random_read(int fd) {
        size_t len = chance(70) ? 72 : below(200);
        describe("read(fd {}, {} bytes)", fd, len);
        // Never a blocking read: it may legitimately wait forever.
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || !(fl & O_NONBLOCK))
            return {-1, EBADF};
        return timed([&] { return read(fd, buf_, len); });
    }

    Outcome random_poll(int fd) {
        describe("poll(fd {})", fd);
        pollfd p{fd, POLLIN | POLLOUT, 0};
        return timed([&] { return poll(&p, 1, 0); });
    }

    void randomize_area() {
        size_t off = below(kArea / kPage) * kPage;
        size_t len = kPage * (1 + below(4));
        for (size_t i = off; i < std::min(kArea, off + len); i += 8) {
            uint64_t v = rnd();
            std::memcpy(area_ + i, &v, 8);
        }
    }

    // A properly configured device with random descriptors in its rings, then kicked.
    void prime(int fd) {
        describe("prime(fd {})", fd);
        alarm(kCallTimeout * 4);
        ioctl(fd, VHOST_SET_OWNER);
        uint64_t f = kNetFeatures & ~(uint64_t{1} << 33) & (rnd() | 1ULL << 32);
        ioctl(fd, VHOST_SET_FEATURES, &f);
        struct {
            uint32_t n = 1, pad = 0;
            vhost_memory_region r{};
        } mem;
        mem.r.guest_phys_addr = area();
        mem.r.memory_size = kArea;
        mem.r.userspace_addr = area();
        ioctl(fd, VHOST_SET_MEM_TABLE, &mem);
        for (uint32_t q = 0; q < 2; q++) {
            uint64_t base = area() + q * 0x10000;
            vhost_vring_state num{q, 256}, idx{q, 0};
            ioctl(fd, VHOST_SET_VRING_NUM, &num);
            ioctl(fd, VHOST_SET_VRING_BASE, &idx);
            vhost_vring_addr a{};
            a.index = q;
            a.desc_user_addr = base;
            a.avail_user_addr = base + 0x1000;
            a.used_user_addr = base + 0x2000;
            ioctl(fd, VHOST_SET_VRING_ADDR, &a);
            vhost_vring_file kick{q, pool_.eventfd}, call{q, pool_.eventfd2};
            ioctl(fd, VHOST_SET_VRING_KICK, &kick);
            ioctl(fd, VHOST_SET_VRING_CALL, &call);
            vhost_vring_file be{q, chance(50) ? pool_.tap : pool_.packet};
            ioctl(fd, VHOST_NET_SET_BACKEND, &be);
            // Random descriptors pointing into the area, and avail entries naming them.
            auto *desc = reinterpret_cast<vring_desc *>(area_ + q * 0x10000);
            auto *avail = reinterpret_cast<uint16_t *>(area_ + q * 0x10000 + 0x1000);
            for (unsigned i = 0; i < 256; i++) {
                desc[i].addr = chance(90) ? area() + 0x40000 + below(kArea - 0x42000) : rnd();
                desc[i].len = static_cast<uint32_t>(chance(90) ? below(4096) : rnd());
                desc[i].flags = static_cast<uint16_t>(chance(80) ? below(3) : below(8));
                desc[i].next = static_cast<uint16_t>(chance(90) ? below(256) : rnd());
                avail[2 + i] = static_cast<uint16_t>(chance(95) ? below(256) : rnd());
            }
            avail[0] = 0;
            avail[1] = static_cast<uint16_t>(chance(90) ? below(257) : rnd());
        }
        uint64_t one = 1;
        ssize_t w = write(pool_.eventfd, &one, sizeof one);
        (void)w;
        alarm(0);
    }

    std::map<std::string, unsigned long> stats;
    // Whether each call sets its own alarm (not while two threads race: the alarm is the
    // process's, and the caller sets one for the whole race).
    bool alarms = true;
    // System calls made on the devices (the operations of the main loop make one or more).
    unsigned long syscalls = 0;

    void count(const char *what, const Outcome &o) {
        const char *e = o.err ? strerrorname_np(o.err) : "ok";
        stats[fmt::format("{} {}", what, e ? e : std::to_string(o.err))]++;
    }

private:
    template <typename F>
    Outcome timed(F &&f) {
        if (alarms)
            alarm(kCallTimeout);
        errno = 0;
        long r = static_cast<long>(f());
        syscalls++;
        int err = r < 0 ? errno : 0;
        if (alarms)
            alarm(0);
        return {r, err};
    }

    std::mt19937_64 rng_;
    uint8_t *area_;
    const Pool &pool_;
    int *slots_;
    alignas(8) uint8_t buf_[8 + 66 * sizeof(vhost_memory_region)] = {};
};

// A tap "fuzzN" (N: the fuzzing process, each its own).
int make_tap(int n = 0) {
    int fd = SYS(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "fuzz%d", n);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    SYS(ioctl(fd, TUNSETIFF, &ifr));
    return fd; // left down: nothing the rings send reaches the network stack
}

// Every kind of file a fuzzed call may name.
Pool make_pool(int n = 0) {
    Pool pool;
    pool.eventfd = SYS(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    pool.eventfd2 = SYS(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    pool.tap = make_tap(n);
    pool.packet = SYS(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    int p[2];
    SYS(pipe2(p, O_CLOEXEC | O_NONBLOCK));
    pool.pipe = p[0];
    pool.pipe_w = p[1];
    pool.tun = SYS(open("/dev/net/tun", O_RDWR | O_CLOEXEC));
    pool.udp = SYS(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    return pool;
}

// The area fuzzed structures point into, with a guard page after it.
uint8_t *map_area() {
    auto *area = static_cast<uint8_t *>(
        mmap(nullptr, kArea + kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (area == MAP_FAILED)
        fail(fmt::format("mmap: {}", errname(errno)));
    SYS(mprotect(area + kArea, kPage, PROT_NONE));
    return area;
}

// A call that does not return names itself and ends the test (on_hang).
void install_alarm() {
    struct sigaction sa {};
    sa.sa_handler = on_hang;
    sigaction(SIGALRM, &sa, nullptr);
    signal(SIGPIPE, SIG_IGN);
}

bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

bool wait_for(const std::function<bool()> &cond, int ms) {
    for (int i = 0; i < ms / 10; i++) {
        if (cond())
            return true;
        usleep(10000);
    }
    return cond();
}

// A forked owner of a device of its own, with threads inside calls on it when it exits: the
// device must outlive its owner's mm and threads, and close cleanly after.
void owner_exits_mid_call(uint64_t seed, uint8_t *area, const Pool &pool, int *slots) {
    Fuzzer cf(seed, area, pool, slots);
    cf.alarms = false;
    const int fd = open(kVhnet, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        _exit(4);
    if (cf.chance(80))
        cf.prime(fd);
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    const auto n = 1 + cf.below(3);
    for (unsigned k = 0; k < n; k++) {
        const uint64_t ts = cf.rnd();
        threads.emplace_back([&go, fd, ts, area, &pool, slots] {
            Fuzzer tf(ts, area, pool, slots);
            tf.alarms = false;
            while (!go.load())
                ;
            for (;;)
                tf.random_ioctl(tf.chance(70) ? fd : tf.slot_fd());
        });
    }
    go = true;
    usleep(static_cast<useconds_t>(cf.below(3000)));
    _exit(0); // with every thread still in its loop
}

// Runs `fn` in a forked child (which exits 0 after it) under an alarm, and waits for it.
template <typename F>
void in_child(unsigned long call, const char *what, F &&fn) {
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        alarm(kCallTimeout * 3);
        fn();
        _exit(0);
    }
    if (pid < 0)
        fail(fmt::format("fork: {}", errname(errno)));
    alarm(kCallTimeout * 4);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    alarm(0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail(fmt::format("call {}: {} child ended with status {:#x}", call, what, status));
}

uint64_t fuzz_budget() {
    return env_u64("FUZZ_BUDGET", kDefaultBudget);
}

// One fuzzing process: `calls` operations from `seed` on its own four files, within `budget`
// seconds; then its files close. Returns the operations done.
unsigned long fuzz_loop(uint64_t seed, unsigned long calls, uint64_t budget, int proc) {
    install_alarm();
    uint8_t *area = map_area();
    Pool pool = make_pool(proc);

    int slots[kSlots];
    for (int &s : slots)
        s = open_vhnet();

    Fuzzer fz(seed, area, pool, slots);
    for (size_t i = 0; i < kArea; i += 8) {
        uint64_t v = fz.rnd();
        std::memcpy(area + i, &v, 8);
    }

    // Per kind of operation: how many, and the time they took (where a slow kernel spends it).
    std::map<std::string, std::pair<unsigned long, uint64_t>> cost;
    const auto start = std::chrono::steady_clock::now();
    unsigned long done = 0;
    for (; done < calls; done++) {
        if (done % 1024 == 0) {
            const auto t = std::chrono::steady_clock::now() - start;
            if (t > std::chrono::seconds(budget))
                fail(fmt::format("only {} of {} operations in {} s", done, calls, budget));
            if (done % (1024 * 128) == 0 && done)
                note("{} operations, {:.0f}/s", done,
                     static_cast<double>(done) / std::chrono::duration<double>(t).count());
        }
        const auto t0 = std::chrono::steady_clock::now();
        const char *kind = "";
        unsigned op = static_cast<unsigned>(fz.below(1000));
        int s = static_cast<int>(fz.below(kSlots));
        int fd = slots[s];
        if (op < 700) {
            kind = "ioctl";
            fz.count(kind, fz.random_ioctl(fd));
        } else if (op < 740) {
            kind = "SET_OWNER";
            describe("SET_OWNER(fd {})", fd);
            alarm(kCallTimeout);
            fz.count(kind, ioctl_outcome(fd, VHOST_SET_OWNER, 0UL));
            alarm(0);
        } else if (op < 765) {
            kind = "RESET_OWNER";
            describe("RESET_OWNER(fd {})", fd);
            alarm(kCallTimeout);
            fz.count(kind, ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL));
            if (fz.chance(50))
                ioctl(fd, VHOST_SET_OWNER);
            alarm(0);
        } else if (op < 800) {
            kind = "write";
            fz.count(kind, fz.random_write(fd));
        } else if (op < 820) {
            kind = "read";
            fz.count(kind, fz.random_read(fd));
        } else if (op < 840) {
            kind = "poll";
            fz.count(kind, fz.random_poll(fd));
        } else if (op < 870) {
            kind = "close+open";
            describe("close+open(fd {})", fd);
            alarm(kCallTimeout);
            close(fd);
            slots[s] = open_vhnet();
            // Mostly owned again at once: most of the ABI needs an owner.
            if (fz.chance(70))
                ioctl(slots[s], VHOST_SET_OWNER);
            alarm(0);
            fz.count("reopen", {});
        } else if (op < 880) {
            kind = "dup";
            // Two slots share one file: closing one of them must not free the device.
            int other = static_cast<int>(fz.below(kSlots));
            if (other != s) {
                describe("dup(fd {}) over fd {}", fd, slots[other]);
                alarm(kCallTimeout);
                close(slots[other]);
                slots[other] = SYS(fcntl(fd, F_DUPFD_CLOEXEC, 0));
                alarm(0);
                fz.count(kind, {});
            }
        } else if (op < 900) {
            kind = "randomize";
            fz.randomize_area();
        } else if (op < 925) {
            kind = "prime";
            fz.prime(fd);
            fz.count(kind, {});
        } else if (op < 945) {
            kind = "kick";
            describe("kick");
            uint64_t one = 1;
            ssize_t w = write(pool.eventfd, &one, sizeof one);
            (void)w;
        } else if (op < 955) {
            kind = "owner-exit";
            uint64_t child_seed = fz.rnd();
            describe("owner exiting mid-call (seed {:#x})", child_seed);
            in_child(done, "owner-exit",
                     [&] { owner_exits_mid_call(child_seed, area, pool, slots); });
            fz.count(kind, {});
        } else if (op < 970) {
            kind = "child";
            // A forked child: another mm. It sometimes becomes the owner and then exits.
            uint64_t child_seed = fz.rnd();
            describe("fork child (seed {:#x})", child_seed);
            in_child(done, "child", [&] {
                Fuzzer cf(child_seed, area, pool, slots);
                int n = static_cast<int>(cf.below(12));
                for (int k = 0; k < n; k++) {
                    int cfd = cf.slot_fd();
                    if (cf.chance(3))
                        ioctl(cfd, VHOST_SET_OWNER);
                    else
                        cf.random_ioctl(cfd);
                }
            });
            fz.count(kind, {});
        } else {
            kind = "threads";
            // More threads of the owner race the first: on the same files, or half the time
            // all on one.
            const auto n = 1 + fz.below(3);
            const int one = fz.chance(50) ? fz.slot_fd() : -1;
            std::vector<uint64_t> seeds;
            for (unsigned k = 0; k < n; k++)
                seeds.push_back(fz.rnd());
            std::vector<unsigned long> thread_calls(n);
            describe("{} threads (seed {:#x}{})", n + 1, seeds[0], one >= 0 ? ", one fd" : "");
            alarm(kCallTimeout * 4);
            std::vector<std::thread> threads;
            for (unsigned k = 0; k < n; k++)
                threads.emplace_back([&, k] {
                    Fuzzer tf(seeds[k], area, pool, slots);
                    tf.alarms = false;
                    for (int c = 0; c < 20; c++)
                        tf.random_ioctl(one >= 0 ? one : tf.slot_fd());
                    thread_calls[k] = tf.syscalls;
                });
            fz.alarms = false;
            for (int k = 0; k < 20; k++)
                fz.random_ioctl(one >= 0 ? one : fz.slot_fd());
            for (auto &t : threads)
                t.join();
            fz.alarms = true;
            for (auto c : thread_calls)
                fz.syscalls += c;
            alarm(0);
            fz.count(n == 1 ? "threads-2" : n == 2 ? "threads-3" : "threads-4", {});
        }
        auto &[n, ns] = cost[kind];
        n++;
        ns += static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now() - t0)
                                        .count());
    }
    const auto secs =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start)
            .count();
    note("process {}: {} operations ({} ioctl/read/write/poll calls in this process, besides "
         "those of the set-ups and the children) in {} s, {:.0f} operations/s (seed {:#x})",
         proc, done, fz.syscalls, secs,
         static_cast<double>(done) / std::max<double>(1, static_cast<double>(secs)), seed);
    if (proc == 0) {
        for (const auto &[what, n] : fz.stats)
            note("  {:>6} {}", n, what);
        for (const auto &[what, c] : cost)
            note("  time: {:>12} {:>8} operations, {:>6.1f} s, {:>8.0f} us each", what, c.first,
                 static_cast<double>(c.second) / 1e9,
                 static_cast<double>(c.second) / 1e3 / static_cast<double>(std::max(1UL, c.first)));
    }

    describe("closing every file");
    alarm(60);
    for (int s : slots)
        close(s);
    pool.close_all();
    alarm(0);
    return done;
}

void fuzz_random_calls() {
    const uint64_t seed = env_u64("VHNET_FUZZ_SEED", kDefaultSeed);
    const unsigned long calls = env_u64("FUZZ_OPS", kDefaultOps);
    const uint64_t budget = fuzz_budget();
    // FUZZ_PROCS processes share the operations (make test-debug: one per CPU), each with its
    // own files, seed and tap; they race only through the module.
    const int procs = static_cast<int>(std::clamp<uint64_t>(env_u64("FUZZ_PROCS", 1), 1, 8));
    const unsigned long share = calls / static_cast<unsigned long>(procs);
    note("seed {:#x}, {} operations in {} process(es) on {} files each of {} within {} s", seed,
         calls, procs, kSlots, kVhnet, budget);
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    std::vector<pid_t> workers;
    for (int p = 1; p < procs; p++) {
        const pid_t pid = fork();
        if (pid < 0)
            fail(fmt::format("fork: {}", errname(errno)));
        if (pid == 0) {
            try {
                fuzz_loop(seed + static_cast<uint64_t>(p), share, budget, p);
            } catch (const Failure &f) {
                note("process {}: {}", p, f.message);
                std::fflush(stdout);
                _exit(1);
            }
            std::fflush(stdout);
            _exit(0);
        }
        workers.push_back(pid);
    }
    unsigned long done = fuzz_loop(seed, calls - share * workers.size(), budget, 0);
    for (size_t k = 0; k < workers.size(); k++) {
        int status = 0;
        while (waitpid(workers[k], &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail(fmt::format("fuzzing process {} ended with status {:#x}", k + 1, status));
        done += share;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    note("{} operations in all in {:.0f} s: {:.0f} operations/s", done, secs,
         static_cast<double>(done) / secs);

    // Everything closes, nothing is left behind, the module unloads and loads again.
    signal(SIGALRM, SIG_DFL);
    alarm(120);
    if (!wait_for([] { return vhnet_instances() == 0; }, 5000))
        fail(fmt::format("{} vhnet instances left after closing every file", vhnet_instances()));
    EXPECT(vhnet_folders().empty());

    long r = -1;
    int err = 0;
    wait_for(
        [&] {
            errno = 0;
            r = syscall(SYS_delete_module, "vhnet", O_NONBLOCK);
            err = errno;
            return r == 0;
        },
        5000);
    if (r != 0)
        fail(fmt::format("delete_module(vhnet): {}", errname(err)));
    EXPECT(wait_for([] { return !exists(kVhnet); }, 2000));
    const char *ko = std::getenv("VHNET_KO");
    int kfd = SYS(open(ko ? ko : "/vm/vhnet.ko", O_RDONLY | O_CLOEXEC));
    r = syscall(SYS_finit_module, kfd, "", 0);
    err = errno;
    close(kfd);
    if (r != 0)
        fail(fmt::format("finit_module: {}", errname(err)));
    EXPECT(wait_for([] { return exists(kVhnet); }, 2000));
    close(open_dev(kVhnet));
    EXPECT_EQ(vhnet_instances(), 0);
}

// fuzz/differential: the same random single-threaded sequences on /dev/vhnet and on
// /dev/vhost-net, each from the same memory contents and the same fd numbers, must get the same
// answer (success or the same errno) call by call. FUZZ_DIFF_SEQS sequences (300; 3000 in make
// test-debug) of 40 calls: random ioctls with random and boundary arguments, SET_OWNER,
// RESET_OWNER and close/reopen. Only the outcome is compared: the worker may read a random ring
// at its own pace, and what it writes is not an answer.
struct DiffCall {
    std::string what;
    Outcome o;
};

// One sequence on `dev`; with `stats`, the outcomes by call kind are added to it.
std::vector<DiffCall> diff_sequence(const char *dev, uint64_t seed, uint8_t *area, const Pool &pool,
                                    std::map<std::string, unsigned long> *stats = nullptr) {
    std::mt19937_64 fill(seed ^ 0x5a5a5a5aULL);
    for (size_t i = 0; i < kArea; i += 8) {
        uint64_t v = fill();
        std::memcpy(area + i, &v, 8);
    }
    int slots[kSlots];
    for (int &s : slots) {
        s = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (s < 0)
            fail(fmt::format("open {}: {}", dev, errname(errno)));
    }
    Fuzzer fz(seed, area, pool, slots);
    std::vector<DiffCall> out;
    // Most of the ABI wants an owner, and much of it a configured device: most files start
    // owned, some set up with rings, memory and a backend (not compared: a set-up that parts
    // shows in the calls after it).
    for (int fd : slots) {
        if (!fz.chance(75))
            continue;
        describe("SET_OWNER(fd {})", fd);
        out.push_back({g_call, ioctl_outcome(fd, VHOST_SET_OWNER, 0UL)});
        if (fz.chance(40))
            fz.prime(fd);
    }
    for (int k = 0; k < 40; k++) {
        const unsigned op = static_cast<unsigned>(fz.below(100));
        const int s = static_cast<int>(fz.below(kSlots));
        Outcome o;
        if (op < 85) {
            o = fz.random_ioctl(slots[s]);
        } else if (op < 91) {
            describe("SET_OWNER(fd {})", slots[s]);
            o = ioctl_outcome(slots[s], VHOST_SET_OWNER, 0UL);
        } else if (op < 95) {
            describe("RESET_OWNER(fd {})", slots[s]);
            o = ioctl_outcome(slots[s], VHOST_RESET_OWNER, 0UL);
        } else {
            describe("close+open(fd {})", slots[s]);
            close(slots[s]);
            slots[s] = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
            o = {slots[s] < 0 ? -1 : 0, slots[s] < 0 ? errno : 0};
        }
        // success is success, whatever the count a read, write or poll returned
        out.push_back({g_call, {o.ret < 0 ? -1 : 0, o.err}});
        if (stats) {
            // "ioctl 0xREQUEST", or the call's name
            const std::string what = g_call;
            const auto comma = what.find(", ");
            const auto kind =
                what.starts_with("ioctl(")
                    ? "ioctl " + what.substr(comma + 2, what.find(',', comma + 2) - comma - 2)
                    : what.substr(0, what.find('('));
            const char *e = o.err ? strerrorname_np(o.err) : "ok";
            (*stats)[fmt::format("{} {}", kind, e ? e : std::to_string(o.err))]++;
        }
    }
    for (int fd : slots)
        close(fd);
    return out;
}

void fuzz_differential() {
    const uint64_t seed = env_u64("VHNET_FUZZ_SEED", kDefaultSeed) ^ 0xd1ffULL;
    const unsigned long seqs = env_u64("FUZZ_DIFF_SEQS", 300);
    note("seed {:#x}, {} sequences of 40 calls on {} and on {}", seed, seqs, kVhnet, kVhostNet);
    std::fflush(stdout);
    install_alarm();
    uint8_t *area = map_area();
    Pool pool = make_pool();

    std::mt19937_64 seeds(seed);
    unsigned long calls = 0, mismatches = 0;
    std::map<std::string, std::string> first;      // call kind -> first mismatch
    std::map<std::string, unsigned long> outcomes; // vhnet's, by call kind
    const auto start = std::chrono::steady_clock::now();
    for (unsigned long q = 0; q < seqs; q++) {
        const uint64_t sq = seeds();
        const auto a = diff_sequence(kVhnet, sq, area, pool, &outcomes);
        const auto b = diff_sequence(kVhostNet, sq, area, pool);
        for (size_t k = 0; k < a.size(); k++) {
            calls++;
            if (a[k].o == b[k].o)
                continue;
            mismatches++;
            // one line per ioctl number (the text up to its argument)
            const auto req = a[k].what.substr(0, a[k].what.rfind(','));
            first.try_emplace(req,
                              fmt::format("sequence {:#x} call {}: {}: vhnet {}, vhost-net {}", sq,
                                          k, a[k].what, to_string(a[k].o), to_string(b[k].o)));
            break; // the states have parted: the rest of the sequence proves nothing
        }
    }
    const auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
    note("{} calls compared in {:.0f} s ({:.0f} calls/s on each device), {} sequences parted",
         calls, secs.count(), static_cast<double>(calls) / secs.count(), mismatches);
    int shown = 0;
    for (const auto &[req, line] : first)
        if (shown++ < 20)
            note("  {}", line);
    for (const auto &[what, n] : outcomes)
        note("  {:>6} {}", n, what);
    EXPECT_EQ(mismatches, 0UL);
    pool.close_all();
}

uint64_t diff_budget() {
    // about 0.3 s a sequence pair under TCG, several times that on the debug kernel: 1.5 s
    return env_u64("FUZZ_DIFF_SEQS", 300) * 3 / 2 + 120;
}

const bool diff_reg =
    (add_test("fuzz", "differential", fuzz_differential, static_cast<unsigned>(diff_budget())),
     true);

// The test's own limit: its budget, the close and the module reload.
const bool fuzz_reg = (add_test("fuzz", "random_calls", fuzz_random_calls,
                                static_cast<unsigned>(fuzz_budget() + 100)),
                       true);

} // namespace
