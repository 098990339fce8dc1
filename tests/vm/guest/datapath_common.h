// SPDX-License-Identifier: GPL-2.0
// Shared by the "datapath" suite's files: running one workload on both devices in processes of
// their own and comparing what each observed; taps; frames; the tap's other side (an AF_PACKET
// socket bound to it, to capture what the device sent and to inject what it should receive).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <vhnet/driver.h>
#include <vhnet/tap.h>

#include "util.h"

namespace dp {

using namespace std::chrono_literals;
using Bytes = std::vector<std::byte>;
using vhnet::Queue;

// ---------------------------------------------------------------------------------------------
// Running a workload on both devices.

// The device a workload runs on, and names for what it creates.
struct Ctx {
    const char *dev;
    char letter; // 'a' for vhnet, 'b' for vhost-net: taps are named dp-a..., dp-b...
    bool vhnet() const { return letter == 'a'; }
    const char *name() const { return vhnet() ? "vhnet" : "vhost-net"; }
    // "dp-a-" + suffix (interface names have at most 15 characters).
    std::string tap(const std::string &suffix) const;
};

// What a workload observed, "key" -> "value" (one line each, no tabs).
using Obs = std::map<std::string, std::string>;

struct DevRun {
    bool ok = false;
    std::string failure; // why the workload failed, if it did
    Obs obs;
};

using Workload = std::function<void(const Ctx &, Obs &)>;

// Runs `fn` for `dev` in a forked process with a time limit and returns what it observed.
DevRun run_on(const char *dev, const Workload &fn, unsigned timeout_s);
// Runs `fn` on vhnet, then on vhost-net. Fails the test if vhost-net (the reference) failed, or
// if vhnet failed (naming vhost-net's result); prints both failures first. With `rounds` > 1
// the pair runs that many times (vhnet, vhost-net, vhnet, ...) and the last round counts: the
// earlier ones warm up what both devices share (under TCG, the translated code of the tap, the
// packet socket and the test itself), so that timing-dependent counts compare fairly.
std::array<DevRun, 2> run_both(const Workload &fn, unsigned timeout_s = 60, unsigned rounds = 1);
// Fails unless both devices observed the same value for every key (or for the keys `keep` says
// yes to); names each difference.
void expect_same_obs(const std::array<DevRun, 2> &runs,
                     const std::function<bool(const std::string &)> &keep = {});
// Prints what both devices observed, one note per key.
void note_obs(const std::array<DevRun, 2> &runs);

// One test of the suite with its own time limit.
struct TestDef {
    const char *name;
    void (*fn)();
    unsigned timeout_s;
};
// Registers tests of a suite (add_test), in order: the datapath suite, or the one named.
void register_tests(std::span<const TestDef> tests, const char *suite = "datapath");

// The tests of the other files, registered by datapath_test.cpp in the order the suite runs:
// datapath_test.cpp's own, the malformed rings, then the lifecycle.
void register_bad_ring_tests();
void register_lifecycle_tests();

// ---------------------------------------------------------------------------------------------
// libvhnet results.

template <typename T>
T must(vhnet::Result<T> r, const std::string &what) {
    if (!r)
        vmtest::fail(fmt::format("{}: {}", what, r.error().message()));
    return std::move(r.value());
}
void must(const vhnet::Result<void> &r, const std::string &what);

// ---------------------------------------------------------------------------------------------
// Taps and the device.

// A tap named `name` (IFF_VNET_HDR, 12-byte header), IPv6 off so the kernel sends nothing on it,
// brought up; with `offloads` (TUN_F_*) if given.
vhnet::Tap open_tap(const std::string &name, std::optional<unsigned> offloads = std::nullopt);
// The tap's receive counter (frames the device sent into it).
uint64_t tap_rx_packets(const std::string &name);

// DriverOptions for `ctx`'s device with `tap_fd` as the backend.
vhnet::DriverOptions driver_options(const Ctx &ctx, int tap_fd);

// Waits until every TX packet in flight has completed, reaping them: fails after `timeout`
// without progress.
void wait_tx_done(vhnet::Driver &d, std::chrono::milliseconds timeout = 3000ms);

// The counters of this process's vhnet device's queue (debugfs vq<N>/stats); fails unless the
// process owns exactly one vhnet device.
std::map<std::string, uint64_t> vhnet_queue_stats(Queue queue);
// Reads `read()` every 10 ms until it gives `want` or `limit` has passed; returns the last value.
long wait_for_value(const std::function<long()> &read, long want, std::chrono::milliseconds limit);
// Waits up to 3 s for the live vhnet instance count to come back to `n`; returns the count.
int wait_vhnet_instances(int n);

// ---------------------------------------------------------------------------------------------
// Frames. Every frame the suite sends carries an id: a magic number, a tag (which test) and a
// sequence number, so that captures can skip anything else.

inline constexpr uint16_t kEtherType = 0x88b5; // local experimental
inline constexpr uint32_t kMagic = 0x56484450; // "VHDP"

struct FrameId {
    uint16_t tag = 0;
    uint32_t seq = 0;
    bool operator==(const FrameId &) const = default;
};

// An Ethernet frame of `len` bytes (at least 60): to a unicast MAC no one has, EtherType
// kEtherType, the id, then a pattern that depends on seq.
Bytes eth_frame(size_t len, uint16_t tag, uint32_t seq);
// A real Ethernet/IPv4/TCP frame of `len` bytes (at least 64), 198.18.0.1 -> 198.18.0.2, the TCP
// checksum field holding the pseudo-header sum (as for checksum offload), the id at the start of
// the payload.
Bytes tcp_frame(size_t len, uint16_t tag, uint32_t seq);
// The header that makes a tcp_frame() a TSO packet: NEEDS_CSUM at 34+16, TCPV4, gso_size 1448.
vhnet::NetHdr tcp_gso_hdr();
std::optional<FrameId> frame_id(std::span<const std::byte> frame);
uint64_t digest(std::span<const std::byte> data);
// "" if equal, else where they first differ.
std::string diff(std::span<const std::byte> got, std::span<const std::byte> want);

// struct virtio_net_hdr (10 bytes), as AF_PACKET's PACKET_VNET_HDR carries it.
struct VnetHdr {
    uint8_t flags = 0;
    uint8_t gso_type = 0;
    uint16_t hdr_len = 0;
    uint16_t gso_size = 0;
    uint16_t csum_start = 0;
    uint16_t csum_offset = 0;
};
static_assert(sizeof(VnetHdr) == 10);

// ---------------------------------------------------------------------------------------------
// The tap's other side.

// An AF_PACKET socket bound to the tap that sees every frame entering the interface from its
// file (the device's TX), with the virtio-net header the kernel derives from the skb.
class Capture {
public:
    explicit Capture(const std::string &ifname);
    ~Capture();
    Capture(const Capture &) = delete;
    Capture &operator=(const Capture &) = delete;

