// SPDX-License-Identifier: GPL-2.0
// The benchmark suites behind make bench (bench/run.sh boots the VM and collects the figures).
// Not in run.sh's default suite list. Every figure is one line on stdout:
//
//     # bench {"test":"tx","size":64,"device":"vhnet","round":1,"warmup":false,
//              "metric":"pps","value":325569.0,"unit":"pps","count":...,"seconds":...}
//
// The same code measures three backends of a tap in turn, in the same boot, interleaved round
// by round (vhnet, vhost-net, tap, vhnet, ...):
//   - vhnet and vhost-net: libvhnet's Driver (the process plays the guest) with 1024-entry rings,
//     TX in batches (post until the ring is full, one kick), interrupts suppressed while there is
//     work and enabled (delayed, as virtio-net does) only to sleep when there is none;
//   - tap: the bare-tap reference, no virtio at all: write() of a virtio-net header and the frame
//     to the tap's file (TX), read() from it (RX).
// Rates are counted over a fixed window of CLOCK_MONOTONIC after a warm-up. Under
// run.sh --icount the guest clock counts instructions, so a rate there is CPU cost per packet.
//
// Suites: bench (instruction-counted, full), bench-quick (a short version of it, for make test),
// bench-wall (wall-clock, -smp 2: a warm-up round, then 5), bench-tcp (wall-clock only: bulk TCP
// between a nested QEMU guest and the VM for vhnet, vhost-net and vhost=off).
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "datapath_common.h"
#include "qemu_common.h"

using namespace vmtest;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock; // CLOCK_MONOTONIC
using dp::Bytes;
using vhnet::Queue;

