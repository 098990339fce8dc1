// SPDX-License-Identifier: GPL-2.0
// Suite "abi": the differential ABI table. Every case sets a device up, makes one last call and
// reports its outcome (return value and errno) plus, where the call returns data, what it
// returned. Each case runs on a fresh /dev/vhnet and on a fresh /dev/vhost-net, each in a process
// of its own; the two answers must be equal, and vhost-net's must be the one the table expects
// (the expectations come from vhost-net's 6.1 source, drivers/vhost/net.c and vhost.c). A case
// that vhost-net answers differently from the table means the table is wrong, and says so.
// One test per case, named after it: make vm SUITE=abi FILTER='abi/backend-*'.
//
// A case with a deliberate_difference checks vhost-net against the table, vhnet against its own
// expected errno (vhnet_want), and prints a note naming the difference.
//
// Conventions: "owned" = SET_OWNER done, "ready" = owned + a 1 MiB anonymous RW area mapped at
// gpa == its address as the only memory region + both rings (num 256, desc/avail/used at
// area+0x10000*vq +0/+0x1000/+0x2000). The generic backend is socket(AF_PACKET, SOCK_RAW, 0),
// attached to vq 0 (RX: it never receives anything, so the worker stays idle).
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <csignal>
#include <cstring>
#include <initializer_list>
#include <set>
#include <thread>
#include <vector>

#include "util.h"

using namespace vmtest;

