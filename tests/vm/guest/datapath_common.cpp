// SPDX-License-Identifier: GPL-2.0
#include "datapath_common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

namespace dp {

using namespace vmtest;
using Clock = std::chrono::steady_clock;

std::string Ctx::tap(const std::string &suffix) const {
    std::string name = fmt::format("dp-{}-{}", letter, suffix);
    if (name.size() > 15)
        fail(fmt::format("tap name {} is longer than 15 characters", name));
    return name;
}

// ---------------------------------------------------------------------------------------------
// Running a workload on both devices.

namespace {

std::string clean(std::string s) {
    for (char &ch : s)
        if (ch == '\n' || ch == '\t')
            ch = ' ';
    return s;
}

} // namespace

DevRun run_on(const char *dev, const Workload &fn, unsigned timeout_s) {
    const auto [msg, status] = reply_from_child(timeout_s, [dev, &fn] {
        Ctx ctx{dev, std::strcmp(dev, kVhnet) == 0 ? 'a' : 'b'};
        try {
            Obs obs;
            fn(ctx, obs);
            std::string reply = "OK\n";
            for (const auto &[k, v] : obs)
                reply += clean(k) + "\t" + clean(v) + "\n";
            return reply;
        } catch (const Failure &f) {
            return "F " + f.message;
        } catch (const std::exception &e) {
            return std::string("F exception: ") + e.what();
        }
    });
    DevRun run;
    if (msg.empty()) {
        run.failure = WIFSIGNALED(status)
                          ? fmt::format("the process died: {}{}", strsignal(WTERMSIG(status)),
                                        WTERMSIG(status) == SIGALRM
                                            ? fmt::format(" (timed out after {}s)", timeout_s)
                                            : "")
                          : fmt::format("the process exited with {}", WEXITSTATUS(status));
        return run;
    }
    if (msg.starts_with("F ")) {
        run.failure = msg.substr(2);
        return run;
    }
    run.ok = true;
    std::istringstream in(msg.substr(3));
    std::string line;
    while (std::getline(in, line)) {
        auto tab = line.find('\t');
        if (tab != std::string::npos)
            run.obs[line.substr(0, tab)] = line.substr(tab + 1);
    }
    return run;
}

std::array<DevRun, 2> run_both(const Workload &fn, unsigned timeout_s, unsigned rounds) {
    std::array<DevRun, 2> runs;
    for (unsigned round = 0; round < rounds; round++)
        for (size_t i = 0; i < 2; i++)
            runs[i] = run_on(kDevices[i], fn, timeout_s);
    const DevRun &a = runs[0], &b = runs[1];
    if (!b.ok) {
        if (!a.ok)
            note("vhnet failed too: {}", a.failure);
        fail(
            fmt::format("vhost-net (the reference) failed, so the test is suspect: {}", b.failure));
    }
    if (!a.ok) {
        for (const auto &[k, v] : b.obs)
            note("vhost-net {}: {}", k, v);
        fail(fmt::format("vhnet: {} (vhost-net passed)", a.failure));
    }
    return runs;
}

void expect_same_obs(const std::array<DevRun, 2> &runs,
                     const std::function<bool(const std::string &)> &keep) {
    std::set<std::string> keys;
    for (const auto &r : runs)
        for (const auto &kv : r.obs)
            keys.insert(kv.first);
    std::vector<std::string> diffs;
    for (const auto &k : keys) {
        if (keep && !keep(k))
            continue;
        auto a = runs[0].obs.find(k), b = runs[1].obs.find(k);
        std::string va = a == runs[0].obs.end() ? "(none)" : a->second;
        std::string vb = b == runs[1].obs.end() ? "(none)" : b->second;
        if (va != vb)
            diffs.push_back(fmt::format("{}: vhnet '{}' but vhost-net '{}'", k, va, vb));
    }
    for (const auto &d : diffs)
        note("differs: {}", d);
    if (!diffs.empty())
        fail(fmt::format("{} observation(s) differ, first: {}", diffs.size(), diffs.front()));
}

void note_obs(const std::array<DevRun, 2> &runs) {
    std::set<std::string> keys;
    for (const auto &r : runs)
        for (const auto &kv : r.obs)
            keys.insert(kv.first);
    for (const auto &k : keys) {
        auto a = runs[0].obs.find(k), b = runs[1].obs.find(k);
        note("{}: vhnet {} | vhost-net {}", k, a == runs[0].obs.end() ? "(none)" : a->second,
             b == runs[1].obs.end() ? "(none)" : b->second);
    }
}

void register_tests(std::span<const TestDef> tests, const char *suite) {
    for (const auto &t : tests)
        add_test(suite, t.name, t.fn, t.timeout_s);
}

void must(const vhnet::Result<void> &r, const std::string &what) {
    if (!r)
        fail(fmt::format("{}: {}", what, r.error().message()));
}

// ---------------------------------------------------------------------------------------------
// Taps and the device.

vhnet::Tap open_tap(const std::string &name, std::optional<unsigned> offloads) {
    vhnet::TapOptions o;
    o.name = name;
    o.vnet_hdr_size = 12;
    o.offloads = offloads;
    auto tap = must(vhnet::Tap::open(o), "open tap " + name);
    // No IPv6 (router solicitations, MLD) on the interface: the suite sees only its own frames.
    std::ofstream(fmt::format("/proc/sys/net/ipv6/conf/{}/disable_ipv6", name)) << "1\n";
    must(tap.set_up(true), "bring " + name + " up");
    return tap;
}

uint64_t tap_rx_packets(const std::string &name) {
    return std::stoull(read_text(fmt::format("/sys/class/net/{}/statistics/rx_packets", name)));
}

vhnet::DriverOptions driver_options(const Ctx &ctx, int tap_fd) {
    vhnet::DriverOptions o;
    o.device = ctx.dev;
    o.backend_fd = tap_fd;
    return o;
}

void wait_tx_done(vhnet::Driver &d, std::chrono::milliseconds timeout) {
    d.reap_tx();
    while (d.in_flight(Queue::Tx) != 0) {
        auto r = d.wait_used(Queue::Tx, timeout);
        if (!r)
            fail(fmt::format("{} TX packets not completed: {}", d.in_flight(Queue::Tx),
                             r.error().message()));
        d.reap_tx();
    }
}

std::map<std::string, uint64_t> vhnet_queue_stats(Queue queue) {
    const auto mine = vhnet_instance_of(getpid());
    if (mine.empty())
        fail("this process owns no vhnet device");
    const auto fields = debugfs_fields(
        fmt::format("{}/{}/vq{}/stats", kDebugfs, mine, static_cast<unsigned>(queue)));
    std::map<std::string, uint64_t> stats;
    for (const auto &[name, value] : fields)
        stats[name] = field_num(fields, name);
    return stats;
}

long wait_for_value(const std::function<long()> &read, long want, std::chrono::milliseconds limit) {
    long now = read();
    for (auto waited = 0ms; waited < limit && now != want; waited += 10ms) {
        std::this_thread::sleep_for(10ms);
        now = read();
    }
    return now;
}

int wait_vhnet_instances(int n) {
    return static_cast<int>(wait_for_value(vhnet_instances, n, 3000ms));
}

// ---------------------------------------------------------------------------------------------
// Frames.

namespace {

constexpr uint8_t kDstMac[6] = {0x02, 0, 0, 0, 0, 0x02};
constexpr uint8_t kSrcMac[6] = {0x02, 0, 0, 0, 0, 0x01};
constexpr size_t kEthLen = 14, kIpLen = 20, kTcpLen = 20;
constexpr size_t kTcpPayload = kEthLen + kIpLen + kTcpLen;

void put8(Bytes &b, size_t at, unsigned v) {
    b[at] = std::byte(static_cast<uint8_t>(v));
}
void put16(Bytes &b, size_t at, unsigned v) {
    put8(b, at, v >> 8);
    put8(b, at + 1, v);
}
void put32(Bytes &b, size_t at, uint32_t v) {
    put16(b, at, v >> 16);
    put16(b, at + 2, v & 0xffff);
}
unsigned get16(std::span<const std::byte> b, size_t at) {
    return unsigned(b[at]) << 8 | unsigned(b[at + 1]);
}
uint32_t get32(std::span<const std::byte> b, size_t at) {
    return uint32_t{get16(b, at)} << 16 | get16(b, at + 2);
}

void put_eth(Bytes &f, unsigned type) {
    for (size_t i = 0; i < 6; i++) {
        put8(f, i, kDstMac[i]);
        put8(f, 6 + i, kSrcMac[i]);
    }
    put16(f, 12, type);
}

// The id and the pattern from `at` on.
void put_payload(Bytes &f, size_t at, uint16_t tag, uint32_t seq) {
    put32(f, at, kMagic);
    put16(f, at + 4, tag);
    put32(f, at + 6, seq);
    for (size_t i = at + 10; i < f.size(); i++)
        put8(f, i, static_cast<unsigned>((seq * 31 + i * 7) & 0xff));
}

// The ones' complement sum of 16-bit words, folded, not complemented.
uint32_t sum16(std::span<const std::byte> b, uint32_t sum = 0) {
    for (size_t i = 0; i + 1 < b.size(); i += 2)
        sum += get16(b, i);
    if (b.size() % 2)
        sum += unsigned(b.back()) << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return sum;
}

} // namespace

Bytes eth_frame(size_t len, uint16_t tag, uint32_t seq) {
    if (len < 60)
        fail(fmt::format("eth_frame of {} bytes", len));
    Bytes f(len);
    put_eth(f, kEtherType);
    put_payload(f, kEthLen, tag, seq);
    return f;
}

Bytes tcp_frame(size_t len, uint16_t tag, uint32_t seq) {
    if (len < kTcpPayload + 10 || len - kEthLen > 0xffff)
        fail(fmt::format("tcp_frame of {} bytes", len));
    Bytes f(len);
    put_eth(f, 0x0800);
    const size_t ip = kEthLen, tcp = kEthLen + kIpLen;
    const auto ip_len = static_cast<unsigned>(len - kEthLen);
    put8(f, ip, 0x45);
    put16(f, ip + 2, ip_len);
    put16(f, ip + 4, seq & 0xffff);
    put16(f, ip + 6, 0x4000); // DF
    put8(f, ip + 8, 64);
    put8(f, ip + 9, 6);
    put32(f, ip + 12, 0xc6120001); // 198.18.0.1
    put32(f, ip + 16, 0xc6120002); // 198.18.0.2
    put16(f, ip + 10, ~sum16(std::span(f).subspan(ip, kIpLen)) & 0xffff);
    put16(f, tcp, 40000);
    put16(f, tcp + 2, 5001);
    put32(f, tcp + 4, seq * 100000u);
    put8(f, tcp + 12, 0x50);    // 20-byte header
    put8(f, tcp + 13, 0x18);    // PSH ACK
    put16(f, tcp + 14, 0xffff); // window
    put_payload(f, kTcpPayload, tag, seq);
    // The pseudo-header sum, as a stack offloading the checksum leaves it.
    uint32_t pseudo = 0xc612 + 0x0001 + 0xc612 + 0x0002 + 6 + (ip_len - kIpLen);
    put16(f, tcp + 16, sum16({}, pseudo));
    return f;
}

vhnet::NetHdr tcp_gso_hdr() {
    vhnet::NetHdr h;
    h.flags = vhnet::NetHdr::kNeedsCsum;
    h.gso_type = vhnet::NetHdr::kGsoTcpV4;
    h.hdr_len = kTcpPayload;
    h.gso_size = 1448;
    h.csum_start = kEthLen + kIpLen;
    h.csum_offset = 16;
    return h;
}

std::optional<FrameId> frame_id(std::span<const std::byte> f) {
    if (f.size() < kEthLen)
        return std::nullopt;
    size_t at = 0;
    if (get16(f, 12) == kEtherType)
        at = kEthLen;
    else if (get16(f, 12) == 0x0800 && f.size() >= kTcpPayload + 10 &&
             unsigned(f[kEthLen]) == 0x45 && unsigned(f[kEthLen + 9]) == 6)
        at = kTcpPayload;
    else
        return std::nullopt;
    if (f.size() < at + 10 || get32(f, at) != kMagic)
        return std::nullopt;
    return FrameId{static_cast<uint16_t>(get16(f, at + 4)), get32(f, at + 6)};
}

uint64_t digest(std::span<const std::byte> data) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (std::byte b : data) {
        h ^= uint64_t(b);
        h *= 0x100000001b3ULL;
    }
    return h;
}