namespace {

enum class Backend { Vhnet, VhostNet, Tap };
constexpr Backend kBackends[] = {Backend::Vhnet, Backend::VhostNet, Backend::Tap};

const char *label(Backend b) {
    switch (b) {
    case Backend::Vhnet:
        return "vhnet";
    case Backend::VhostNet:
        return "vhost-net";
    case Backend::Tap:
        break;
    }
    return "tap";
}

const char *device(Backend b) {
    return b == Backend::Vhnet ? kVhnet : kVhostNet;
}

// What one suite measures and for how long.
struct Plan {
    const char *suite;
    unsigned rounds;   // samples per backend and test
    bool warmup_round; // a first round that is reported but not counted (wall-clock)
    Clock::duration warmup, window;
    std::vector<size_t> tx_sizes, rx_sizes;
    size_t gso_size; // TX with TSO frames of this size; 0: none
    unsigned round_trips;
    unsigned tcp_mib; // bulk TCP per transfer; 0: no nested guest
};

constexpr size_t kRing = 1024;
constexpr uint16_t kTag = 0xbe;

// ---------------------------------------------------------------------------------------------
// Reporting.

struct Sample {
    std::string test;
    size_t size = 0;
    std::string device;
    unsigned round = 0;
    bool warmup = false;
    std::string metric;
    double value = 0;
    std::string unit;
    nlohmann::json extra = nlohmann::json::object();
};

void report(const Sample &s) {
    nlohmann::json j = {{"test", s.test},   {"size", s.size},     {"device", s.device},
                        {"round", s.round}, {"warmup", s.warmup}, {"metric", s.metric},
                        {"value", s.value}, {"unit", s.unit}};
    j.update(s.extra);
    fmt::print("# bench {}\n", j.dump());
    std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// Taps, the packet source and the reflector.

std::string next_tap() {
    static unsigned n = 0;
    return fmt::format("bn{}-{}", getpid() % 100000, n++);
}

vhnet::Tap bench_tap(size_t frame_len) {
    auto tap = dp::open_tap(next_tap());
    // The packet socket that injects refuses frames above the MTU (plus the Ethernet header).
    if (frame_len > 1514)
        dp::must(tap.set_mtu(static_cast<unsigned>(frame_len)), "set the tap's MTU");
    return tap;
}

// A forked helper process, killed and reaped when this goes out of scope.
class Child {
public:
    template <typename Fn>
    explicit Child(Fn &&fn) {
        std::fflush(stdout);
        pid_ = SYS(fork());
        if (pid_ == 0) {
            fn();
            _exit(0);
        }
    }
    Child(Child &&o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
    ~Child() {
        if (pid_ <= 0)
            return;
        ::kill(pid_, SIGKILL);
        while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    Child(const Child &) = delete;
    Child &operator=(const Child &) = delete;
    Child &operator=(Child &&) = delete;

private:
    pid_t pid_ = -1;
};

// An AF_PACKET socket on `ifname` for `protocol` frames.
int packet_socket(const std::string &ifname, uint16_t protocol) {
    const int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (ifindex == 0)
        fail("no interface " + ifname);
    int fd = SYS(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(protocol);
    a.sll_ifindex = ifindex;
    SYS(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a));
    return fd;
}

sockaddr_ll link_dest(const std::string &ifname) {
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    to.sll_halen = ETH_ALEN;
    return to;
}

// The RX packet source: a process that transmits `frame` on the tap with an AF_PACKET socket
// (qdisc bypassed) as fast as it can, so that it comes out of the tap's file. Frames the tap
// cannot queue are dropped there. It shares the CPU with what it feeds.
Child start_source(const std::string &ifname, const Bytes &frame) {
    int fd = packet_socket(ifname, 0);
    int one = 1;
    SYS(setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one));
    const sockaddr_ll to = link_dest(ifname);
    Child c([&] {
        for (;;)
            (void)sendto(fd, frame.data(), frame.size(), 0, reinterpret_cast<const sockaddr *>(&to),
                         sizeof to);
    });
    close(fd);
    return c;
}

// The far side of a round trip: a process with an AF_PACKET socket on the tap that takes every
// benchmark frame the tap receives from its file and transmits it back on the tap, into the
// file again. Bound before the child starts, so no frame is missed.
Child start_reflector(const std::string &ifname) {
    int fd = packet_socket(ifname, dp::kEtherType);
    const sockaddr_ll to = link_dest(ifname);
    Child c([&] {
        std::vector<std::byte> buf(65536);
        for (;;) {
            sockaddr_ll from{};
            socklen_t len = sizeof from;
            ssize_t n =
                recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr *>(&from), &len);
            if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING)
                continue;
            (void)sendto(fd, buf.data(), static_cast<size_t>(n), 0,
                         reinterpret_cast<const sockaddr *>(&to), sizeof to);
        }
    });
    close(fd);
    return c;
}

// ---------------------------------------------------------------------------------------------
// The Driver side.

vhnet::Driver open_driver(Backend b, const vhnet::Tap &tap, size_t frame_len, bool interrupts) {
    vhnet::DriverOptions o;
    o.device = device(b);
    o.backend_fd = tap.fd();
    o.ring_size = kRing;
    o.tx_buffer_size = std::max<size_t>(frame_len, 2048);
    o.interrupts = interrupts;
    return dp::must(vhnet::Driver::open(o), fmt::format("Driver::open({})", o.device));
}

// Sleeps until the device has used entries on `q` (or 100 ms passed), the way virtio-net does:
// interrupts stay off while there is work; to wait, they are enabled (on TX delayed, to wake
// when three quarters of the outstanding packets are done) and off again after.
void sleep_for_used(vhnet::Driver &d, Queue q) {
    if (d.enable_interrupts(q, q == Queue::Tx)) {
        auto r = d.wait_call(q, 100ms);
        if (!r && r.error().code() != ETIMEDOUT)
            fail("wait_call: " + r.error().message());
    }
    d.suppress_interrupts(q);
}

struct Count {
    uint64_t packets = 0;
    double seconds = 0;
};

// Calls `step` (which returns packets completed) for `warmup`, then counts over `window`. The
// window starts and ends at completions, so that completions arriving in bursts (a TX ring's
// worth at a time) are not cut at an arbitrary instant.
template <typename Step>
Count timed(const Plan &p, Step &&step) {
    auto t0 = Clock::now();
    for (;;) {
        const uint64_t n = step();
        if (n && Clock::now() - t0 >= p.warmup)
            break;
    }
    Count c;
    t0 = Clock::now();
    auto last = t0;
    for (auto now = t0; now - t0 < p.window;) {
        const uint64_t n = step();
        now = Clock::now();
        if (n) {
            c.packets += n;
            last = now;
        }
    }
    c.seconds = std::chrono::duration<double>(last - t0).count();
    return c;
}

Bytes bench_frame(size_t len, bool gso) {
    return gso ? dp::tcp_frame(len, kTag, 0) : dp::eth_frame(len, kTag, 0);
}

Count tx_once(const Plan &p, Backend b, size_t len, bool gso) {
    auto tap = bench_tap(0);
    const Bytes f = bench_frame(len, gso);
    const vhnet::NetHdr hdr = gso ? dp::tcp_gso_hdr() : vhnet::NetHdr{};
    if (b == Backend::Tap) {
        Bytes buf(12 + len);
        std::memcpy(buf.data(), &hdr, 12);
        std::memcpy(buf.data() + 12, f.data(), len);
        return timed(p, [&]() -> uint64_t {
            return write(tap.fd(), buf.data(), buf.size()) == ssize_t(buf.size()) ? 1 : 0;
        });
    }
    auto d = open_driver(b, tap, len, false);
    std::vector<std::span<const std::byte>> batch(kRing, std::span<const std::byte>(f));
    const Count c = timed(p, [&]() -> uint64_t {
        const unsigned posted = dp::must(d.send_batch(batch, hdr), "send_batch");
        const unsigned done = d.reap_tx();
        if (!posted && !done)
            sleep_for_used(d, Queue::Tx);
        return done;
    });
    dp::wait_tx_done(d);
    return c;
}

Count rx_once(const Plan &p, Backend b, size_t len) {
    auto tap = bench_tap(len);
    const Child source = start_source(tap.name(), bench_frame(len, false));
    if (b == Backend::Tap) {
        Bytes buf(12 + len + 64);
        return timed(
            p, [&]() -> uint64_t { return read(tap.fd(), buf.data(), buf.size()) > 12 ? 1 : 0; });
    }
    auto d = open_driver(b, tap, len, false);
    dp::must(d.post_rx(kRing), "post_rx");
    return timed(p, [&]() -> uint64_t {
        auto r = dp::must(d.receive(), "receive");
        if (r)
            return 1;
        sleep_for_used(d, Queue::Rx);
        return 0;
    });
}

// Round-trip times in nanoseconds: a frame out through the backend, reflected on the tap's
// far side, back in through the backend; the next one goes when it is back.
std::vector<double> rtt_once(const Plan &p, Backend b, size_t len) {
    auto tap = bench_tap(len);
    const Child reflector = start_reflector(tap.name());
    const unsigned warm = std::max(p.round_trips / 10, 10u);
    std::vector<double> ns;
    ns.reserve(p.round_trips);
    auto measure = [&](auto &&trip) {
        for (unsigned i = 0; i < warm + p.round_trips; i++) {
            const Bytes f = dp::eth_frame(len, kTag, i);
            const auto t0 = Clock::now();
            trip(f, i);
            const auto t1 = Clock::now();
            if (i >= warm)
                ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
        }
    };
    if (b == Backend::Tap) {
        Bytes buf(12 + len + 64);
        measure([&](const Bytes &f, uint32_t seq) {
            std::memset(buf.data(), 0, 12);
            std::memcpy(buf.data() + 12, f.data(), f.size());
            SYS(write(tap.fd(), buf.data(), 12 + f.size()));
            for (;;) {
                pollfd pfd{tap.fd(), POLLIN, 0};
                if (SYS(poll(&pfd, 1, 2000)) == 0)
                    fail(fmt::format("round trip {}: nothing came back in 2 s", seq));
                ssize_t n = SYS(read(tap.fd(), buf.data(), buf.size()));
                auto id = dp::frame_id(std::span(buf).subspan(12, size_t(n) - 12));
                if (id && id->tag == kTag && id->seq == seq)
                    return;
            }
        });
        return ns;
    }
    // Interrupts on: both directions sleep on the call eventfd, as a guest waiting for a reply.
    auto d = open_driver(b, tap, len, true);
    dp::must(d.post_rx(64), "post_rx");
    measure([&](const Bytes &f, uint32_t seq) {
        dp::must(d.send(f), "send");
        for (;;) {
            auto r = dp::must(d.receive(2000ms), fmt::format("round trip {}", seq));
            auto id = dp::frame_id(r.frame);
            if (id && id->tag == kTag && id->seq == seq)
                break;
        }
        d.reap_tx();
    });
    dp::wait_tx_done(d);
    return ns;
}

// ---------------------------------------------------------------------------------------------
// The tests.

// Runs `sample(backend, round, warmup)` for every round and backend, interleaved.
template <typename Fn>
void interleaved(const Plan &p, Fn &&sample) {
    const unsigned first = p.warmup_round ? 0 : 1;
    for (unsigned round = first; round <= p.rounds; round++)
        for (Backend b : kBackends)
            sample(b, round, round == 0);
}

void report_rate(const char *test, size_t size, Backend b, unsigned round, bool warmup,
                 const Count &c) {
    const double pps = c.seconds > 0 ? double(c.packets) / c.seconds : 0;
    report({test,
            size,
            label(b),
            round,
            warmup,
            "pps",
            pps,
            "pps",
            {{"count", c.packets}, {"seconds", c.seconds}}});
    if (pps <= 0)
        fail(fmt::format("{} {} B on {}: no packet in {:.3f} s", test, size, label(b), c.seconds));
}

void tx_test(const Plan &p, size_t len, bool gso) {
    interleaved(p, [&](Backend b, unsigned round, bool warm) {
        report_rate(gso ? "tx-gso" : "tx", len, b, round, warm, tx_once(p, b, len, gso));
    });
}

void rx_test(const Plan &p, size_t len) {
    interleaved(p, [&](Backend b, unsigned round, bool warm) {
        report_rate("rx", len, b, round, warm, rx_once(p, b, len));
    });
}

void latency_test(const Plan &p, size_t len) {
    interleaved(p, [&](Backend b, unsigned round, bool warm) {
        auto ns = rtt_once(p, b, len);
        if (ns.empty())
            fail("no round trip");
        std::sort(ns.begin(), ns.end());
        const double p50 = ns[ns.size() / 2] / 1000, p99 = ns[ns.size() * 99 / 100] / 1000;
        const nlohmann::json extra = {{"count", ns.size()}};
        report({"latency", len, label(b), round, warm, "p50", p50, "us", extra});
        report({"latency", len, label(b), round, warm, "p99", p99, "us", extra});
    });
}

const char *tcp_label(qemu::Backend b) {
    return b == qemu::Backend::Userspace ? "vhost=off" : qemu::name(b);
}

// Bulk TCP with a nested guest on `b`: a warm-up transfer each way, then `rounds` each way. One
// guest runs at a time and boots in ~25 s, so backends are not interleaved round by round.
void tcp_test(const Plan &p, qemu::Backend b) {
    const auto g = qemu::Guest::start(b);
    for (unsigned round = 0; round <= p.rounds; round++) {
        const auto to = qemu::tcp_to_guest(g, p.tcp_mib);
        const auto from = qemu::tcp_from_guest(g, p.tcp_mib);
        for (auto [test, t] : {std::pair{"tcp-to-guest", to}, std::pair{"tcp-from-guest", from}}) {
            report({test,
                    p.tcp_mib << 20,
                    tcp_label(b),
                    round,
                    round == 0,
                    "mbit_s",
                    t.mbit_s(),
                    "Mbit/s",
                    {{"bytes", t.bytes}, {"seconds", t.seconds}}});
            EXPECT(t.mbit_s() > 0);
        }
    }
    g.quit();
}

const Plan kPlans[] = {
    {"bench", 2, false, 100ms, 500ms, {64, 256, 1500, 9000}, {64, 256, 1500, 9000}, 65536, 2000, 0},
    {"bench-quick", 1, false, 50ms, 200ms, {64, 1500}, {64, 1500}, 65536, 300, 0},
    {"bench-wall",
     5,
     true,
     100ms,
     500ms,
     {64, 256, 1500, 9000},
     {64, 256, 1500, 9000},
     65536,
     2000,
     0},
    {"bench-tcp", 5, true, 0ms, 0ms, {}, {}, 0, 0, 8},
};

// A generous limit: samples times their length, plus setup, four times over (TCG is slow).
unsigned limit_s(const Plan &p) {
    const double per = std::chrono::duration<double>(p.warmup + p.window).count() + 1;
    return static_cast<unsigned>(4 * (p.rounds + 1) * 3 * per) + 60;
}

[[maybe_unused]] const bool registered = [] {
    for (const Plan &p : kPlans) {
        if (p.tcp_mib) {
            for (auto b : {qemu::Backend::Vhnet, qemu::Backend::VhostNet, qemu::Backend::Userspace})
                add_test(
                    p.suite,
                    std::string("tcp-") +
                        (b == qemu::Backend::Userspace ? "vhost-off" : qemu::name(b)),
                    [&p, b] { tcp_test(p, b); }, 600);
            add_test(
                p.suite, "cleanup", [] { qemu::quit_all(); }, 60);
            continue;
        }
        for (size_t len : p.tx_sizes)
            add_test(
                p.suite, fmt::format("tx-{}", len), [&p, len] { tx_test(p, len, false); },
                limit_s(p));
        if (p.gso_size)
            add_test(
                p.suite, fmt::format("tx-gso-{}", p.gso_size),
                [&p] { tx_test(p, p.gso_size, true); }, limit_s(p));
        for (size_t len : p.rx_sizes)
            add_test(
                p.suite, fmt::format("rx-{}", len), [&p, len] { rx_test(p, len); }, limit_s(p));
        add_test(
            p.suite, "latency-64", [&p] { latency_test(p, 64); }, 600);
    }
    return true;
}();

} // namespace
