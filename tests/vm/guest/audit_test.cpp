// SPDX-License-Identifier: GPL-2.0
// Suite "audit": a feature bit is a promise to every client, and an ioctl is part of the ABI. One
// table here names, for every feature bit vhnet may offer (VHOST_GET_FEATURES,
// VHOST_GET_BACKEND_FEATURES) and every ioctl it may accept, the VM tests ("suite/test") that
// exercise its behaviour, not just its return code, and says in a comment what behaviour is there
// and what is not. The three tests hold the device to the table:
//
//   offered-bits-have-tests     every bit /dev/vhnet offers has a row with at least one test, and
//                               every test a row names is registered in this binary;
//   accepted-ioctls-have-tests  every request of the vhost magic 0xAF that /dev/vhnet does not
//                               answer with ENOTTY has a row (probed one request per fresh owned
//                               fd, one process per fd, with a zeroed argument);
//   table-matches-vhost-net     every bit vhnet offers that /dev/vhost-net (same boot) does not is
//                               marked in the table as a vhnet addition, and no other bit is.
//
// A test named with a trailing '*' is a glob: at least one registered test must match it.
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/vhost.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <vector>

#include "util.h"

using namespace vmtest;

namespace {

enum class Kind {
    Feature,        // a VHOST_GET_FEATURES bit; key = bit number
    BackendFeature, // a VHOST_GET_BACKEND_FEATURES bit; key = bit number
    Ioctl,          // an ioctl; key = the request number (direction, size and all)
};

struct Row {
    Kind kind;
    unsigned long key;
    const char *name;
    // Offered or accepted by vhnet but not by the in-tree vhost-net.
    bool vhnet_addition;
    // The VM tests that exercise the behaviour ("suite/test", or "suite/prefix*").
    std::vector<const char *> tests;
    // What behaviour is there, and what is not.
    const char *comment;
};

// The datapath tests that move packets through a device configured the default way: every
// ioctl of the canonical sequence (owner, memory table, features, per ring num/base/addr/kick/call,
// backend) is behind each of them.
#define DATAPATH_BASICS "datapath/tx-single", "datapath/rx-mergeable", "qemu/vhnet-tcp-to-guest"

#define DIRTYLOG_TESTS                                                                             \
    "dirtylog/rx-pages-match", "dirtylog/tx-used-ring-only", "dirtylog/log-off-nothing-logged",    \
        "dirtylog/log-all-toggled-mid-traffic", "dirtylog/log-base-swapped-mid-traffic",           \
        "dirtylog/bad-log-bases"

// clang-format off
const std::vector<Row> kTable = {
    // --- VHOST_GET_FEATURES: vhost-net 6.1's set, 0x33d008000.
    {Kind::Feature, 15, "VIRTIO_NET_F_MRG_RXBUF", false,
     {"datapath/rx-mergeable", "datapath/rx-small-buffers-mergeable", "datapath/rx-gso-mergeable",
      "datapath/rx-too-few-buffers-mergeable", "datapath/rx-no-mergeable",
      "qemu/vhnet-tcp-to-guest"},
     "RX frames span buffers with num_buffers set, compared with vhost-net; without it one "
     "buffer per frame"},
    {Kind::Feature, 24, "VIRTIO_F_NOTIFY_ON_EMPTY", false, {"datapath/notify-on-empty"},
     "the device interrupts when it has emptied the avail ring even with interrupts suppressed; "
     "also the host ring tests (tests/unit/ring/notify_test.cpp)"},
    {Kind::Feature, 26, "VHOST_F_LOG_ALL", false,
     {DIRTYLOG_TESTS, "dirtylog/rx-pages-match-big-buffers", "migration/vhnet-to-vhnet*"},
     "dirty log: RX bytes written and the used ring (VHOST_VRING_F_LOG) as 4 KiB page bits, TX "
     "the used ring only; log eventfd once per pass; toggled and rebased while running"},
    {Kind::Feature, 27, "VIRTIO_F_ANY_LAYOUT/VHOST_NET_F_VIRTIO_NET_HDR", false,
     {"datapath/tx-single", "datapath/tx-chained", "datapath/tx-indirect"},
     "any descriptor layout (header with or apart from the frame) is tested; bit 27 acked as "
     "VHOST_NET_F_VIRTIO_NET_HDR (the device adds and strips the header for a backend without "
     "IFF_VNET_HDR) is implemented but no VM test acks it"},
    {Kind::Feature, 28, "VIRTIO_RING_F_INDIRECT_DESC", false,
     {"datapath/tx-indirect", "datapath/bad-tx-indirect-bad-length",
      "datapath/bad-tx-indirect-nested", "datapath/bad-tx-indirect-loop",
      "datapath/bad-tx-indirect-too-many-segments", "qemu/vhnet-tcp-from-guest"},
     "indirect tables on TX, and broken ones, as vhost-net; RX with indirect tables only through "
     "the QEMU guest"},
    {Kind::Feature, 29, "VIRTIO_RING_F_EVENT_IDX", false,
     {"datapath/notify-tx-event-idx", "datapath/notify-rx-event-idx",
      "datapath/notify-rx-stream-event-idx", "datapath/notify-tx-no-event-idx",
      "datapath/notify-rx-no-event-idx", "datapath/ring-wrap-200k"},
     "used_event/avail_event suppression of calls and kicks, counted against vhost-net, with "
     "and without the bit"},
    {Kind::Feature, 32, "VIRTIO_F_VERSION_1", false,
     {"datapath/rx-no-mergeable", "datapath/rx-small-buffers-no-mergeable",
      "qemu/vhnet-tcp-offloads-off"},
     "12-byte virtio-net header without MRG_RXBUF, little-endian rings; the legacy 10-byte "
     "header (neither VERSION_1 nor MRG_RXBUF) is not exercised in the VM"},
    {Kind::Feature, 33, "VIRTIO_F_ACCESS_PLATFORM", false,
     {"abi/set-features-access-platform", "abi/iotlb-write-update", "abi/iotlb-write-v2-update",
      "abi/iotlb-write-invalidate", "abi/iotlb-miss-on-attach", "abi/iotlb-read-nonblocking",
      "abi/iotlb-read-blocking-interrupted", "abi/iotlb-gone-after-reset-owner",
      "abi/iotlb-kept-after-features-without-access-platform"},
     "offered and acked as by vhost-net, but there is no device IOTLB: every IOTLB update gets "
     "EFAULT, SET_VRING_BACKEND with it acked gets EFAULT, no MISS message is queued"},

    // --- VHOST_GET_BACKEND_FEATURES: 0x2.
    {Kind::BackendFeature, VHOST_BACKEND_F_IOTLB_MSG_V2, "VHOST_BACKEND_F_IOTLB_MSG_V2", false,
     {"abi/get-backend-features", "abi/get-backend-features-after-set-0",
      "abi/set-backend-features-0x2-before-owner", "abi/write-v2-update",
      "abi/write-v2-update-size-0", "abi/write-v2-invalidate", "abi/iotlb-write-v2-update"},
     "acked as by vhost-net and v2 messages parsed as vhost-net parses them; with "
     "ACCESS_PLATFORM every update is refused (EFAULT): no device IOTLB"},

    // --- The ioctls vhost-net answers (<linux/vhost.h>).
    {Kind::Ioctl, VHOST_GET_FEATURES, "VHOST_GET_FEATURES", false,
     {"abi/get-features", "abi/get-features-after-set-is-constant", "dev/features-cover-vhost-net",
      "dev/get-features-needs-no-owner"},
     "the offered set, constant, no owner needed"},
    {Kind::Ioctl, VHOST_SET_FEATURES, "VHOST_SET_FEATURES", false,
     {"abi/set-features-while-attached", "datapath/rx-no-mergeable",
      "datapath/notify-tx-no-event-idx", DIRTYLOG_TESTS},
     "the acked set selects header size, mergeable RX, event idx and logging, also while "
     "running"},
    {Kind::Ioctl, VHOST_SET_OWNER, "VHOST_SET_OWNER", false,
     {"dev/set-owner-twice-matches", "abi/set-owner-from-thread-of-owner",
      "abi/owner-is-the-mm-not-the-thread", "abi/thread-of-owner-configures",
      "abi/owner-child-exits-parent-keeps-fd"},
     "ownership is the caller's mm; the worker runs in it"},
    {Kind::Ioctl, VHOST_RESET_OWNER, "VHOST_RESET_OWNER", false,
     {"abi/reset-owner-detaches-backend", "abi/reset-owner-then-set-owner-from-child",
      "abi/get-vring-base-after-reset-owner", "abi/busyloop-timeout-after-reset-owner",
      "abi/iotlb-gone-after-reset-owner"},
     "back to a fresh device: backends detached, rings and features reset, owner dropped"},
    {Kind::Ioctl, VHOST_SET_MEM_TABLE, "VHOST_SET_MEM_TABLE", false,
     {"abi/mem-table-64-regions", "abi/mem-table-while-attached",
      "datapath/bad-tx-addr-outside-memory", "datapath/bad-rx-addr-outside-memory",
      DATAPATH_BASICS},
     "guest addresses translated through the table; addresses outside it break the ring"},
    {Kind::Ioctl, VHOST_SET_LOG_BASE, "VHOST_SET_LOG_BASE", false,
     {"dirtylog/rx-pages-match", "dirtylog/log-base-swapped-mid-traffic", "dirtylog/bad-log-bases",
      "dirtylog/bad-log-base-then-log-all",
      "abi/log-base-kernel-address-with-backend-logging-used"},
     "the bitmap the dirty bits go to; replaced while running"},
    {Kind::Ioctl, VHOST_SET_LOG_FD, "VHOST_SET_LOG_FD", false,
     {"dirtylog/rx-pages-match", "migration/vhnet-to-vhnet*", "abi/log-fd-eventfd"},
     "signalled once per worker pass that logged"},
    {Kind::Ioctl, VHOST_SET_VRING_NUM, "VHOST_SET_VRING_NUM", false,
     {"datapath/ring-64", "datapath/ring-256", "datapath/ring-1024", "datapath/ring-32768",
      "abi/vring-num-while-attached"},
     "ring sizes 64 to 32768 move packets as vhost-net does"},
    {Kind::Ioctl, VHOST_SET_VRING_ADDR, "VHOST_SET_VRING_ADDR", false,
     {"abi/vring-addr-while-attached", "dirtylog/tx-used-ring-only", DATAPATH_BASICS},
     "ring addresses, VHOST_VRING_F_LOG and log_guest_addr for the used ring's dirty log"},
    {Kind::Ioctl, VHOST_SET_VRING_BASE, "VHOST_SET_VRING_BASE", false,
     {"datapath/ring-base-near-wrap", "abi/vring-base-round-trip", "abi/vring-base-round-trip-vq1",
      "migration/vhnet-to-vhnet*"},
     "the device continues from the given avail index (index wrap, migration's restore)"},
    {Kind::Ioctl, VHOST_GET_VRING_BASE, "VHOST_GET_VRING_BASE", false,
     {"abi/get-vring-base-after-detach", "abi/get-vring-base-while-attached-keeps-backend",
      "abi/vring-base-round-trip", "qemu/vhnet-reset", "migration/vhnet-to-vhnet*"},
     "where the ring stopped, no side effect"},
    {Kind::Ioctl, VHOST_SET_VRING_KICK, "VHOST_SET_VRING_KICK", false,
     {"datapath/notify-tx-event-idx", "abi/vring-kick-signalled-eventfd-while-attached",
      "abi/vring-kick-replace-then-unbind", DATAPATH_BASICS},
     "kicks start the worker; replaced and unbound while running"},
    {Kind::Ioctl, VHOST_SET_VRING_CALL, "VHOST_SET_VRING_CALL", false,
     {"datapath/notify-tx-event-idx", "datapath/notify-rx-event-idx",
      "datapath/notify-tx-suppressed", "stats/known-traffic"},
     "calls counted against vhost-net's, suppressed as the driver asks"},
    {Kind::Ioctl, VHOST_SET_VRING_ERR, "VHOST_SET_VRING_ERR", false,
     {"datapath/bad-tx-desc-loop", "datapath/bad-rx-desc-loop", "datapath/bad-tx-bad-head"},
     "signalled when the ring is found broken"},
    {Kind::Ioctl, VHOST_SET_VRING_ENDIAN, "VHOST_SET_VRING_ENDIAN", false,
     {"abi/set-vring-endian", "abi/set-vring-endian-index-2"},
     "no legacy cross-endian rings: ENOTTY after the ring prologue, as vhost-net without "
     "CONFIG_VHOST_CROSS_ENDIAN_LEGACY (so the probe sees it as not accepted)"},
    {Kind::Ioctl, VHOST_GET_VRING_ENDIAN, "VHOST_GET_VRING_ENDIAN", false,
     {"abi/get-vring-endian", "abi/get-vring-endian-index-2"},
     "as VHOST_SET_VRING_ENDIAN"},
    {Kind::Ioctl, VHOST_SET_VRING_BUSYLOOP_TIMEOUT, "VHOST_SET_VRING_BUSYLOOP_TIMEOUT", false,
     {"abi/busyloop-timeout-round-trip", "abi/busyloop-timeout-round-trip-vq1",
      "abi/busyloop-timeout-while-attached", "abi/busyloop-timeout-after-reset-owner"},
     "stored per ring and returned by GET; vhnet does not busy-poll yet, so the value has no "
     "effect on the datapath"},
    {Kind::Ioctl, VHOST_GET_VRING_BUSYLOOP_TIMEOUT, "VHOST_GET_VRING_BUSYLOOP_TIMEOUT", false,
     {"abi/busyloop-timeout-fresh", "abi/busyloop-timeout-round-trip",
      "abi/busyloop-timeout-after-reset-owner"},
     "returns what SET stored (0 after open and reset); no busy polling"},
    {Kind::Ioctl, VHOST_SET_BACKEND_FEATURES, "VHOST_SET_BACKEND_FEATURES", false,
     {"abi/set-backend-features-0x2-before-owner", "abi/get-backend-features-after-set-0",
      "abi/write-v2-update"},
     "acks IOTLB_MSG_V2 (v2 messages on the file); anything else EOPNOTSUPP"},
    {Kind::Ioctl, VHOST_GET_BACKEND_FEATURES, "VHOST_GET_BACKEND_FEATURES", false,
     {"abi/get-backend-features", "abi/get-backend-features-after-set-0"},
     "the offered backend features, constant"},
    {Kind::Ioctl, VHOST_NET_SET_BACKEND, "VHOST_NET_SET_BACKEND", false,
     {"datapath/lifecycle-detach-under-load", "abi/backend-tap-reattach",
      "abi/backend-switch-packet-to-tap", "abi/iotlb-miss-on-attach", "qemu/vhnet-reset",
      DATAPATH_BASICS},
     "starts and stops a ring on a tap or packet socket; EFAULT with ACCESS_PLATFORM acked (no "
     "IOTLB)"},
};
// clang-format on

#undef DATAPATH_BASICS
#undef DIRTYLOG_TESTS

const char *kind_name(Kind k) {
    switch (k) {
    case Kind::Feature:
        return "feature";
    case Kind::BackendFeature:
        return "backend feature";
    case Kind::Ioctl:
        return "ioctl";
    }
    return "?";
}

const Row *find_row(Kind kind, unsigned long key) {
    for (const auto &row : kTable)
        if (row.kind == kind && row.key == key)
            return &row;
    return nullptr;
}

// "_IOWR(0xaf, 0x12, 8)" for a request number.
std::string request_string(unsigned long req) {
    const unsigned dir = _IOC_DIR(req);
    const char *d = dir == _IOC_NONE                  ? "_IO"
                    : dir == _IOC_READ                ? "_IOR"
                    : dir == _IOC_WRITE               ? "_IOW"
                    : dir == (_IOC_READ | _IOC_WRITE) ? "_IOWR"
                                                      : "_IOC?";
    return fmt::format("{}({:#x}, {:#04x}, {}) = {:#010x}", d, _IOC_TYPE(req), _IOC_NR(req),
                       _IOC_SIZE(req), req);
}

std::string row_label(const Row &row) {
    if (row.kind == Kind::Ioctl)
        return fmt::format("{} {}", row.name, request_string(row.key));
    return fmt::format("{} {} (bit {})", kind_name(row.kind), row.name, row.key);
}

// The tests of `row` that are not registered in this binary (a glob: none matches).
std::vector<std::string> missing_tests(const Row &row, const std::vector<std::string> &registered) {
    std::vector<std::string> missing;
    for (const char *test : row.tests) {
        const bool found = std::ranges::any_of(registered, [test](const std::string &id) {
            return fnmatch(test, id.c_str(), 0) == 0;
        });
        if (!found)
            missing.emplace_back(test);
    }
    return missing;
}

// Checks `row` against the registry: it names tests, and they are registered. Appends what is
// wrong to `problems`.
void check_row(const Row &row, const std::vector<std::string> &registered,
               std::vector<std::string> &problems) {
    if (row.tests.empty()) {
        problems.push_back(
            fmt::format("{}: no VM test exercises it ({})", row_label(row), row.comment));
        return;
    }
    for (const auto &test : missing_tests(row, registered))
        problems.push_back(
            fmt::format("{}: names {}, which is not a registered test", row_label(row), test));
}

void report(const std::vector<std::string> &problems, const char *what) {
    for (const auto &p : problems)
        note("{}", p);
    if (!problems.empty())
        fail(fmt::format("{} {}; first: {}", problems.size(), what, problems.front()));
}

uint64_t get_u64(const char *dev, unsigned long req) {
    const int fd = open_dev(dev);
    uint64_t v = 0;
    if (ioctl(fd, req, &v) < 0)
        fail(fmt::format("{} on {}: {}", request_string(req), dev, errname(errno)));
    close(fd);
    return v;
}

std::vector<unsigned> bits_of(uint64_t v) {
    std::vector<unsigned> bits;
    for (unsigned b = 0; b < 64; b++)
        if (v >> b & 1)
            bits.push_back(b);
    return bits;
}

// ---------------------------------------------------------------------------------------------
// Probing ioctls.

// The argument sizes of the vhost uapi (every vhost device, not only net): 0 (_IO), 1 (u8:
// vdpa status, fork_from_owner), 2 (u16: vdpa vring num), 4 (int, u32, vhost_worker_state), 8
// (u64, vhost_vring_state, vhost_vring_file, vhost_memory's header, vhost_vring_worker,
// vhost_vdpa_config's header), 16 (vhost_vdpa_iova_range), 40 (vhost_vring_addr), 232
// (vhost_scsi_target).
constexpr unsigned kSizes[] = {0, 1, 2, 4, 8, 16, 40, 232};
constexpr unsigned kDirs[] = {_IOC_NONE, _IOC_READ, _IOC_WRITE, _IOC_READ | _IOC_WRITE};
constexpr unsigned kMaxNr = 0x7f;

// Exit statuses of a probe process besides the request's errno.
constexpr int kProbeOk = 200;       // the request returned >= 0
constexpr int kProbeNoOpen = 201;   // the device could not be opened
constexpr int kProbeNoOwner = 202;  // VHOST_SET_OWNER failed
constexpr int kProbeErrnoBig = 203; // an errno that does not fit an exit status

// Issues `req` with a zeroed 4 KiB argument on a fresh owned fd of `dev`, in a process of its own
// (whatever the request changes dies with that process and its fd). Returns the request's errno,
// kProbeOk, or one of the setup failures.
int probe(const char *dev, unsigned long req) {
    return in_child([dev, req] {
        alarm(10);
        // Zeroed arguments hold fd 0 (vhost_vring_file.fd, the log fd): make it /dev/null, so
        // that no request can take a real file of the harness.
        const int null_fd = open("/dev/null", O_RDWR);
        if (null_fd < 0 || dup2(null_fd, 0) < 0)
            return kProbeNoOpen;
        const int fd = open(dev, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            return kProbeNoOpen;
        if (ioctl(fd, VHOST_SET_OWNER, 0UL) < 0)
            return kProbeNoOwner;
        alignas(64) static unsigned char arg[4096];
        std::memset(arg, 0, sizeof arg);
        if (ioctl(fd, req, arg) >= 0)
            return kProbeOk;
        return errno < kProbeOk ? errno : kProbeErrnoBig;
    });
}

std::string probe_string(int r) {
    switch (r) {
    case kProbeOk:
        return "0";
    case kProbeNoOpen:
        return "open failed";
    case kProbeNoOwner:
        return "SET_OWNER failed";
    case kProbeErrnoBig:
        return "an errno above 199";
    default:
        return r > 128 && r < 128 + 65 ? fmt::format("killed by signal {}", r - 128) : errname(r);
    }
}

bool accepted(int r) {
    return r != ENOTTY;
}

void offered_bits_have_tests() {
    const auto registered = registered_tests();
    const uint64_t features = get_u64(kVhnet, VHOST_GET_FEATURES);
    const uint64_t backend = get_u64(kVhnet, VHOST_GET_BACKEND_FEATURES);
    note("vhnet offers features {:#x}, backend features {:#x}", features, backend);
    std::vector<std::string> problems;
    for (const auto &[kind, offered] :
         {std::pair{Kind::Feature, features}, std::pair{Kind::BackendFeature, backend}}) {
        for (const unsigned bit : bits_of(offered)) {
            const Row *row = find_row(kind, bit);
            if (!row) {
                problems.push_back(
                    fmt::format("{} bit {} is offered but has no row in the audit table",
                                kind_name(kind), bit));
                continue;
            }
            note("{}: {} | {}", row_label(*row), fmt::join(row->tests, " "), row->comment);
            check_row(*row, registered, problems);
        }
    }
    // A row for a bit no longer offered is stale, but harmless: say so.
    for (const auto &row : kTable) {
        if (row.kind == Kind::Ioctl)
            continue;
        const uint64_t offered = row.kind == Kind::Feature ? features : backend;
        if (row.key >= 64 || !(offered >> row.key & 1))
            note("{}: in the table but not offered", row_label(row));
    }
    report(problems, "offered bit(s) without tests");
}

// 128 numbers x 4 directions x 8 sizes, a process and a device each.
void accepted_ioctls_have_tests() {
    const auto registered = registered_tests();
    std::vector<std::string> problems;
    std::set<unsigned long> accepted_requests;
    unsigned probes = 0;
    for (unsigned nr = 0; nr <= kMaxNr; nr++) {
        for (const unsigned dir : kDirs) {
            for (const unsigned size : kSizes) {
                const unsigned long req = _IOC(dir, VHOST_VIRTIO, nr, size);
                const int r = probe(kVhnet, req);
                probes++;
                if (r == kProbeNoOpen || r == kProbeNoOwner)
                    fail(fmt::format("probe of {}: {}", request_string(req), probe_string(r)));
                if (!accepted(r))
                    continue;
                accepted_requests.insert(req);
                const Row *row = find_row(Kind::Ioctl, req);
                note("accepted: {} -> {} ({})", request_string(req), probe_string(r),
                     row ? row->name : "no row");
                if (!row)
                    problems.push_back(fmt::format("{} is accepted ({}) but has no row in the "
                                                   "audit table",
                                                   request_string(req), probe_string(r)));
                else
                    check_row(*row, registered, problems);
            }
        }
    }
    note("{} requests probed, {} accepted", probes, accepted_requests.size());

    // What vhost-net answers to the same requests: a request vhnet accepts and vhost-net does not
    // must be marked as a vhnet addition.
    for (const unsigned long req : accepted_requests) {
        const int theirs = probe(kVhostNet, req);
        const Row *row = find_row(Kind::Ioctl, req);
        if (!accepted(theirs) && row && !row->vhnet_addition)
            problems.push_back(fmt::format("{} is accepted by vhnet but not by vhost-net, and "
                                           "not marked as a vhnet addition",
                                           row_label(*row)));
    }
    // Rows of requests vhnet does not accept: stale or deliberate (the endian pair).
    for (const auto &row : kTable)
        if (row.kind == Kind::Ioctl && !accepted_requests.contains(row.key))
            note("{}: in the table, not accepted ({})", row_label(row), row.comment);
    report(problems, "accepted ioctl(s) without tests");
}

void table_matches_vhost_net() {
    std::vector<std::string> problems;
    for (const auto &[kind, req] : {std::pair{Kind::Feature, VHOST_GET_FEATURES},
                                    std::pair{Kind::BackendFeature, VHOST_GET_BACKEND_FEATURES}}) {
        const uint64_t ours = get_u64(kVhnet, req);
        const uint64_t theirs = get_u64(kVhostNet, req);
        note("{}s: vhnet {:#x}, vhost-net {:#x}", kind_name(kind), ours, theirs);
        for (const unsigned bit : bits_of(ours | theirs)) {
            const bool by_vhnet = ours >> bit & 1, by_vhost_net = theirs >> bit & 1;
            const Row *row = find_row(kind, bit);
            if (by_vhnet && !by_vhost_net && !(row && row->vhnet_addition))
                problems.push_back(fmt::format("{} bit {} ({}) is offered by vhnet, not by "
                                               "vhost-net, and not marked as a vhnet addition",
                                               kind_name(kind), bit, row ? row->name : "no row"));
            if (by_vhnet && by_vhost_net && row && row->vhnet_addition)
                problems.push_back(fmt::format("{}: marked as a vhnet addition, but vhost-net "
                                               "offers it too",
                                               row_label(*row)));
            if (!by_vhnet && by_vhost_net)
                note("{} bit {} ({}) is offered by vhost-net, not by vhnet (a documented "
                     "difference, Documentation/abi.rst)",
                     kind_name(kind), bit, row ? row->name : "no row");
        }
    }
    report(problems, "difference(s) from vhost-net not in the table");
}

const Registrar reg_bits("audit", "offered_bits_have_tests", offered_bits_have_tests);
const Registrar reg_ioctls("audit", "accepted_ioctls_have_tests", accepted_ioctls_have_tests, 600);
const Registrar reg_vhost_net("audit", "table_matches_vhost_net", table_matches_vhost_net);

} // namespace