std::string diff(std::span<const std::byte> got, std::span<const std::byte> want) {
    size_t n = std::min(got.size(), want.size());
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            return fmt::format("{} bytes (want {}), first difference at byte {}: {:#04x} (want "
                               "{:#04x})",
                               got.size(), want.size(), i, unsigned(got[i]), unsigned(want[i]));
    if (got.size() != want.size())
        return fmt::format("{} bytes, want {}", got.size(), want.size());
    return "";
}

// ---------------------------------------------------------------------------------------------
// The tap's other side.

namespace {

int packet_socket(const std::string &ifname, unsigned protocol, bool vnet_hdr, int *ifindex) {
    *ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
    if (*ifindex == 0)
        fail(fmt::format("no interface {}", ifname));
    // Protocol 0 until bound: no frame of another interface gets in first.
    int fd = SYS(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    int one = 1;
    if (vnet_hdr)
        SYS(setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one));
    int size = 32 << 20;
    SYS(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size));
    SYS(setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size));
    sockaddr_ll a{};
    a.sll_family = AF_PACKET;
    a.sll_protocol = htons(static_cast<uint16_t>(protocol));
    a.sll_ifindex = *ifindex;
    SYS(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a));
    return fd;
}

} // namespace

Capture::Capture(const std::string &ifname) : buf_(70000) {
    int ifindex = 0;
    fd_ = packet_socket(ifname, ETH_P_ALL, true, &ifindex);
}