namespace {

// ---------------------------------------------------------------------------------------------
// Constants of the reference (vhost-net 6.1, Debian config).

constexpr uint64_t kNetFeatures = 0x33D008000ULL;
constexpr uint64_t kBit = 1;
constexpr uint64_t kKernelAddr = 0xffff888000000000ULL;
// A dirty-log base 8 KiB below the top of the user range with 5-level paging (LA57, which the
// test VM's "-cpu max" has: TASK_SIZE_MAX = 2^56 - 4096), and so above it with 4-level paging
// (2^47 - 4096). access_ok() is a range check only, so this is what decides.
constexpr uint64_t kLogBaseNearTop = (uint64_t{1} << 56) - 0x2000;
constexpr size_t kPage = 4096;
constexpr size_t kArea = size_t{1} << 20;
constexpr uint32_t kNum = 256;
constexpr int kClosedFd = 999; // never open in a case process
constexpr unsigned kCaseTimeout = 20;

const unsigned long kUnknown = _IO(VHOST_VIRTIO, 0x7f);
// Later kernels' worker ioctls: unknown to vhost-net 6.1 (and to vhost-net in 6.12 as well).
constexpr unsigned long kNewWorker = 0x8004af08UL;
constexpr unsigned long kFreeWorker = 0x4004af09UL;
// Known numbers with a different size or direction: unknown ioctls.
const unsigned long kVringNumSize4 = _IOW(VHOST_VIRTIO, 0x10, uint32_t);
const unsigned long kGetFeaturesSize4 = _IOR(VHOST_VIRTIO, 0x00, uint32_t);
const unsigned long kSetOwnerWithArg = _IOW(VHOST_VIRTIO, 0x01, int);
const unsigned long kVsockSetGuestCid = _IOW(VHOST_VIRTIO, 0x60, uint64_t);

// IOTLB messages (uapi vhost_types.h).
constexpr uint32_t kMsgV1 = VHOST_IOTLB_MSG, kMsgV2 = VHOST_IOTLB_MSG_V2;
constexpr uint8_t kMiss = VHOST_IOTLB_MISS, kUpdate = VHOST_IOTLB_UPDATE,
                  kInvalidate = VHOST_IOTLB_INVALIDATE;

// ---------------------------------------------------------------------------------------------
// What one case observes.

struct Obs {
    Outcome o;
    std::string extra; // further observed values, compared verbatim
    Obs(Outcome oc, std::string e = {}) : o(oc), extra(std::move(e)) {}
};

// A setup step that failed: the case's answer is that step's outcome.
struct SetupFailed {
    std::string step;
    Outcome o;
};

using CaseFn = Obs (*)(const char *dev);

struct Case {
    const char *name;
    CaseFn fn;
    int want;                         // errno vhost-net gives for the final call (0: success)
    const char *want_extra = nullptr; // what vhost-net's extra must be, if not null
    // A difference from vhost-net, named; then vhnet must answer vhnet_want (errno, 0: success).
    const char *deliberate_difference = nullptr;
    int vhnet_want = 0;
};

// Set in the case process: which device ('a' vhnet, 'b' vhost-net) and which case, for names.
char g_letter = '?';
size_t g_case = 0;

std::string en(int err) {
    const char *n = strerrorname_np(err);
    return n ? n : std::to_string(err);
}
// "0", "72" or "EPERM": a short form for extras.
std::string en(const Outcome &o) {
    return o.err ? en(o.err) : std::to_string(o.ret);
}

std::string show(const Obs &b) {
    return to_string(b.o) + (b.extra.empty() ? "" : " [" + b.extra + "]");
}

void step(const char *what, Outcome o) {
    if (o.err)
        throw SetupFailed{what, o};
}

Outcome sys_outcome(long r) {
    return {r, r < 0 ? errno : 0};
}

uint64_t u(const void *p) {
    return reinterpret_cast<uintptr_t>(p);
}

// ---------------------------------------------------------------------------------------------
// Building blocks of the cases.

int owned(const char *dev) {
    int fd = open_dev(dev);
    step("SET_OWNER", ioctl_outcome(fd, VHOST_SET_OWNER, 0UL));
    return fd;
}

uint8_t *map(size_t size, int prot = PROT_READ | PROT_WRITE) {
    void *p = mmap(nullptr, size, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        fail(fmt::format("mmap {}: {}", size, errname(errno)));
    return static_cast<uint8_t *>(p);
}

// n readable (and writable) bytes followed by an unmapped page, for partial arguments.
uint8_t *tail(size_t n) {
    uint8_t *p = map(2 * kPage);
    SYS(munmap(p + kPage, kPage));
    return p + kPage - n;
}

// A page that can be read (zeros) but not written.
uint8_t *read_only_page() {
    return map(kPage, PROT_READ);
}

struct MemTable {
    uint32_t nregions = 0;
    uint32_t padding = 0;
    vhost_memory_region regions[66] = {};
};

vhost_memory_region region(uint64_t gpa, uint64_t size, uint64_t uaddr, uint64_t flags = 0) {
    vhost_memory_region r{};
    r.guest_phys_addr = gpa;
    r.memory_size = size;
    r.userspace_addr = uaddr;
    r.flags_padding = flags;
    return r;
}

Outcome set_mem(int fd, std::initializer_list<vhost_memory_region> rs, uint32_t padding = 0) {
    MemTable m;
    for (const auto &r : rs)
        m.regions[m.nregions++] = r;
    m.padding = padding;
    return ioctl_outcome(fd, VHOST_SET_MEM_TABLE, &m);
}

Outcome mem_n(int fd, uint32_t n, uint32_t padding = 0) {
    MemTable m;
    m.nregions = n;
    m.padding = padding;
    for (uint32_t i = 0; i < std::min<uint32_t>(n, 66); i++)
        m.regions[i] = region(uint64_t{i} << 20, kPage, 0x10000000 + (uint64_t{i} << 20));
    return ioctl_outcome(fd, VHOST_SET_MEM_TABLE, &m);
}

void mem0(int fd) {
    step("SET_MEM_TABLE (0 regions)", set_mem(fd, {}));
}

void mem_area(int fd, uint8_t *a) {
    step("SET_MEM_TABLE (area)", set_mem(fd, {region(u(a), kArea, u(a))}));
}

Outcome vstate(int fd, unsigned long req, uint32_t idx, uint32_t num) {
    vhost_vring_state s{idx, num};
    return ioctl_outcome(fd, req, &s);
}

Outcome vfile(int fd, unsigned long req, uint32_t idx, int f) {
    vhost_vring_file v{idx, f};
    return ioctl_outcome(fd, req, &v);
}

Outcome vaddr(int fd, uint32_t idx, uint32_t flags, uint64_t desc, uint64_t avail, uint64_t used,
              uint64_t log = 0) {
    vhost_vring_addr a{};
    a.index = idx;
    a.flags = flags;
    a.desc_user_addr = desc;
    a.avail_user_addr = avail;
    a.used_user_addr = used;
    a.log_guest_addr = log;
    return ioctl_outcome(fd, VHOST_SET_VRING_ADDR, &a);
}

uint64_t desc_of(uint8_t *a, uint32_t idx) {
    return u(a) + 0x10000 * uint64_t{idx};
}
uint64_t avail_of(uint8_t *a, uint32_t idx) {
    return desc_of(a, idx) + 0x1000;
}
uint64_t used_of(uint8_t *a, uint32_t idx) {
    return desc_of(a, idx) + 0x2000;
}

Outcome ring_addr(int fd, uint8_t *a, uint32_t idx, uint32_t flags = 0, uint64_t log = 0) {
    return vaddr(fd, idx, flags, desc_of(a, idx), avail_of(a, idx), used_of(a, idx), log);
}

void rings(int fd, uint8_t *a, uint32_t idx) {
    step("SET_VRING_NUM", vstate(fd, VHOST_SET_VRING_NUM, idx, kNum));
    step("SET_VRING_ADDR", ring_addr(fd, a, idx));
}

// Owner, the area as the memory table, both rings in it. Returns the area.
uint8_t *ready(int fd) {
    step("SET_OWNER", ioctl_outcome(fd, VHOST_SET_OWNER, 0UL));
    uint8_t *a = map(kArea);
    mem_area(fd, a);
    rings(fd, a, 0);
    rings(fd, a, 1);
    return a;
}

Outcome backend(int fd, uint32_t idx, int sock) {
    return vfile(fd, VHOST_NET_SET_BACKEND, idx, sock);
}
void attach(int fd, uint32_t idx, int sock) {
    step("NET_SET_BACKEND", backend(fd, idx, sock));
}

int packet_raw() {
    return SYS(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
}
int evfd() {
    return SYS(eventfd(0, EFD_CLOEXEC));
}
int pipe_fd() {
    int p[2];
    SYS(pipe2(p, O_CLOEXEC));
    return p[0];
}

struct Tap {
    int fd;
    std::string name;
};

// A tap with a name unique to this case and device: abi-<a|b><case>-<n>.
Tap tap(int n = 0) {
    Tap t{SYS(open("/dev/net/tun", O_RDWR | O_CLOEXEC)),
          fmt::format("abi-{}{}-{}", g_letter, g_case, n)};
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", t.name.c_str());
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    SYS(ioctl(t.fd, TUNSETIFF, &ifr));
    return t;
}

void link_up(const std::string &name) {
    int s = SYS(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name.c_str());
    SYS(ioctl(s, SIOCGIFFLAGS, &ifr));
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    SYS(ioctl(s, SIOCSIFFLAGS, &ifr));
    close(s);
}

// Runs fn in a forked child (its own mm: not the owner) and returns fn's outcome.
Outcome child(const std::function<Outcome()> &fn) {
    const auto r = reply_from_child(kCaseTimeout, [&fn] {
        Outcome o{-1, 255};
        try {
            o = fn();
        } catch (const SetupFailed &s) {
            o = s.o;
        } catch (...) {
        }
        return std::string(reinterpret_cast<const char *>(&o), sizeof o);
    });
    if (r.reply.size() != sizeof(Outcome))
        fail(fmt::format("child died without an answer (status {:#x})", r.status));
    Outcome o;
    std::memcpy(&o, r.reply.data(), sizeof o);
    return o;
}

// GET_VRING_BASE / GET_VRING_BUSYLOOP_TIMEOUT: the outcome and what came back.
Obs get_state(int fd, unsigned long req, uint32_t idx) {
    vhost_vring_state s{idx, 0xdeadbeef};
    Outcome o = ioctl_outcome(fd, req, &s);
    return {o, fmt::format("index {} num {:#x}", s.index, s.num)};
}

// An IOTLB message of 72 bytes (v1 and v2 have the same layout apart from v2's asid).
struct Msg {
    vhost_msg_v2 m{};
    Msg(uint32_t type, uint8_t msgtype, uint64_t iova, uint64_t size, uint64_t uaddr,
        uint8_t perm) {
        m.type = type;
        m.iotlb.iova = iova;
        m.iotlb.size = size;
        m.iotlb.uaddr = uaddr;
        m.iotlb.perm = perm;
        m.iotlb.type = msgtype;
    }
};
static_assert(sizeof(vhost_msg_v2) == 72 && sizeof(vhost_msg) == 72);

Obs write_msg(int fd, const Msg &msg, size_t len = sizeof(vhost_msg_v2)) {
    Outcome o = sys_outcome(write(fd, &msg.m, len));
    return {o, o.err ? "" : fmt::format("ret {}", o.ret)};
}

Obs read_n(int fd, size_t n) {
    std::array<uint8_t, 256> buf{};
    Outcome o = sys_outcome(read(fd, buf.data(), n));
    return {o, o.err ? "" : fmt::format("ret {}", o.ret)};
}

void set_nonblock(int fd) {
    SYS(fcntl(fd, F_SETFL, O_NONBLOCK));
}

// SET_FEATURES with VIRTIO_F_ACCESS_PLATFORM: the device gets an (empty) IOTLB.
int with_iotlb(const char *dev) {
    int fd = owned(dev);
    uint64_t f = kBit << 33 | kBit << 32;
    step("SET_FEATURES (ACCESS_PLATFORM)", ioctl_outcome(fd, VHOST_SET_FEATURES, &f));
    return fd;
}

Outcome set_features(int fd, uint64_t f) {
    return ioctl_outcome(fd, VHOST_SET_FEATURES, &f);
}
Outcome set_backend_features(int fd, uint64_t f) {
    return ioctl_outcome(fd, VHOST_SET_BACKEND_FEATURES, &f);
}
Outcome unknown(int fd, unsigned long req, uint32_t word) {
    return ioctl_outcome(fd, req, &word);
}

volatile sig_atomic_t g_alarms = 0;
void on_alarm(int) {
    g_alarms = g_alarms + 1;
}

// The vring file ioctls (KICK, CALL, ERR) share these cases; one table row each.
template <unsigned long R>
Obs vf_minus_1(const char *d) {
    return vfile(owned(d), R, 0, -1);
}
template <unsigned long R>
Obs vf_eventfd(const char *d) {
    return vfile(owned(d), R, 0, evfd());
}
template <unsigned long R>
Obs vf_same_eventfd_twice(const char *d) {
    int fd = owned(d), e = evfd();
    step("first", vfile(fd, R, 1, e));
    return vfile(fd, R, 1, e);
}
template <unsigned long R>
Obs vf_closed_fd(const char *d) {
    return vfile(owned(d), R, 0, kClosedFd);
}
template <unsigned long R>
Obs vf_pipe(const char *d) {
    return vfile(owned(d), R, 0, pipe_fd());
}
template <unsigned long R>
Obs vf_null(const char *d) {
    return ioctl_outcome(owned(d), R, 0UL);
}
template <unsigned long R>
Obs vf_index_2(const char *d) {
    return vfile(owned(d), R, 2, evfd());
}
template <unsigned long R>
Obs vf_while_attached(const char *d) {
    int fd = open_dev(d);
    ready(fd);
    attach(fd, 0, packet_raw());
    return vfile(fd, R, 0, evfd());
}

// ---------------------------------------------------------------------------------------------
// The table.

const Case kCases[] = {
    // --- GET/SET_FEATURES: no owner needed, constant answer, unknown bits refused.
    {"get-features",
     [](const char *d) -> Obs {
         uint64_t f = 0;
         Outcome o = ioctl_outcome(open_dev(d), VHOST_GET_FEATURES, &f);
         return {o, fmt::format("features {:#x}", f)};
     },
     0, "features 0x33d008000"},
    {"get-features-null",
     [](const char *d) -> Obs { return ioctl_outcome(open_dev(d), VHOST_GET_FEATURES, 0UL); },
     EFAULT},
    {"get-features-read-only-buffer",
     [](const char *d) -> Obs {
         return ioctl_outcome(open_dev(d), VHOST_GET_FEATURES, read_only_page());
     },
     EFAULT},
    {"get-features-after-set-is-constant",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         step("SET_FEATURES", set_features(fd, 0));
         uint64_t f = 0;
         Outcome o = ioctl_outcome(fd, VHOST_GET_FEATURES, &f);
         return {o, fmt::format("features {:#x}", f)};
     },
     0, "features 0x33d008000"},
    {"set-features-all-before-owner",
     [](const char *d) -> Obs { return set_features(open_dev(d), kNetFeatures); }, 0},
    {"set-features-zero", [](const char *d) -> Obs { return set_features(owned(d), 0); }, 0},
    {"set-features-packed-bit-34",
     [](const char *d) -> Obs { return set_features(owned(d), kBit << 34); }, EOPNOTSUPP},
    {"set-features-in-order-bit-35",
     [](const char *d) -> Obs { return set_features(owned(d), kBit << 35 | kBit << 32); },
     EOPNOTSUPP},
    {"set-features-ring-reset-bit-40",
     [](const char *d) -> Obs { return set_features(owned(d), kBit << 40); }, EOPNOTSUPP},
    {"set-features-bit-63-before-owner",
     [](const char *d) -> Obs { return set_features(open_dev(d), kBit << 63); }, EOPNOTSUPP},
    {"set-features-null-before-owner",
     [](const char *d) -> Obs { return ioctl_outcome(open_dev(d), VHOST_SET_FEATURES, 0UL); },
     EFAULT},
    {"set-features-null",
     [](const char *d) -> Obs { return ioctl_outcome(owned(d), VHOST_SET_FEATURES, 0UL); },
     EFAULT},
    {"set-features-from-non-owner-child",
     [](const char *d) -> Obs {
         int fd = owned(d);
         return child([fd] { return set_features(fd, kBit << 32); });
     },
     0},
    {"set-features-while-attached",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         return set_features(fd, kBit << 32 | kBit << 15);
     },
     0},
    {"set-features-log-all-without-backend",
     [](const char *d) -> Obs { return set_features(owned(d), kBit << 26 | kBit << 32); }, 0},
    // LOG_ALL with a backend attached checks the dirty log covers every region: a 1 GiB region
    // at gpa 0 needs 32 KiB of bitmap, which does not fit below the top of the user range (with
    // 4-level and with 5-level paging).
    {"set-features-log-all-log-base-out-of-range-with-backend",
     [](const char *d) -> Obs {
         int fd = owned(d);
         uint8_t *a = map(kArea);
         step("SET_MEM_TABLE", set_mem(fd, {region(0, 1 << 30, 0x10000000)}));
         rings(fd, a, 0);
         attach(fd, 0, packet_raw());
         uint64_t base = kLogBaseNearTop;
         step("SET_LOG_BASE", ioctl_outcome(fd, VHOST_SET_LOG_BASE, &base));
         return set_features(fd, kBit << 26 | kBit << 32);
     },
     EFAULT},
    {"set-features-access-platform",
     [](const char *d) -> Obs { return set_features(owned(d), kBit << 33 | kBit << 32); }, 0},

    // --- GET/SET_BACKEND_FEATURES: only IOTLB_MSG_V2 (bit 1).
    {"get-backend-features",
     [](const char *d) -> Obs {
         uint64_t f = 0;
         Outcome o = ioctl_outcome(open_dev(d), VHOST_GET_BACKEND_FEATURES, &f);
         return {o, fmt::format("backend-features {:#x}", f)};
     },
     0, "backend-features 0x2"},
    {"get-backend-features-null",
     [](const char *d) -> Obs {
         return ioctl_outcome(open_dev(d), VHOST_GET_BACKEND_FEATURES, 0UL);
     },
     EFAULT},
    {"get-backend-features-after-set-0",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         step("SET_BACKEND_FEATURES", set_backend_features(fd, 0));
         uint64_t f = 0;
         Outcome o = ioctl_outcome(fd, VHOST_GET_BACKEND_FEATURES, &f);
         return {o, fmt::format("backend-features {:#x}", f)};
     },
     0, "backend-features 0x2"},
    {"set-backend-features-0x2-before-owner",
     [](const char *d) -> Obs { return set_backend_features(open_dev(d), 0x2); }, 0},
    {"set-backend-features-0",
     [](const char *d) -> Obs { return set_backend_features(owned(d), 0); }, 0},
    {"set-backend-features-0x1",
     [](const char *d) -> Obs { return set_backend_features(owned(d), 0x1); }, EOPNOTSUPP},
    {"set-backend-features-0x8-asid",
     [](const char *d) -> Obs { return set_backend_features(open_dev(d), 0x8); }, EOPNOTSUPP},
    {"set-backend-features-0x3",
     [](const char *d) -> Obs { return set_backend_features(owned(d), 0x3); }, EOPNOTSUPP},
    {"set-backend-features-null",
     [](const char *d) -> Obs {
         return ioctl_outcome(open_dev(d), VHOST_SET_BACKEND_FEATURES, 0UL);
     },
     EFAULT},
    {"set-backend-features-from-non-owner-child",
     [](const char *d) -> Obs {
         int fd = owned(d);
         return child([fd] { return set_backend_features(fd, 0x2); });
     },
     0},

