// SPDX-License-Identifier: GPL-2.0
// Suite "perf": a quick packets-per-second measurement of TX and RX through libvhnet's Driver,
// for vhnet and vhost-net in the same boot. Not part of the default run: run it in the
// instruction-counted mode (tests/vm/run.sh --icount --suite perf), where a guest-second is a
// fixed number of instructions, so the rates measure CPU cost per packet and repeat exactly.
// The rigorous benchmark is make bench; this suite only checks that traffic flows and prints.
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <vector>

#include <vhnet/driver.h>
#include <vhnet/tap.h>

#include "util.h"

using namespace vmtest;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kRun = std::chrono::milliseconds(1000);
// A local experimental EtherType, to a unicast MAC no one has: the stack drops it at once.
constexpr uint16_t kEtherType = 0x88b5;

std::vector<std::byte> frame(size_t len) {
    std::vector<std::byte> f(len);
    const uint8_t hdr[14] = {
        0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, kEtherType >> 8, kEtherType & 0xff};
    for (size_t i = 0; i < len; i++)
        f[i] = std::byte(i < sizeof(hdr) ? hdr[i] : uint8_t(i));
    return f;
}

template <typename T>
T must(vhnet::Result<T> r, const char *what) {
    if (!r)
        fail(fmt::format("{}: {}", what, r.error().message()));
    return std::move(r.value());
}

vhnet::Tap open_tap(const std::string &name) {
    vhnet::TapOptions o;
    o.name = name;
    auto tap = must(vhnet::Tap::open(o), "tap");
    auto up = tap.set_up(true);
    if (!up)
        fail(up.error().message());
    return tap;
}

vhnet::Driver open_driver(const char *dev, int tap_fd) {
    vhnet::DriverOptions o;
    o.device = dev;
    o.ring_size = 1024;
    o.interrupts = false; // poll the used ring: measure the device, not interrupt delivery
    auto d = must(vhnet::Driver::open(o), "Driver::open");
    auto a = d.attach(tap_fd);
    if (!a)
        fail(a.error().message());
    return d;
}

double tx_pps(const char *dev, const std::string &tap_name, size_t len) {
    auto tap = open_tap(tap_name);
    auto d = open_driver(dev, tap.fd());
    auto f = frame(len);
    std::vector<std::span<const std::byte>> batch(64, std::span<const std::byte>(f));
    uint64_t done = 0;
    auto start = Clock::now();
    while (Clock::now() - start < kRun) {
        auto sent = d.send_batch(batch);
        if (!sent)
            fail(sent.error().message());
        done += d.reap_tx();
        if (!sent.value())
            (void)d.wait_used(vhnet::Queue::Tx, std::chrono::milliseconds(100));
    }
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    return double(done) / secs;
}

// Sends frames into the tap from the kernel side (AF_PACKET on the interface) until killed.
pid_t start_injector(const std::string &tap_name, size_t len) {
    pid_t pid = fork();
    if (pid)
        return pid;
    int s = socket(AF_PACKET, SOCK_RAW, 0);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = int(if_nametoindex(tap_name.c_str()));
    to.sll_halen = ETH_ALEN;
    auto f = frame(len);
    for (;;)
        sendto(s, f.data(), f.size(), 0, reinterpret_cast<sockaddr *>(&to), sizeof(to));
}

double rx_pps(const char *dev, const std::string &tap_name, size_t len) {
    auto tap = open_tap(tap_name);
    auto d = open_driver(dev, tap.fd());
    must(d.post_rx(1024), "post_rx");
    pid_t injector = start_injector(tap_name, len);
    uint64_t got = 0;
    auto start = Clock::now();
    while (Clock::now() - start < kRun) {
        auto p = d.receive();
        if (!p)
            fail(p.error().message());
        if (p.value())
            got++;
        else
            (void)d.wait_used(vhnet::Queue::Rx, std::chrono::milliseconds(100));
    }
    double secs = std::chrono::duration<double>(Clock::now() - start).count();
    kill(injector, SIGKILL);
    waitpid(injector, nullptr, 0);
    return double(got) / secs;
}

void measure(const char *what, double (*fn)(const char *, const std::string &, size_t),
             size_t len) {
    double pps[2];
    for (int i = 0; i < 2; i++) {
        pps[i] = fn(kDevices[i], fmt::format("pf-{}{}", "ab"[i], len), len);
        EXPECT(pps[i] > 0);
    }
    note("{} {} B: vhnet {:.0f} pps, vhost-net {:.0f} pps, ratio {:.3f}", what, len, pps[0], pps[1],
         pps[0] / pps[1]);
}

} // namespace

VMTEST(perf, tx_64) {
    measure("TX", tx_pps, 64);
}
VMTEST(perf, tx_1500) {
    measure("TX", tx_pps, 1500);
}
VMTEST(perf, rx_64) {
    measure("RX", rx_pps, 64);
}
VMTEST(perf, rx_1500) {
    measure("RX", rx_pps, 1500);
}