Capture::~Capture() {
    if (fd_ >= 0)
        close(fd_);
}

std::optional<Capture::Frame> Capture::next(uint16_t tag, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        sockaddr_ll from{};
        socklen_t fromlen = sizeof from;
        ssize_t n = recvfrom(fd_, buf_.data(), buf_.size(), MSG_DONTWAIT,
                             reinterpret_cast<sockaddr *>(&from), &fromlen);
        if (n < 0) {
            // EINVAL: the socket dropped a frame whose GSO type a virtio_net_hdr cannot carry
            // (a hostile TX header tun accepted, e.g. UFO; 6.1's virtio_net_hdr_from_skb knows
            // only TCP). Not this frame; the next one may be.
            if (errno == EINVAL)
                continue;
            if (errno != EAGAIN && errno != EINTR)
                fail_sys("recvfrom (capture)", errno, std::source_location::current());
            auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
            if (left.count() <= 0)
                return std::nullopt;
            pollfd p{fd_, POLLIN, 0};
            poll(&p, 1, static_cast<int>(left.count()));
            continue;
        }
        if (static_cast<size_t>(n) < sizeof(VnetHdr) || from.sll_pkttype == PACKET_OUTGOING)
            continue;
        Frame f;
        std::memcpy(&f.hdr, buf_.data(), sizeof(VnetHdr));
        f.data.assign(buf_.begin() + sizeof(VnetHdr), buf_.begin() + n);
        auto id = frame_id(f.data);
        if (!id || id->tag != tag)
            continue;
        f.id = *id;
        return f;
    }
}