    // --- SET_OWNER / RESET_OWNER in every state.
    {"set-owner-fresh",
     [](const char *d) -> Obs { return ioctl_outcome(open_dev(d), VHOST_SET_OWNER, 0UL); }, 0},
    {"set-owner-ignores-argument",
     [](const char *d) -> Obs { return ioctl_outcome(open_dev(d), VHOST_SET_OWNER, 1UL); }, 0},
    {"set-owner-twice",
     [](const char *d) -> Obs { return ioctl_outcome(owned(d), VHOST_SET_OWNER, 0UL); }, EBUSY},
    {"set-owner-from-child-while-owned",
     [](const char *d) -> Obs {
         int fd = owned(d);
         return child([fd] { return ioctl_outcome(fd, VHOST_SET_OWNER, 0UL); });
     },
     EBUSY},
    {"set-owner-from-child-of-fresh",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         return child([fd] { return ioctl_outcome(fd, VHOST_SET_OWNER, 0UL); });
     },
     0},
    {"set-owner-from-thread-of-owner",
     [](const char *d) -> Obs {
         int fd = owned(d);
         Outcome o;
         std::thread([&] { o = ioctl_outcome(fd, VHOST_SET_OWNER, 0UL); }).join();
         return o;
     },
     EBUSY},
    {"reset-owner-fresh",
     [](const char *d) -> Obs { return ioctl_outcome(open_dev(d), VHOST_RESET_OWNER, 0UL); },
     EPERM},
    {"reset-owner-from-child",
     [](const char *d) -> Obs {
         int fd = owned(d);
         return child([fd] { return ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL); });
     },
     EPERM},
    {"reset-owner-owned",
     [](const char *d) -> Obs { return ioctl_outcome(owned(d), VHOST_RESET_OWNER, 0UL); }, 0},
    {"reset-owner-twice",
     [](const char *d) -> Obs {
         int fd = owned(d);
         step("RESET_OWNER", ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL));
         return ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL);
     },
     EPERM},
    {"reset-owner-then-set-owner",
     [](const char *d) -> Obs {
         int fd = owned(d);
         step("RESET_OWNER", ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL));
         return ioctl_outcome(fd, VHOST_SET_OWNER, 0UL);
     },
     0},
    {"reset-owner-then-set-owner-from-child",
     [](const char *d) -> Obs {
         int fd = owned(d);
         step("RESET_OWNER", ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL));
         return child([fd] { return ioctl_outcome(fd, VHOST_SET_OWNER, 0UL); });
     },
     0},
    {"reset-owner-with-backend",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         return ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL);
     },
     0},
    {"reset-owner-detaches-backend",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         step("RESET_OWNER", ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL));
         step("SET_OWNER", ioctl_outcome(fd, VHOST_SET_OWNER, 0UL));
         return vstate(fd, VHOST_SET_VRING_NUM, 0, kNum);
     },
     0},

    // --- SET_MEM_TABLE.
    {"mem-table-fresh-null",
     [](const char *d) -> Obs { return ioctl_outcome(open_dev(d), VHOST_SET_MEM_TABLE, 0UL); },
     EPERM},
    {"mem-table-null",
     [](const char *d) -> Obs { return ioctl_outcome(owned(d), VHOST_SET_MEM_TABLE, 0UL); },
     EFAULT},
    {"mem-table-from-child",
     [](const char *d) -> Obs {
         int fd = owned(d);
         return child([fd] { return set_mem(fd, {}); });
     },
     EPERM},
    {"mem-table-padding", [](const char *d) -> Obs { return mem_n(owned(d), 1, 1); },
     EOPNOTSUPP},
    {"mem-table-65-regions-and-padding",
     [](const char *d) -> Obs { return mem_n(owned(d), 65, 1); }, EOPNOTSUPP},
    {"mem-table-65-regions", [](const char *d) -> Obs { return mem_n(owned(d), 65); }, E2BIG},
    {"mem-table-0xffffffff-regions",
     [](const char *d) -> Obs { return mem_n(owned(d), 0xffffffff); }, E2BIG},
    {"mem-table-64-regions", [](const char *d) -> Obs { return mem_n(owned(d), 64); }, 0},
    {"mem-table-0-regions", [](const char *d) -> Obs { return set_mem(owned(d), {}); }, 0},
    {"mem-table-header-partly-unreadable",
     [](const char *d) -> Obs {
         uint8_t *p = tail(4);
         std::memset(p, 0, 4);
         return ioctl_outcome(owned(d), VHOST_SET_MEM_TABLE, p);
     },
     EFAULT},
    {"mem-table-regions-partly-unreadable",
     [](const char *d) -> Obs {
         // The header and region 0 are readable, region 1 is not.
         uint8_t *p = tail(8 + sizeof(vhost_memory_region));
         uint32_t hdr[2] = {2, 0};
         std::memcpy(p, hdr, sizeof hdr);
         vhost_memory_region r = region(0, kPage, 0x10000000);
         std::memcpy(p + 8, &r, sizeof r);
         return ioctl_outcome(owned(d), VHOST_SET_MEM_TABLE, p);
     },
     EFAULT},
    {"mem-table-size-0-at-gpa-0",
     [](const char *d) -> Obs { return set_mem(owned(d), {region(0, 0, 0x10000000)}); }, 0},
    {"mem-table-size-0-at-gpa-0x1000",
     [](const char *d) -> Obs { return set_mem(owned(d), {region(0x1000, 0, 0x10000000)}); },
     EFAULT},
    {"mem-table-wrapping-range",
     [](const char *d) -> Obs {
         return set_mem(owned(d), {region(0xfffffffffffff000, 0x2000, 0x10000000)});
     },
     EFAULT},
    {"mem-table-range-ending-at-2-pow-64",
     [](const char *d) -> Obs {
         return set_mem(owned(d), {region(0xfffffffffffff000, 0x1000, 0x10000000)});
     },
     0},
    {"mem-table-overlapping-regions",
     [](const char *d) -> Obs {
         return set_mem(owned(d), {region(0, 0x10000, 0x10000000),
                                   region(0x8000, 0x10000, 0x20000000)});
     },
     0},
    {"mem-table-duplicate-regions",
     [](const char *d) -> Obs {
         return set_mem(owned(d),
                        {region(0, 0x10000, 0x10000000), region(0, 0x10000, 0x10000000)});
     },
     0},
    {"mem-table-flags-padding",
     [](const char *d) -> Obs {
         return set_mem(owned(d), {region(0, 0x10000, 0x10000000, 0xffffffffffffffff)});
     },
     0},
    {"mem-table-unaligned-region",
     [](const char *d) -> Obs { return set_mem(owned(d), {region(0x123, 0x777, 0x10000555)}); },
     0},
    {"mem-table-kernel-uaddr-without-backend",
     [](const char *d) -> Obs { return set_mem(owned(d), {region(0, 0x1000, kKernelAddr)}); },
     0},
    {"mem-table-kernel-uaddr-with-backend",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         return set_mem(fd, {region(0, 0x1000, kKernelAddr)});
     },
     EFAULT},
    {"mem-table-while-attached",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         uint8_t *a = ready(fd);
         attach(fd, 0, packet_raw());
         return set_mem(fd, {region(u(a), kArea, u(a)), region(0, 0x1000, 0x10000000)});
     },
     0},

    // --- SET_LOG_BASE / SET_LOG_FD.
    {"log-base-fresh",
     [](const char *d) -> Obs { return ioctl_outcome(open_dev(d), VHOST_SET_LOG_BASE, 0UL); },
     EPERM},
    {"log-base-null",
     [](const char *d) -> Obs { return ioctl_outcome(owned(d), VHOST_SET_LOG_BASE, 0UL); },
     EFAULT},
    {"log-base-value",
     [](const char *d) -> Obs {
         uint64_t b = 0x1234;
         return ioctl_outcome(owned(d), VHOST_SET_LOG_BASE, &b);
     },
     0},
    {"log-base-kernel-address-without-backend",
     [](const char *d) -> Obs {
         uint64_t b = kKernelAddr;
         return ioctl_outcome(owned(d), VHOST_SET_LOG_BASE, &b);
     },
     0},
    {"log-base-kernel-address-with-backend-not-logging",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         uint64_t b = kKernelAddr;
         return ioctl_outcome(fd, VHOST_SET_LOG_BASE, &b);
     },
     0},
    {"log-base-kernel-address-with-backend-logging-used",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         uint8_t *a = ready(fd);
         attach(fd, 0, packet_raw());
         step("SET_VRING_ADDR (F_LOG)", ring_addr(fd, a, 0, 1, used_of(a, 0)));
         uint64_t b = kKernelAddr;
         return ioctl_outcome(fd, VHOST_SET_LOG_BASE, &b);
     },
     EFAULT},
    {"log-fd-fresh",
     [](const char *d) -> Obs {
         int f = -1;
         return ioctl_outcome(open_dev(d), VHOST_SET_LOG_FD, &f);
     },
     EPERM},
    {"log-fd-minus-1",
     [](const char *d) -> Obs {
         int f = -1;
         return ioctl_outcome(owned(d), VHOST_SET_LOG_FD, &f);
     },
     0},
    {"log-fd-eventfd",
     [](const char *d) -> Obs {
         int f = evfd();
         return ioctl_outcome(owned(d), VHOST_SET_LOG_FD, &f);
     },
     0},
    {"log-fd-closed",
     [](const char *d) -> Obs {
         int f = kClosedFd;
         return ioctl_outcome(owned(d), VHOST_SET_LOG_FD, &f);
     },
     EBADF},
    {"log-fd-minus-2",
     [](const char *d) -> Obs {
         int f = -2;
         return ioctl_outcome(owned(d), VHOST_SET_LOG_FD, &f);
     },
     EBADF},
    {"log-fd-pipe",
     [](const char *d) -> Obs {
         int f = pipe_fd();
         return ioctl_outcome(owned(d), VHOST_SET_LOG_FD, &f);
     },
     EINVAL},
    {"log-fd-null",
     [](const char *d) -> Obs { return ioctl_outcome(owned(d), VHOST_SET_LOG_FD, 0UL); },
     EFAULT},

    // --- The prologue every vring ioctl shares: owner, index readable, index < 2.
    {"vring-num-fresh-null",
     [](const char *d) -> Obs { return ioctl_outcome(open_dev(d), VHOST_SET_VRING_NUM, 0UL); },
     EPERM},
    {"vring-addr-fresh-null",
     [](const char *d) -> Obs {
         return ioctl_outcome(open_dev(d), VHOST_SET_VRING_ADDR, 0UL);
     },
     EPERM},
    {"vring-base-fresh",
     [](const char *d) -> Obs { return vstate(open_dev(d), VHOST_SET_VRING_BASE, 0, 0); },
     EPERM},
    {"get-vring-base-fresh",
     [](const char *d) -> Obs { return get_state(open_dev(d), VHOST_GET_VRING_BASE, 0).o; },
     EPERM},
    {"vring-kick-fresh",
     [](const char *d) -> Obs { return vfile(open_dev(d), VHOST_SET_VRING_KICK, 0, -1); },
     EPERM},
    {"vring-num-from-child",
     [](const char *d) -> Obs {
         int fd = owned(d);
         return child([fd] { return vstate(fd, VHOST_SET_VRING_NUM, 0, kNum); });
     },
     EPERM},
    {"vring-num-null",
     [](const char *d) -> Obs { return ioctl_outcome(owned(d), VHOST_SET_VRING_NUM, 0UL); },
     EFAULT},
    {"vring-addr-null",
     [](const char *d) -> Obs { return ioctl_outcome(owned(d), VHOST_SET_VRING_ADDR, 0UL); },
     EFAULT},
    {"vring-num-index-2",
     [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_NUM, 2, kNum); },
     ENOBUFS},
    {"vring-num-index-0xffffffff",
     [](const char *d) -> Obs {
         return vstate(owned(d), VHOST_SET_VRING_NUM, 0xffffffff, kNum);
     },
     ENOBUFS},
    {"vring-addr-index-2",
     [](const char *d) -> Obs { return vaddr(owned(d), 2, 0, 0, 0, 0); }, ENOBUFS},
    {"vring-base-index-2",
     [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_BASE, 2, 0); },
     ENOBUFS},
    {"get-vring-base-index-2",
     [](const char *d) -> Obs { return get_state(owned(d), VHOST_GET_VRING_BASE, 2).o; },
     ENOBUFS},

    // --- SET_VRING_NUM.
    {"vring-num-0", [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_NUM, 0, 0); },
     EINVAL},
    {"vring-num-1", [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_NUM, 0, 1); },
     0},
    {"vring-num-3", [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_NUM, 0, 3); },
     EINVAL},
    {"vring-num-256",
     [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_NUM, 0, 256); }, 0},
    {"vring-num-32768",
     [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_NUM, 0, 32768); }, 0},
    {"vring-num-65536",
     [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_NUM, 0, 65536); },
     EINVAL},
    {"vring-num-vq1-512",
     [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_NUM, 1, 512); }, 0},
    {"vring-num-only-index-readable",
     [](const char *d) -> Obs {
         uint8_t *p = tail(4);
         std::memset(p, 0, 4);
         return ioctl_outcome(owned(d), VHOST_SET_VRING_NUM, p);
     },
     EFAULT},
    {"vring-num-while-attached",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         return vstate(fd, VHOST_SET_VRING_NUM, 0, kNum);
     },
     EBUSY},
    {"vring-num-while-attached-only-index-readable",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         uint8_t *p = tail(4);
         std::memset(p, 0, 4);
         return ioctl_outcome(fd, VHOST_SET_VRING_NUM, p);
     },
     EBUSY},
    {"vring-num-other-vq-while-attached",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         return vstate(fd, VHOST_SET_VRING_NUM, 1, kNum);
     },
     0},
    {"vring-num-after-detach",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         step("detach", backend(fd, 0, -1));
         return vstate(fd, VHOST_SET_VRING_NUM, 0, kNum);
     },
     0},

    // --- SET_VRING_ADDR.
    {"vring-addr-flags-2",
     [](const char *d) -> Obs { return vaddr(owned(d), 0, 2, 0, 0, 0); }, EOPNOTSUPP},
    {"vring-addr-flags-2-and-odd-avail",
     [](const char *d) -> Obs { return vaddr(owned(d), 0, 2, 0, 0x1001, 0); }, EOPNOTSUPP},
    {"vring-addr-flag-log",
     [](const char *d) -> Obs {
         uint8_t *a = map(kArea);
         return ring_addr(owned(d), a, 0, 1, used_of(a, 0));
     },
     0},
    {"vring-addr-odd-avail",
     [](const char *d) -> Obs { return vaddr(owned(d), 0, 0, 0x10000, 0x11001, 0x12000); },
     EINVAL},
    {"vring-addr-used-2-aligned",
     [](const char *d) -> Obs { return vaddr(owned(d), 0, 0, 0x10000, 0x11000, 0x12002); },
     EINVAL},
    {"vring-addr-log-addr-2-aligned-without-flag",
     [](const char *d) -> Obs {
         return vaddr(owned(d), 0, 0, 0x10000, 0x11000, 0x12000, 0x2);
     },
     EINVAL},
    {"vring-addr-unaligned-desc",
     [](const char *d) -> Obs { return vaddr(owned(d), 0, 0, 0x10001, 0x11000, 0x12000); }, 0},
    {"vring-addr-all-zero", [](const char *d) -> Obs { return vaddr(owned(d), 1, 0, 0, 0, 0); },
     0},
    {"vring-addr-kernel-without-backend",
     [](const char *d) -> Obs {
         return vaddr(owned(d), 0, 0, kKernelAddr, kKernelAddr + 0x1000, kKernelAddr + 0x2000);
     },
     0},
    {"vring-addr-kernel-with-backend",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         return vaddr(fd, 0, 0, kKernelAddr, kKernelAddr + 0x1000, kKernelAddr + 0x2000);
     },
     EINVAL},
    {"vring-addr-while-attached",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         uint8_t *a = ready(fd);
         attach(fd, 0, packet_raw());
         return ring_addr(fd, a, 0);
     },
     0},
    {"vring-addr-log-out-of-range-with-backend",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         uint8_t *a = ready(fd);
         attach(fd, 0, packet_raw());
         // The bitmap byte for the used ring lies past the top of the user range.
         uint64_t base = kLogBaseNearTop;
         step("SET_LOG_BASE", ioctl_outcome(fd, VHOST_SET_LOG_BASE, &base));
         return ring_addr(fd, a, 0, 1, used_of(a, 0));
     },
     EINVAL},
    {"vring-addr-only-index-readable",
     [](const char *d) -> Obs {
         uint8_t *p = tail(4);
         std::memset(p, 0, 4);
         return ioctl_outcome(owned(d), VHOST_SET_VRING_ADDR, p);
     },
     EFAULT},

    // --- SET/GET_VRING_BASE.
    {"vring-base-0xffff",
     [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_BASE, 0, 0xffff); }, 0},
    {"vring-base-0x10000",
     [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_BASE, 0, 0x10000); },
     EINVAL},
    {"vring-base-while-attached",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         return vstate(fd, VHOST_SET_VRING_BASE, 0, 0);
     },
     EBUSY},
    {"vring-base-round-trip",
     [](const char *d) -> Obs {
         int fd = owned(d);
         step("SET_VRING_BASE", vstate(fd, VHOST_SET_VRING_BASE, 0, 0x1234));
         return get_state(fd, VHOST_GET_VRING_BASE, 0);
     },
     0, "index 0 num 0x1234"},
    {"vring-base-round-trip-vq1",
     [](const char *d) -> Obs {
         int fd = owned(d);
         step("SET_VRING_BASE", vstate(fd, VHOST_SET_VRING_BASE, 1, 0xffff));
         return get_state(fd, VHOST_GET_VRING_BASE, 1);
     },
     0, "index 1 num 0xffff"},
    {"get-vring-base-owned",
     [](const char *d) -> Obs { return get_state(owned(d), VHOST_GET_VRING_BASE, 0); }, 0,
     "index 0 num 0x0"},
    {"get-vring-base-read-only-buffer",
     [](const char *d) -> Obs {
         return ioctl_outcome(owned(d), VHOST_GET_VRING_BASE, read_only_page());
     },
     EFAULT},
    {"get-vring-base-while-attached-keeps-backend",
     [](const char *d) -> Obs {
         int fd = owned(d);
         uint8_t *a = map(kArea);
         mem_area(fd, a);
         rings(fd, a, 0);
         step("SET_VRING_BASE", vstate(fd, VHOST_SET_VRING_BASE, 0, 7));
         attach(fd, 0, packet_raw());
         Obs b = get_state(fd, VHOST_GET_VRING_BASE, 0);
         Outcome num = vstate(fd, VHOST_SET_VRING_NUM, 0, kNum);
         return {b.o, b.extra + ", then SET_VRING_NUM " + en(num)};
     },
     0, "index 0 num 0x7, then SET_VRING_NUM EBUSY"},
    {"get-vring-base-after-detach",
     [](const char *d) -> Obs {
         int fd = owned(d);
         uint8_t *a = map(kArea);
         mem_area(fd, a);
         rings(fd, a, 0);
         step("SET_VRING_BASE", vstate(fd, VHOST_SET_VRING_BASE, 0, 9));
         attach(fd, 0, packet_raw());
         step("detach", backend(fd, 0, -1));
         return get_state(fd, VHOST_GET_VRING_BASE, 0);
     },
     0, "index 0 num 0x9"},
    {"get-vring-base-after-reset-owner",
     [](const char *d) -> Obs {
         int fd = owned(d);
         step("SET_VRING_BASE", vstate(fd, VHOST_SET_VRING_BASE, 0, 9));
         step("RESET_OWNER", ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL));
         step("SET_OWNER", ioctl_outcome(fd, VHOST_SET_OWNER, 0UL));
         return get_state(fd, VHOST_GET_VRING_BASE, 0);
     },
     0, "index 0 num 0x0"},

    // --- SET_VRING_KICK / CALL / ERR.
    {"vring-kick-minus-1", vf_minus_1<VHOST_SET_VRING_KICK>, 0},
    {"vring-kick-eventfd", vf_eventfd<VHOST_SET_VRING_KICK>, 0},
    {"vring-kick-same-eventfd-twice", vf_same_eventfd_twice<VHOST_SET_VRING_KICK>, 0},
    {"vring-kick-closed-fd", vf_closed_fd<VHOST_SET_VRING_KICK>, EBADF},
    {"vring-kick-pipe", vf_pipe<VHOST_SET_VRING_KICK>, EINVAL},
    {"vring-kick-null", vf_null<VHOST_SET_VRING_KICK>, EFAULT},
    {"vring-kick-index-2", vf_index_2<VHOST_SET_VRING_KICK>, ENOBUFS},
    {"vring-kick-while-attached", vf_while_attached<VHOST_SET_VRING_KICK>, 0},
    {"vring-call-minus-1", vf_minus_1<VHOST_SET_VRING_CALL>, 0},
    {"vring-call-eventfd", vf_eventfd<VHOST_SET_VRING_CALL>, 0},
    {"vring-call-same-eventfd-twice", vf_same_eventfd_twice<VHOST_SET_VRING_CALL>, 0},
    {"vring-call-closed-fd", vf_closed_fd<VHOST_SET_VRING_CALL>, EBADF},
    {"vring-call-pipe", vf_pipe<VHOST_SET_VRING_CALL>, EINVAL},
    {"vring-call-null", vf_null<VHOST_SET_VRING_CALL>, EFAULT},
    {"vring-call-index-2", vf_index_2<VHOST_SET_VRING_CALL>, ENOBUFS},
    {"vring-call-while-attached", vf_while_attached<VHOST_SET_VRING_CALL>, 0},
    {"vring-err-minus-1", vf_minus_1<VHOST_SET_VRING_ERR>, 0},
    {"vring-err-eventfd", vf_eventfd<VHOST_SET_VRING_ERR>, 0},
    {"vring-err-same-eventfd-twice", vf_same_eventfd_twice<VHOST_SET_VRING_ERR>, 0},
    {"vring-err-closed-fd", vf_closed_fd<VHOST_SET_VRING_ERR>, EBADF},
    {"vring-err-pipe", vf_pipe<VHOST_SET_VRING_ERR>, EINVAL},
    {"vring-err-null", vf_null<VHOST_SET_VRING_ERR>, EFAULT},
    {"vring-err-index-2", vf_index_2<VHOST_SET_VRING_ERR>, ENOBUFS},
    {"vring-err-while-attached", vf_while_attached<VHOST_SET_VRING_ERR>, 0},
    {"vring-kick-minus-2",
     [](const char *d) -> Obs { return vfile(owned(d), VHOST_SET_VRING_KICK, 0, -2); }, EBADF},
    {"vring-call-minus-2",
     [](const char *d) -> Obs { return vfile(owned(d), VHOST_SET_VRING_CALL, 0, -2); }, EBADF},
    {"vring-kick-dup-of-same-eventfd",
     [](const char *d) -> Obs {
         int fd = owned(d), e = evfd();
         step("first", vfile(fd, VHOST_SET_VRING_KICK, 0, e));
         return vfile(fd, VHOST_SET_VRING_KICK, 0, SYS(dup(e)));
     },
     0},
    {"vring-kick-replace-then-unbind",
     [](const char *d) -> Obs {
         int fd = owned(d);
         step("first", vfile(fd, VHOST_SET_VRING_KICK, 0, evfd()));
         step("second", vfile(fd, VHOST_SET_VRING_KICK, 0, evfd()));
         return vfile(fd, VHOST_SET_VRING_KICK, 0, -1);
     },
     0},
    {"vring-kick-signalled-eventfd-while-attached",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 1, packet_raw());
         int e = evfd();
         uint64_t one = 1;
         SYS(write(e, &one, sizeof one));
         return vfile(fd, VHOST_SET_VRING_KICK, 1, e);
     },
     0},
    {"vring-kick-vhost-fd-itself",
     [](const char *d) -> Obs {
         int fd = owned(d);
         return vfile(fd, VHOST_SET_VRING_KICK, 0, fd);
     },
     EINVAL},
    {"vring-call-o-path-fd",
     [](const char *d) -> Obs {
         int p = SYS(open("/dev/null", O_PATH | O_CLOEXEC));
         return vfile(owned(d), VHOST_SET_VRING_CALL, 0, p);
     },
     EBADF},
    {"vring-err-only-index-readable",
     [](const char *d) -> Obs {
         uint8_t *p = tail(4);
         std::memset(p, 0, 4);
         return ioctl_outcome(owned(d), VHOST_SET_VRING_ERR, p);
     },
     EFAULT},

    // --- SET/GET_VRING_ENDIAN: CONFIG_VHOST_CROSS_ENDIAN_LEGACY is off in Debian.
    {"set-vring-endian-fresh",
     [](const char *d) -> Obs { return vstate(open_dev(d), VHOST_SET_VRING_ENDIAN, 0, 0); },
     EPERM},
    {"get-vring-endian-fresh",
     [](const char *d) -> Obs { return get_state(open_dev(d), VHOST_GET_VRING_ENDIAN, 0).o; },
     EPERM},
    {"set-vring-endian",
     [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_ENDIAN, 0, 0); },
     ENOTTY},
    {"get-vring-endian",
     [](const char *d) -> Obs { return get_state(owned(d), VHOST_GET_VRING_ENDIAN, 0); },
     ENOTTY, "index 0 num 0xdeadbeef"},
    {"set-vring-endian-index-2",
     [](const char *d) -> Obs { return vstate(owned(d), VHOST_SET_VRING_ENDIAN, 2, 1); },
     ENOBUFS},
    {"get-vring-endian-index-2",
     [](const char *d) -> Obs { return get_state(owned(d), VHOST_GET_VRING_ENDIAN, 2).o; },
     ENOBUFS},
    {"set-vring-endian-null",
     [](const char *d) -> Obs { return ioctl_outcome(owned(d), VHOST_SET_VRING_ENDIAN, 0UL); },
     EFAULT},

    // --- SET/GET_VRING_BUSYLOOP_TIMEOUT.
    {"busyloop-timeout-fresh",
     [](const char *d) -> Obs {
         return vstate(open_dev(d), VHOST_SET_VRING_BUSYLOOP_TIMEOUT, 0, 50);
     },
     EPERM},
    {"busyloop-timeout-set",
     [](const char *d) -> Obs {
         return vstate(owned(d), VHOST_SET_VRING_BUSYLOOP_TIMEOUT, 0, 0xffffffff);
     },
     0},
    {"busyloop-timeout-round-trip",
     [](const char *d) -> Obs {
         int fd = owned(d);
         step("SET", vstate(fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, 0, 0xffffffff));
         return get_state(fd, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 0);
     },
     0, "index 0 num 0xffffffff"},
    {"busyloop-timeout-round-trip-vq1",
     [](const char *d) -> Obs {
         int fd = owned(d);
         step("SET", vstate(fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, 1, 50));
         return get_state(fd, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 1);
     },
     0, "index 1 num 0x32"},
    {"busyloop-timeout-after-reset-owner",
     [](const char *d) -> Obs {
         int fd = owned(d);
         step("SET", vstate(fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, 0, 0xffffffff));
         step("RESET_OWNER", ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL));
         step("SET_OWNER", ioctl_outcome(fd, VHOST_SET_OWNER, 0UL));
         return get_state(fd, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 0);
     },
     0, "index 0 num 0x0"},
    {"busyloop-timeout-while-attached",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         return vstate(fd, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, 0, 100);
     },
     0},
    {"busyloop-timeout-get-read-only-buffer",
     [](const char *d) -> Obs {
         return ioctl_outcome(owned(d), VHOST_GET_VRING_BUSYLOOP_TIMEOUT, read_only_page());
     },
     EFAULT},
    {"busyloop-timeout-index-2",
     [](const char *d) -> Obs {
         return vstate(owned(d), VHOST_SET_VRING_BUSYLOOP_TIMEOUT, 2, 1);
     },
     ENOBUFS},

    // --- NET_SET_BACKEND.
    {"backend-null-fresh",
     [](const char *d) -> Obs { return ioctl_outcome(open_dev(d), VHOST_NET_SET_BACKEND, 0UL); },
     EFAULT},
    {"backend-null-from-non-owner-child",
     [](const char *d) -> Obs {
         int fd = owned(d);
         return child([fd] { return ioctl_outcome(fd, VHOST_NET_SET_BACKEND, 0UL); });
     },
     EFAULT},
    {"backend-from-non-owner-child",
     [](const char *d) -> Obs {
         int fd = owned(d);
         mem0(fd);
         return child([fd] { return backend(fd, 0, -1); });
     },
     EPERM},
    {"backend-fresh", [](const char *d) -> Obs { return backend(open_dev(d), 0, -1); }, EPERM},
    {"backend-index-2-fresh", [](const char *d) -> Obs { return backend(open_dev(d), 2, -1); },
     EPERM},
    {"backend-index-2",
     [](const char *d) -> Obs {
         int fd = owned(d);
         mem0(fd);
         return backend(fd, 2, packet_raw());
     },
     ENOBUFS},
    {"backend-detach-without-mem-table",
     [](const char *d) -> Obs { return backend(owned(d), 0, -1); }, EFAULT},
    {"backend-pipe-without-mem-table",
     [](const char *d) -> Obs { return backend(owned(d), 0, pipe_fd()); }, EFAULT},
    {"backend-detach-after-empty-mem-table",
     [](const char *d) -> Obs {
         int fd = owned(d);
         mem0(fd);
         return backend(fd, 1, -1);
     },
     0},
    {"backend-pipe",
     [](const char *d) -> Obs {
         int fd = owned(d);
         mem0(fd);
         return backend(fd, 0, pipe_fd());
     },
     ENOTSOCK},
    {"backend-closed-fd",
     [](const char *d) -> Obs {
         int fd = owned(d);
         mem0(fd);
         return backend(fd, 0, kClosedFd);
     },
     ENOTSOCK},
    {"backend-minus-2",
     [](const char *d) -> Obs {
         int fd = owned(d);
         mem0(fd);
         return backend(fd, 0, -2);
     },
     ENOTSOCK},
    {"backend-udp-socket",
     [](const char *d) -> Obs {
         int fd = owned(d);
         mem0(fd);
         return backend(fd, 0, SYS(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)));
     },
     ENOTSOCK},
    {"backend-packet-dgram",
     [](const char *d) -> Obs {
         int fd = owned(d);
         mem0(fd);
         return backend(fd, 0, SYS(socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0)));
     },
     ENOTSOCK},
    {"backend-eventfd",
     [](const char *d) -> Obs {
         int fd = owned(d);
         mem0(fd);
         return backend(fd, 0, evfd());
     },
     ENOTSOCK},
    {"backend-vhost-fd-itself",
     [](const char *d) -> Obs {
         int fd = owned(d);
         mem0(fd);
         return backend(fd, 0, fd);
     },
     ENOTSOCK},
    {"backend-packet-raw-without-ring-addresses",
     [](const char *d) -> Obs {
         int fd = owned(d);
         mem0(fd);
         return backend(fd, 0, packet_raw());
     },
     EFAULT},
    {"backend-packet-raw",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         return backend(fd, 0, packet_raw());
     },
     0},
    {"backend-packet-raw-vq1",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         return backend(fd, 1, packet_raw());
     },
     0},
    {"backend-same-socket-twice",
     [](const char *d) -> Obs {
         int fd = open_dev(d), p = packet_raw();
         ready(fd);
         attach(fd, 0, p);
         return backend(fd, 0, p);
     },
     0},
    {"backend-read-only-used-ring",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         uint8_t *a = ready(fd);
         SYS(mprotect(reinterpret_cast<void *>(used_of(a, 0)), kPage, PROT_READ));
         return backend(fd, 0, packet_raw());
     },
     EFAULT},
    {"backend-tap",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         return backend(fd, 0, tap().fd);
     },
     0},
    {"backend-tap-detach",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, tap().fd);
         return backend(fd, 0, -1);
     },
     0},
    {"backend-tap-reattach",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         Tap t = tap();
         attach(fd, 0, t.fd);
         step("detach", backend(fd, 0, -1));
         return backend(fd, 0, t.fd);
     },
     0},
    {"backend-same-tap-both-vqs",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         Tap t = tap();
         attach(fd, 0, t.fd);
         return backend(fd, 1, t.fd);
     },
     0},
    {"backend-switch-packet-to-tap",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         return backend(fd, 0, tap().fd);
     },
     0},
    {"backend-unattached-tun",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         return backend(fd, 0, SYS(open("/dev/net/tun", O_RDWR | O_CLOEXEC)));
     },
     EINVAL},
    {"backend-detach-minus-1",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         return backend(fd, 0, -1);
     },
     0},
    {"backend-detach-after-reset-and-set-owner",
     [](const char *d) -> Obs {
         int fd = owned(d);
         step("RESET_OWNER", ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL));
         step("SET_OWNER", ioctl_outcome(fd, VHOST_SET_OWNER, 0UL));
         return backend(fd, 0, -1);
     },
     0},

    // --- Unknown ioctls: owner check, then the u32 at arg is read as a ring index.
    {"unknown-ioctl-fresh",
     [](const char *d) -> Obs { return unknown(open_dev(d), kUnknown, 0); }, EPERM},
    {"unknown-ioctl-null",
     [](const char *d) -> Obs { return ioctl_outcome(owned(d), kUnknown, 0UL); }, EFAULT},
    {"unknown-ioctl-index-0", [](const char *d) -> Obs { return unknown(owned(d), kUnknown, 0); },
     ENOTTY},
    {"unknown-ioctl-index-5", [](const char *d) -> Obs { return unknown(owned(d), kUnknown, 5); },
     ENOBUFS},
    {"unknown-ioctl-from-child",
     [](const char *d) -> Obs {
         int fd = owned(d);
         return child([fd] { return unknown(fd, kUnknown, 0); });
     },
     EPERM},
    {"new-worker-fresh",
     [](const char *d) -> Obs { return unknown(open_dev(d), kNewWorker, 0); }, EPERM},
    {"new-worker-null",
     [](const char *d) -> Obs { return ioctl_outcome(owned(d), kNewWorker, 0UL); }, EFAULT},
    {"new-worker-index-0", [](const char *d) -> Obs { return unknown(owned(d), kNewWorker, 0); },
     ENOTTY},
    {"free-worker-index-0",
     [](const char *d) -> Obs { return unknown(owned(d), kFreeWorker, 0); }, ENOTTY},
    {"vring-num-with-size-4",
     [](const char *d) -> Obs { return unknown(owned(d), kVringNumSize4, 0); }, ENOTTY},
    {"get-features-with-size-4-fresh",
     [](const char *d) -> Obs { return unknown(open_dev(d), kGetFeaturesSize4, 0); }, EPERM},
    {"get-features-with-size-4-index-3",
     [](const char *d) -> Obs { return unknown(owned(d), kGetFeaturesSize4, 3); }, ENOBUFS},
    {"set-owner-with-size-4-fresh",
     [](const char *d) -> Obs { return unknown(open_dev(d), kSetOwnerWithArg, 0); }, EPERM},
    {"vsock-set-guest-cid-index-0",
     [](const char *d) -> Obs { return unknown(owned(d), kVsockSetGuestCid, 0); }, ENOTTY},
    {"fionread-fresh", [](const char *d) -> Obs { return unknown(open_dev(d), FIONREAD, 0); },
     EPERM},
    {"fionread-owned", [](const char *d) -> Obs { return unknown(owned(d), FIONREAD, 0); },
     ENOTTY},
    {"tcgets-owned", [](const char *d) -> Obs { return unknown(owned(d), TCGETS, 0); }, ENOTTY},

    // --- read / write / poll / other file operations without an IOTLB.
    {"read-71-bytes",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         set_nonblock(fd);
         return read_n(fd, 71);
     },
     0, "ret 0"},
    {"read-0-bytes", [](const char *d) -> Obs { return read_n(open_dev(d), 0); }, 0, "ret 0"},
    {"read-nonblocking",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         set_nonblock(fd);
         return read_n(fd, 72);
     },
     EAGAIN},
    {"read-blocking", [](const char *d) -> Obs { return read_n(open_dev(d), 72); }, EBADFD},
    {"read-blocking-owned", [](const char *d) -> Obs { return read_n(owned(d), 200); }, EBADFD},
    {"read-kernel-buffer",
     [](const char *d) -> Obs {
         return sys_outcome(read(open_dev(d), reinterpret_cast<void *>(kKernelAddr), 72));
     },
     EFAULT},
    {"write-3-bytes",
     [](const char *d) -> Obs {
         return write_msg(open_dev(d), Msg(kMsgV1, kUpdate, 0, 4096, 0x10000000, 3), 3);
     },
     EINVAL},
    {"write-type-3",
     [](const char *d) -> Obs {
         return write_msg(open_dev(d), Msg(3, kUpdate, 0, 4096, 0x10000000, 3));
     },
     EINVAL},
    {"write-39-bytes",
     [](const char *d) -> Obs {
         return write_msg(open_dev(d), Msg(kMsgV1, kUpdate, 0, 4096, 0x10000000, 3), 39);
     },
     EINVAL},
    {"write-update-size-0",
     [](const char *d) -> Obs {
         return write_msg(owned(d), Msg(kMsgV1, kUpdate, 0, 0, 0x10000000, 3));
     },
     EINVAL},
    {"write-update",
     [](const char *d) -> Obs {
         return write_msg(open_dev(d), Msg(kMsgV1, kUpdate, 0, 4096, 0x10000000, 3));
     },
     EFAULT},
    {"write-update-40-bytes",
     [](const char *d) -> Obs {
         return write_msg(owned(d), Msg(kMsgV1, kUpdate, 0, 4096, 0x10000000, 3), 40);
     },
     EFAULT},
    {"write-invalidate",
     [](const char *d) -> Obs {
         return write_msg(owned(d), Msg(kMsgV1, kInvalidate, 0, 4096, 0, 0));
     },
     EFAULT},
    {"write-miss",
     [](const char *d) -> Obs { return write_msg(owned(d), Msg(kMsgV1, kMiss, 0, 0, 0, 1)); },
     EFAULT},
    {"write-v2-update",
     [](const char *d) -> Obs {
         return write_msg(open_dev(d), Msg(kMsgV2, kUpdate, 0, 4096, 0x10000000, 3));
     },
     EFAULT},
    {"write-v2-update-size-0",
     [](const char *d) -> Obs {
         return write_msg(open_dev(d), Msg(kMsgV2, kUpdate, 0, 0, 0x10000000, 3));
     },
     EINVAL},
    {"write-v2-invalidate",
     [](const char *d) -> Obs {
         return write_msg(owned(d), Msg(kMsgV2, kInvalidate, 0, 4096, 0, 0));
     },
     EFAULT},
    {"write-null-buffer",
     [](const char *d) -> Obs {
         // Through syscall(): the compiler refuses a literal NULL buffer for write().
         return sys_outcome(syscall(SYS_write, open_dev(d), 0, 72));
     },
     EINVAL},
    {"write-kernel-buffer",
     [](const char *d) -> Obs {
         return sys_outcome(write(open_dev(d), reinterpret_cast<void *>(kKernelAddr), 72));
     },
     EFAULT},
    {"poll-no-events",
     [](const char *d) -> Obs {
         pollfd p{owned(d), POLLIN | POLLOUT | POLLPRI, 0};
         Outcome o = sys_outcome(poll(&p, 1, 0));
         return {o, fmt::format("revents {:#x}", p.revents)};
     },
     0, "revents 0x0"},
    {"lseek-returns-0",
     [](const char *d) -> Obs { return sys_outcome(lseek(open_dev(d), 100, SEEK_SET)); }, 0},
    {"mmap-not-supported",
     [](const char *d) -> Obs {
         void *p = mmap(nullptr, kPage, PROT_READ, MAP_SHARED, open_dev(d), 0);
         return Outcome{p == MAP_FAILED ? -1 : 0, p == MAP_FAILED ? errno : 0};
     },
     ENODEV},
    {"fsync-not-supported",
     [](const char *d) -> Obs { return sys_outcome(fsync(open_dev(d))); }, EINVAL},
    {"fioasync-on",
     [](const char *d) -> Obs {
         int on = 1;
         return ioctl_outcome(open_dev(d), FIOASYNC, &on);
     },
     ENOTTY},
    {"fionbio",
     [](const char *d) -> Obs {
         int on = 1;
         return ioctl_outcome(open_dev(d), FIONBIO, &on);
     },
     0},

    // --- The IOTLB message channel once ACCESS_PLATFORM was acked.
    {"iotlb-write-update",
     [](const char *d) -> Obs {
         return write_msg(with_iotlb(d), Msg(kMsgV1, kUpdate, 0, 4096, 0x10000000, 3));
     },
     0, "ret 72", "no device IOTLB yet: messages are refused", EFAULT},
    {"iotlb-write-update-40-bytes",
     [](const char *d) -> Obs {
         return write_msg(with_iotlb(d), Msg(kMsgV1, kUpdate, 0, 4096, 0x10000000, 3), 40);
     },
     0, "ret 72", "no device IOTLB yet: messages are refused", EFAULT},
    {"iotlb-write-v2-update",
     [](const char *d) -> Obs {
         return write_msg(with_iotlb(d), Msg(kMsgV2, kUpdate, 0x1000, 4096, 0x10000000, 1));
     },
     0, "ret 72", "no device IOTLB yet: messages are refused", EFAULT},
    {"iotlb-write-invalidate",
     [](const char *d) -> Obs {
         return write_msg(with_iotlb(d), Msg(kMsgV1, kInvalidate, 0, 4096, 0, 0));
     },
     0, "ret 72", "no device IOTLB yet: messages are refused", EFAULT},
    {"iotlb-write-update-kernel-uaddr-rw",
     [](const char *d) -> Obs {
         return write_msg(with_iotlb(d), Msg(kMsgV1, kUpdate, 0, 4096, kKernelAddr, 3));
     },
     EFAULT},
    {"iotlb-write-update-kernel-uaddr-perm-0",
     [](const char *d) -> Obs {
         return write_msg(with_iotlb(d), Msg(kMsgV1, kUpdate, 0, 4096, kKernelAddr, 0));
     },
     0, "ret 72", "no device IOTLB yet: messages are refused", EFAULT},
    {"iotlb-write-update-wrapping-iova",
     [](const char *d) -> Obs {
         return write_msg(with_iotlb(d),
                          Msg(kMsgV1, kUpdate, 0xfffffffffffff000, 0x2000, 0x10000000, 0));
     },
     EFAULT},
    {"iotlb-write-miss",
     [](const char *d) -> Obs { return write_msg(with_iotlb(d), Msg(kMsgV1, kMiss, 0, 0, 0, 1)); },
     EFAULT},
    {"iotlb-read-nonblocking",
     [](const char *d) -> Obs {
         int fd = with_iotlb(d);
         set_nonblock(fd);
         return read_n(fd, 72);
     },
     EAGAIN},
    {"iotlb-read-blocking-interrupted",
     [](const char *d) -> Obs {
         int fd = with_iotlb(d);
         struct sigaction sa {};
         sa.sa_handler = on_alarm;
         sigaction(SIGALRM, &sa, nullptr); // no SA_RESTART
         itimerval t{};
         t.it_value.tv_usec = 200000;
         setitimer(ITIMER_REAL, &t, nullptr);
         Obs r = read_n(fd, 72);
         t.it_value.tv_usec = 0;
         setitimer(ITIMER_REAL, &t, nullptr);
         signal(SIGALRM, SIG_DFL);
         alarm(kCaseTimeout);
         return r;
     },
     EINTR},
    {"iotlb-gone-after-reset-owner",
     [](const char *d) -> Obs {
         int fd = with_iotlb(d);
         step("RESET_OWNER", ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL));
         return read_n(fd, 72);
     },
     EBADFD},
    {"iotlb-kept-after-features-without-access-platform",
     [](const char *d) -> Obs {
         int fd = with_iotlb(d);
         step("SET_FEATURES (0)", set_features(fd, 0));
         return write_msg(fd, Msg(kMsgV1, kUpdate, 0, 4096, 0x10000000, 3));
     },
     0, "ret 72", "no device IOTLB yet: messages are refused", EFAULT},
    // Attaching with an empty IOTLB misses on the used ring: EFAULT, and a MISS message for the
    // used ring's address (perm RO) is queued for read().
    {"iotlb-miss-on-attach",
     [](const char *d) -> Obs {
         int fd = with_iotlb(d);
         uint8_t *a = map(kArea);
         mem_area(fd, a);
         rings(fd, a, 0);
         Outcome o = backend(fd, 0, packet_raw());
         pollfd p{fd, POLLIN | POLLRDNORM | POLLOUT, 0};
         int n = poll(&p, 1, 0);
         set_nonblock(fd);
         vhost_msg m{};
         Outcome r = sys_outcome(read(fd, &m, sizeof m));
         std::string got = fmt::format("poll {} revents {:#x}, read {}", n, p.revents, en(r));
         if (r.ret == sizeof m)
             got += fmt::format(", type {} iova used{:+#x} perm {} msg-type {}", m.type,
                                static_cast<int64_t>(m.iotlb.iova - used_of(a, 0)),
                                m.iotlb.perm, m.iotlb.type);
         return {o, got};
     },
     EFAULT, "poll 1 revents 0x41, read 72, type 1 iova used+0x0 perm 1 msg-type 1",
     "no device IOTLB yet: the ring is refused (EFAULT) but no MISS message is queued", EFAULT},

    // --- Lifecycle.
    {"close-with-tap-attached-then-tap-still-works",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         Tap t = tap();
         link_up(t.name);
         attach(fd, 0, t.fd);
         attach(fd, 1, t.fd);
         step("close", sys_outcome(close(fd)));
         // A virtio_net_hdr (10 bytes, all zero) and a minimal broadcast Ethernet frame.
         std::array<uint8_t, 10 + 60> frame{};
         std::memset(frame.data() + 10, 0xff, 6);
         frame[10 + 6] = 0x02;
         frame[10 + 12] = 0x88;
         frame[10 + 13] = 0xb5;
         Outcome o = sys_outcome(write(t.fd, frame.data(), frame.size()));
         return {o, o.err ? "" : fmt::format("ret {}", o.ret)};
     },
     0, "ret 70"},
    {"owner-child-exits-parent-keeps-fd",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         step("SET_OWNER in child",
              child([fd] { return ioctl_outcome(fd, VHOST_SET_OWNER, 0UL); }));
         Outcome mem = set_mem(fd, {});
         Outcome own = ioctl_outcome(fd, VHOST_SET_OWNER, 0UL);
         Outcome reset = ioctl_outcome(fd, VHOST_RESET_OWNER, 0UL);
         Outcome feat = set_features(fd, 0);
         return {mem, fmt::format("then SET_OWNER {}, RESET_OWNER {}, SET_FEATURES {}", en(own),
                                  en(reset), en(feat))};
     },
     EPERM, "then SET_OWNER EBUSY, RESET_OWNER EPERM, SET_FEATURES 0"},
    {"detach-and-reattach-packet",
     [](const char *d) -> Obs {
         int fd = open_dev(d), p = packet_raw();
         ready(fd);
         attach(fd, 0, p);
         step("detach", backend(fd, 0, -1));
         Outcome num = vstate(fd, VHOST_SET_VRING_NUM, 0, kNum);
         Outcome base = vstate(fd, VHOST_SET_VRING_BASE, 0, 0);
         Outcome o = backend(fd, 0, p);
         return {o, fmt::format("between: SET_VRING_NUM {}, SET_VRING_BASE {}", en(num),
                                en(base))};
     },
     0, "between: SET_VRING_NUM 0, SET_VRING_BASE 0"},
    {"close-tap-fd-while-attached-then-detach",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         Tap t = tap();
         attach(fd, 0, t.fd);
         attach(fd, 1, t.fd);
         close(t.fd);
         step("detach RX", backend(fd, 0, -1));
         return backend(fd, 1, -1);
     },
     0},
    {"thread-of-owner-configures",
     [](const char *d) -> Obs {
         int fd = owned(d);
         uint8_t *a = map(kArea);
         int p = packet_raw();
         std::vector<Outcome> os;
         std::thread([&] {
             os.push_back(set_mem(fd, {region(u(a), kArea, u(a))}));
             for (uint32_t i = 0; i < 2; i++) {
                 os.push_back(vstate(fd, VHOST_SET_VRING_NUM, i, kNum));
                 os.push_back(ring_addr(fd, a, i));
             }
             os.push_back(backend(fd, 0, p));
         }).join();
         std::string steps;
         for (const auto &o : os)
             steps += (steps.empty() ? "" : " ") + en(o);
         return {os.back(), steps};
     },
     0, "0 0 0 0 0 0"},
    {"owner-is-the-mm-not-the-thread",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         Outcome own;
         std::thread([&] { own = ioctl_outcome(fd, VHOST_SET_OWNER, 0UL); }).join();
         step("SET_OWNER in a thread", own);
         return set_mem(fd, {});
     },
     0},
    {"close-configured-device",
     [](const char *d) -> Obs {
         int fd = open_dev(d);
         ready(fd);
         attach(fd, 0, packet_raw());
         step("KICK", vfile(fd, VHOST_SET_VRING_KICK, 1, evfd()));
         step("CALL", vfile(fd, VHOST_SET_VRING_CALL, 1, evfd()));
         int lf = evfd();
         step("LOG_FD", ioctl_outcome(fd, VHOST_SET_LOG_FD, &lf));
         return sys_outcome(close(fd));
     },
     0},
};