    struct Frame {
        VnetHdr hdr;
        Bytes data;
        FrameId id;
    };
    // The next captured frame with `tag`, skipping others; nullopt after `timeout`.
    std::optional<Frame> next(uint16_t tag, std::chrono::milliseconds timeout = 2000ms);
    // Reads frames with `tag` until none comes for `idle`; returns them.
    std::vector<Frame> drain(uint16_t tag, std::chrono::milliseconds idle = 300ms);

private:
    int fd_ = -1;
    std::vector<std::byte> buf_;
};

// An AF_PACKET socket bound to the tap that transmits frames on it: they come out of the tap's
// file, into the device's RX. With `vnet_hdr` each frame is led by a VnetHdr (for GSO frames).
class Injector {
public:
    explicit Injector(const std::string &ifname, bool vnet_hdr = false);
    ~Injector();
    Injector(const Injector &) = delete;
    Injector &operator=(const Injector &) = delete;
    void send(std::span<const std::byte> frame, const VnetHdr &hdr = {});

private:
    int fd_ = -1;
    int ifindex_ = 0;
    bool vnet_hdr_ = false;
};

// Writes `frame` (behind a zero 12-byte virtio-net header) into the tap's file: the frame enters
// the interface as if a device had sent it.
void write_to_tap(const vhnet::Tap &tap, std::span<const std::byte> frame);

} // namespace dp