std::vector<Capture::Frame> Capture::drain(uint16_t tag, std::chrono::milliseconds idle) {
    std::vector<Frame> out;
    while (auto f = next(tag, idle))
        out.push_back(std::move(*f));
    return out;
}

Injector::Injector(const std::string &ifname, bool vnet_hdr) : vnet_hdr_(vnet_hdr) {
    fd_ = packet_socket(ifname, 0, vnet_hdr, &ifindex_);
}

Injector::~Injector() {
    if (fd_ >= 0)
        close(fd_);
}

void Injector::send(std::span<const std::byte> frame, const VnetHdr &hdr) {
    Bytes buf;
    if (vnet_hdr_) {
        buf.resize(sizeof hdr);
        std::memcpy(buf.data(), &hdr, sizeof hdr);
    }
    buf.insert(buf.end(), frame.begin(), frame.end());
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = ifindex_;
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, kDstMac, 6);
    ssize_t n =
        sendto(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr *>(&to), sizeof to);
    if (n < 0)
        fail_sys(fmt::format("inject a {}-byte frame", frame.size()).c_str(), errno,
                 std::source_location::current());
    if (static_cast<size_t>(n) != buf.size())
        fail(fmt::format("injected {} of {} bytes", n, buf.size()));
}

void write_to_tap(const vhnet::Tap &tap, std::span<const std::byte> frame) {
    Bytes buf(12);
    buf.insert(buf.end(), frame.begin(), frame.end());
    ssize_t n = write(tap.fd(), buf.data(), buf.size());
    if (n != static_cast<ssize_t>(buf.size()))
        fail(fmt::format("write to {}: {}", tap.name(), n < 0 ? errname(errno) : "short"));
}

} // namespace dp