// Runs one case on one device in a process of its own and returns what it observed.
Obs run_on(const Case &c, size_t index, const char *dev) {
    int p[2];
    SYS(pipe2(p, O_CLOEXEC));
    std::fflush(stdout);
    pid_t pid = SYS(fork());
    if (pid == 0) {
        close(p[0]);
        alarm(kCaseTimeout);
        g_letter = std::strcmp(dev, kVhnet) == 0 ? 'a' : 'b';
        g_case = index;
        std::string msg;
        try {
            Obs r = c.fn(dev);
            msg = fmt::format("R {} {} {}", r.o.ret, r.o.err, r.extra);
        } catch (const SetupFailed &s) {
            msg = fmt::format("R {} {} setup step {} failed", s.o.ret, s.o.err, s.step);
        } catch (const Failure &f) {
            msg = "F " + f.message;
        } catch (const std::exception &e) {
            msg = std::string("F exception: ") + e.what();
        }
        std::fflush(stdout);
        size_t off = 0;
        while (off < msg.size()) {
            ssize_t w = write(p[1], msg.data() + off, msg.size() - off);
            if (w <= 0)
                break;
            off += static_cast<size_t>(w);
        }
        _exit(0);
    }
    close(p[1]);
    std::string msg;
    char buf[512];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            msg.append(buf, static_cast<size_t>(n));
    close(p[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (msg.empty()) {
        std::string why = WIFSIGNALED(status) ? strsignal(WTERMSIG(status))
                                              : fmt::format("exit {}", WEXITSTATUS(status));
        return {Outcome{-1, -1}, "the case process died: " + why};
    }
    if (msg[0] == 'F')
        fail(fmt::format("{}: {}", dev, msg.substr(2)));
    long ret = 0;
    int err = 0, used = 0;
    if (std::sscanf(msg.c_str(), "R %ld %d %n", &ret, &err, &used) < 2)
        fail(fmt::format("{}: garbled answer '{}'", dev, msg));
    return {Outcome{ret, err}, msg.substr(static_cast<size_t>(used))};
}

void run_case(size_t index) {
    const Case &c = kCases[index];
    Obs vhnet = run_on(c, index, kVhnet);
    Obs ref = run_on(c, index, kVhostNet);
    std::string want = c.want ? en(c.want) : "success";
    if (c.want_extra)
        want += fmt::format(" [{}]", c.want_extra);

    std::vector<std::string> problems;
    bool ref_ok = ref.o.err == c.want && (c.want ? ref.o.ret == -1 : ref.o.ret >= 0) &&
                  !ref.extra.starts_with("setup step") &&
                  (!c.want_extra || ref.extra == c.want_extra);
    if (!ref_ok) {
        note("REFERENCE MISMATCH: vhost-net answered {} but the table expects {}", show(ref), want);
        problems.push_back("vhost-net disagrees with the table (fix the table)");
    }
    if (c.deliberate_difference) {
        note("deliberate difference: {} (vhnet {}, vhost-net {})", c.deliberate_difference,
             show(vhnet), show(ref));
        if (vhnet.o.err != c.vhnet_want)
            problems.push_back(fmt::format("vhnet {} but the table expects {} from vhnet",
                                           show(vhnet), en(c.vhnet_want)));
    } else if (!(vhnet.o == ref.o && vhnet.extra == ref.extra)) {
        problems.push_back(fmt::format("vhnet {} but vhost-net {}", show(vhnet), show(ref)));
    }
    if (problems.empty())
        return;
    std::string msg;
    for (const auto &p : problems)
        msg += (msg.empty() ? "" : "; ") + p;
    fail(msg);
}

} // namespace

// The table itself: unique names, and at least the 90 cases the suite promises.
VMTEST(abi, table_is_sane) {
    std::set<std::string> names;
    for (const auto &c : kCases) {
        if (!names.insert(c.name).second)
            fail(fmt::format("duplicate case name {}", c.name));
        EXPECT(c.fn != nullptr);
    }
    // A mapping above 2^47 is only granted with 5-level paging; the range checks depend on it.
    void *hint = reinterpret_cast<void *>(uint64_t{1} << 52);
    void *m = mmap(hint, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    bool la57 = m != MAP_FAILED && u(m) >= uint64_t{1} << 47;
    if (m != MAP_FAILED)
        munmap(m, kPage);
    note("{} cases; user address space: {}-level paging", std::size(kCases), la57 ? 5 : 4);
    EXPECT(std::size(kCases) >= 90);
}

namespace {

// One test per case, registered at static-initialisation time in table order.
struct AbiRegistrar {
    AbiRegistrar() {
        for (size_t i = 0; i < std::size(kCases); i++)
            add_test("abi", kCases[i].name, [i] { run_case(i); });
    }
} const abi_registrar;

} // namespace
