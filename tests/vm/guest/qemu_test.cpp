// SPDX-License-Identifier: GPL-2.0
// Suite qemu: a real guest on vhnet. An unmodified QEMU in the test VM, started through
// `vhnetctl qemu` (and once the plain way, vhostfd=3 3<>/dev/vhnet), boots Debian's kernel whose
// own virtio-net driver talks to the device; the same tests run with the in-tree vhost-net, and
// ping and bulk TCP also with QEMU's userspace backend (vhost=off). Tests of one backend share
// its guest (see qemu_common.h), in the order registered; each starts it if it is not running.
#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "qemu_common.h"
#include "util.h"

using namespace vmtest;
using namespace qemu;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

constexpr unsigned kBulkMiB = 32;
constexpr const char *kFigures = "/tmp/qemu/figures";

void record(Backend b, const char *what, const Transfer &t) {
    note("{} {}: {} bytes in {:.2f} s, {:.1f} Mbit/s", name(b), what, t.bytes, t.seconds,
         t.mbit_s());
    fs::create_directories("/tmp/qemu");
    std::ofstream(kFigures, std::ios::app)
        << fmt::format("{} {} {:.1f}\n", name(b), what, t.mbit_s());
}

// The device nodes QEMU has open.
std::vector<std::string> open_devices(pid_t pid) {
    std::vector<std::string> devs;
    const auto dir = fmt::format("/proc/{}/fd", pid);
    for (const auto &e : fs::directory_iterator(dir)) {
        std::error_code ec;
        const auto target = fs::read_symlink(e.path(), ec).string();
        if (!ec && target.rfind("/dev/", 0) == 0)
            devs.push_back(target);
    }
    return devs;
}

bool has(const std::vector<std::string> &v, const std::string &s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// Bytes the guest sent through its tap.
unsigned long long tap_rx_bytes(Backend b) {
    return std::stoull(
        read_text(fmt::format("/sys/class/net/{}/statistics/rx_bytes", tap_name(b))));
}

// A field of a vhnet instance's info file, as text.
std::string info_field(int instance, const std::string &key) {
    return debugfs_fields(fmt::format("{}/{}/info", kDebugfs, instance))[key];
}

int must_instance(const Guest &g) {
    const int id = g.vhnet_instance();
    if (id < 0)
        fail(fmt::format("no vhnet debugfs instance owned by QEMU (pid {})", g.pid()));
    return id;
}

// Both queues' starts and stops of the guest's vhnet instance.
struct StartStop {
    unsigned long long starts[2], stops[2];
};
StartStop start_stop(int instance) {
    StartStop s{};
    for (unsigned q = 0; q < 2; q++) {
        const auto st = queue_stats(instance, q);
        s.starts[q] = field_num(st, "starts");
        s.stops[q] = field_num(st, "stops");
    }
    return s;
}

void expect_restarted(const StartStop &before, const StartStop &after, const char *why) {
    for (unsigned q = 0; q < 2; q++) {
        note("vq{}: stops {} -> {}, starts {} -> {}", q, before.stops[q], after.stops[q],
             before.starts[q], after.starts[q]);
        if (after.stops[q] <= before.stops[q] || after.starts[q] <= before.starts[q])
            fail(fmt::format("{}: vq{} did not go through stop and start", why, q));
    }
}

// Pings once a second until the guest answers (after a link or reset change).
void wait_ping(const Guest &g, unsigned timeout_s) {
    for (unsigned i = 0; i < timeout_s; i++)
        if (ping(g, 1, 1) == 1)
            return;
    fail(fmt::format("{}: the guest did not answer pings for {}s", name(g.backend()), timeout_s));
}

void boot(Backend b) {
    const auto g = Guest::start(b);
    const auto driver = g.must("readlink /sys/class/net/eth0/device/driver");
    if (driver.find("virtio_net") == std::string::npos)
        fail("the guest's eth0 is not driven by virtio_net: " + driver);
    const auto devs = open_devices(g.pid());
    note("QEMU (pid {}) has open: {}", g.pid(), fmt::join(devs, " "));
    // QEMU must use the device it was given, and only that one.
    EXPECT_EQ(has(devs, kVhnet), b == Backend::Vhnet);
    EXPECT_EQ(has(devs, kVhostNet), b == Backend::VhostNet);
    if (b == Backend::Vhnet) {
        const int id = must_instance(g);
        note("vhnet instance {}: owner_comm {}, tap {}, rx {}, tx {}", id,
             info_field(id, "owner_comm"), info_field(id, "tap"), info_field(id, "rx_state"),
             info_field(id, "tx_state"));
        EXPECT_EQ(info_field(id, "tap"), tap_name(b));
        EXPECT_EQ(info_field(id, "rx_state"), std::string("running"));
        EXPECT_EQ(info_field(id, "tx_state"), std::string("running"));
    }
}

void ping_1000(Backend b) {
    const auto g = Guest::ensure(b);
    const unsigned got = ping(g, 1000);
    note("{}: 1000 pings, {} answered", name(b), got);
    EXPECT_EQ(got, 1000u);
}

void tcp_to(Backend b) {
    record(b, "to-guest", tcp_to_guest(Guest::ensure(b), kBulkMiB));
}

void tcp_from(Backend b) {
    record(b, "from-guest", tcp_from_guest(Guest::ensure(b), kBulkMiB));
}

// The guest's checksum and segmentation offloads off: the stack then sends plain,
// checksummed frames and the device must carry them just as well.
void offloads_off(Backend b) {
    const auto g = Guest::ensure(b);
    g.must("ethtool -K eth0 tx off sg off tso off gso off");
    const auto k = g.must("ethtool -k eth0");
    for (const char *want : {"tx-checksumming: off", "tcp-segmentation-offload: off",
                             "generic-segmentation-offload: off"})
        if (k.find(want) == std::string::npos)
            fail(fmt::format("ethtool -k does not say '{}'", want));
    const auto to = tcp_to_guest(g, kBulkMiB / 2);
    const auto from = tcp_from_guest(g, kBulkMiB / 2);
    note("{} offloads off: to the guest {:.1f} Mbit/s, from the guest {:.1f} Mbit/s", name(b),
         to.mbit_s(), from.mbit_s());
    g.must("ethtool -K eth0 tx on sg on tso on gso on");
}

void link_down_up(Backend b) {
    const auto g = Guest::ensure(b);
    const int id = b == Backend::Vhnet ? must_instance(g) : -1;
    const auto before = id >= 0 ? start_stop(id) : StartStop{};
    g.qmp("set_link", {{"name", "n0"}, {"up", false}});
    const unsigned down = ping(g, 3, 2);
    note("{}: link down, {} of 3 pings answered", name(b), down);
    EXPECT_EQ(down, 0u);
    if (id >= 0)
        EXPECT_EQ(info_field(id, "tx_state"), std::string("stopped"));
    g.qmp("set_link", {{"name", "n0"}, {"up", true}});
    wait_ping(g, 30);
    EXPECT_EQ(ping(g, 100), 100u);
    tcp_to_guest(g, 4);
    if (id >= 0)
        expect_restarted(before, start_stop(id), "link down and up");
}

void reset(Backend b) {
    const auto g = Guest::ensure(b);
    const int id = b == Backend::Vhnet ? must_instance(g) : -1;
    const auto before = id >= 0 ? start_stop(id) : StartStop{};
    const unsigned boots = g.boots();
    g.qmp("system_reset");
    g.wait_ready(boots + 1);
    wait_ping(g, 30);
    EXPECT_EQ(ping(g, 100), 100u);
    tcp_to_guest(g, 4);
    tcp_from_guest(g, 4);
    if (id >= 0) {
        EXPECT_EQ(g.vhnet_instance(), id);
        expect_restarted(before, start_stop(id), "system_reset");
    }
}

// QEMU killed mid-transfer: its device goes away with it, and a new QEMU (started the plain
// way) works on the same tap.
void sigkill_under_load(Backend b) {
    const auto g = Guest::ensure(b);
    const int id = b == Backend::Vhnet ? must_instance(g) : -1;
    must_sh("vhnet-xfer recv 5003 /dev/null >/dev/null 2>&1 &");
    g.must(fmt::format("vhnet-xfer send {} 5003 4000000000 >/dev/null 2>&1 &", host_ip(b)));
    const auto start = tap_rx_bytes(b);
    unsigned long long moved = 0;
    for (int i = 0; i < 300 && moved < (8ull << 20); i++) {
        std::this_thread::sleep_for(100ms);
        moved = tap_rx_bytes(b) - start;
    }
    note("{}: {} bytes from the guest before SIGKILL", name(b), moved);
    if (moved < (8ull << 20))
        fail("the guest's transfer did not get going");
    g.kill();
    sh("pkill -f 'vhnet-xfer recv 5003'");
    if (id >= 0) {
        const auto folder = fmt::format("{}/{}", kDebugfs, id);
        for (int i = 0; i < 100 && fs::exists(folder); i++)
            std::this_thread::sleep_for(100ms);
        if (fs::exists(folder))
            fail(fmt::format("vhnet instance {} still in debugfs after QEMU was killed", id));
    }
    if (!fs::exists("/sys/class/net/" + tap_name(b)))
        fail("the tap went away with QEMU");

    const auto again = Guest::start(b, Launch::Plain);
    const auto devs = open_devices(again.pid());
    EXPECT_EQ(has(devs, kVhnet), b == Backend::Vhnet);
    EXPECT_EQ(has(devs, kVhostNet), b == Backend::VhostNet);
    EXPECT_EQ(ping(again, 100), 100u);
    tcp_from_guest(again, 4);
    const int id2 = b == Backend::Vhnet ? must_instance(again) : -1;
    again.quit();
    if (id2 >= 0 && fs::exists(fmt::format("{}/{}", kDebugfs, id2)))
        fail(fmt::format("vhnet instance {} still in debugfs after QEMU quit", id2));
}

nlohmann::json stats_json(int id) {
    auto doc =
        nlohmann::json::parse(must_sh(fmt::format("vhnetctl stats -j {}", id)), nullptr, false);
    if (doc.is_discarded() || doc["instances"].size() != 1)
        fail(fmt::format("vhnetctl stats -j {}: not one instance", id));
    return doc["instances"][0];
}

unsigned long long queue_value(const nlohmann::json &instance, const char *queue, const char *key) {
    for (const auto &q : instance["queues"])
        if (q["name"] == queue)
            return q[key].get<unsigned long long>();
    fail(fmt::format("vhnetctl stats: no queue {}", queue));
}

// vhnetctl's view of the guest's device moves while the guest sends, and agrees with debugfs.
void stats_move(Backend b) {
    const auto g = Guest::ensure(b);
    const int id = must_instance(g);
    const auto before = stats_json(id);
    const auto tap_before = tap_rx_bytes(b);
    const unsigned long long mib = 256;
    fs::remove("/tmp/qemu/st.log");
    must_sh("vhnet-xfer recv 5004 /dev/null >/tmp/qemu/st.log 2>&1 &");
    g.must(fmt::format("vhnet-xfer send {} 5004 {} >/dev/null 2>&1 &", host_ip(b), mib << 20));
    const auto start = tap_rx_bytes(b);
    for (int i = 0; i < 100 && tap_rx_bytes(b) - start < (4ull << 20); i++)
        std::this_thread::sleep_for(100ms);
    const auto watch = must_sh(fmt::format("vhnetctl stats -j --watch 0.5 --count 2 {}", id));
    for (int i = 0; i < 600 && read_text("/tmp/qemu/st.log").find("received") == std::string::npos;
         i++)
        std::this_thread::sleep_for(100ms);
    if (read_text("/tmp/qemu/st.log").find("received") == std::string::npos)
        fail(fmt::format("the guest's transfer did not finish: receiver said '{}', tap rx +{}",
                         read_text("/tmp/qemu/st.log"), tap_rx_bytes(b) - start));

    // While it ran: every interval saw the guest sending.
    std::istringstream lines(watch);
    unsigned intervals = 0;
    for (std::string line; std::getline(lines, line);) {
        const auto doc = nlohmann::json::parse(line, nullptr, false);
        if (doc.is_discarded())
            fail("vhnetctl stats --watch -j printed a line that is not JSON: " + line);
        for (const auto &q : doc["instances"][0]["queues"]) {
            if (q["name"] != "tx")
                continue;
            note("interval {}: tx {}", intervals, q["rates"].dump());
            if (q["rates"].is_null() || q["rates"]["pps"].get<double>() <= 0 ||
                q["rates"]["mbps"].get<double>() <= 0)
                fail("vhnetctl stats --watch shows no TX while the guest sends: " + line);
        }
        intervals++;
    }
    EXPECT_EQ(intervals, 2u);

    // After it: the totals moved by at least what was sent, and equal debugfs's.
    const auto after = stats_json(id);
    const auto tx_bytes = queue_value(after, "tx", "bytes") - queue_value(before, "tx", "bytes");
    const auto rx_packets =
        queue_value(after, "rx", "packets") - queue_value(before, "rx", "packets");
    note("while the guest sent {} MiB: tx bytes +{}, rx packets +{} (its ACKs)", mib, tx_bytes,
         rx_packets);
    if (tx_bytes < (mib << 20) || rx_packets == 0)
        fail("vhnetctl stats did not move with the transfer");
    // What vhnet counts as sent, the tap counts as received: frames without virtio-net header.
    const auto tap = tap_rx_bytes(b) - tap_before;
    note("tap {} rx bytes +{}, vhnet tx bytes +{}", tap_name(b), tap, tx_bytes);
    EXPECT_EQ(tx_bytes, tap);
    EXPECT_EQ(queue_value(after, "tx", "packets"), field_num(queue_stats(id, 1), "packets"));
    const auto text = must_sh(fmt::format("vhnetctl stats {}", id));
    note("vhnetctl stats {}:\n{}", id, text);
    if (text.find(fmt::format("instance {}", id)) == std::string::npos ||
        text.find(" tx ") == std::string::npos || text.find(tap_name(b)) == std::string::npos)
        fail("vhnetctl stats text does not show the instance, its tap and its queues");
}

// The bulk figures of the three backends side by side.
void summary() {
    quit_all();
    std::ifstream in(kFigures);
    std::map<std::string, std::string> fig;
    std::string backend, what, mbit;
    while (in >> backend >> what >> mbit)
        fig[backend + " " + what] = mbit;
    note("bulk TCP, {} MiB, Mbit/s (nested guest under emulation: compare, do not quote)",
         kBulkMiB);
    note("{:<10} {:>12} {:>12}", "backend", "to-guest", "from-guest");
    unsigned missing = 0;
    for (const auto b : {Backend::Vhnet, Backend::VhostNet, Backend::Userspace}) {
        auto get = [&](const char *w) {
            const auto it = fig.find(fmt::format("{} {}", name(b), w));
            missing += it == fig.end();
            return it == fig.end() ? std::string("-") : it->second;
        };
        const auto to = get("to-guest");
        const auto from = get("from-guest");
        note("{:<10} {:>12} {:>12}", name(b), to, from);
    }
    if (missing)
        fail(fmt::format("{} of 6 bulk figures missing (their tests failed)", missing));
}

// make demo: a guest on vhnet, its ping, the bulk figures of the three backends, and vhnetctl's
// view of the device. Plain output, for a person.
void demo() {
    auto say = [](std::string text) {
        while (!text.empty() && text.back() == '\n')
            text.pop_back();
        fmt::print("{}\n", text);
        std::fflush(stdout);
    };
    std::map<Backend, std::pair<Transfer, Transfer>> bulk;
    say("== a nested QEMU guest whose virtio-net runs on /dev/vhnet:");
    say(fmt::format("   vhnetctl qemu --dev /dev/vhnet --tap {} -- qemu-system-x86_64 -accel kvm "
                    "... -netdev tap,id=n0 -device virtio-net-pci,netdev=n0",
                    tap_name(Backend::Vhnet)));
    auto g = Guest::start(Backend::Vhnet);
    say(fmt::format("   guest up (QEMU pid {}), eth0 {} on tap {} {}", g.pid(),
                    guest_ip(Backend::Vhnet), tap_name(Backend::Vhnet), host_ip(Backend::Vhnet)));
    say(g.must("readlink /sys/class/net/eth0/device/driver | sed 's,.*/,   guest NIC driver: ,'"));
    say("== the guest pings the test VM:");
    say(g.must(fmt::format("ping -c 5 -A {}", host_ip(Backend::Vhnet))));
    for (const auto b : {Backend::Vhnet, Backend::VhostNet, Backend::Userspace}) {
        const auto guest = b == Backend::Vhnet ? g : Guest::start(b);
        say(fmt::format("== bulk TCP through {} ({} MiB each way, sha256 checked)...", name(b),
                        kBulkMiB));
        bulk[b] = {tcp_to_guest(guest, kBulkMiB), tcp_from_guest(guest, kBulkMiB)};
        if (b == Backend::Vhnet) {
            say("== vhnetctl stats (the vhnet device after the transfers):");
            say(must_sh("vhnetctl stats"));
        }
    }
    quit_all();
    say("== bulk TCP, Mbit/s, one boot (a nested guest under emulation: compare, do not quote)");
    say(fmt::format("   {:<22} {:>10} {:>12}", "backend", "to guest", "from guest"));
    for (const auto &[b, t] : bulk) {
        const char *label = b == Backend::Vhnet      ? "vhnet (/dev/vhnet)"
                            : b == Backend::VhostNet ? "vhost-net (in-tree)"
                                                     : "vhost=off (QEMU)";
        say(fmt::format("   {:<22} {:>10.1f} {:>12.1f}", label, t.first.mbit_s(),
                        t.second.mbit_s()));
    }
}

const vmtest::Registrar demo_reg("demo", "qemu_guest", demo, 600);

struct Def {
    const char *name;
    void (*fn)(Backend);
    unsigned timeout_s;
};

constexpr Def kPerBackend[] = {
    {"boot", boot, 240},
    {"ping-1000", ping_1000, 240},
    {"tcp-to-guest", tcp_to, 300},
    {"tcp-from-guest", tcp_from, 300},
    {"tcp-offloads-off", offloads_off, 400},
    {"stats-move", stats_move, 240},
    {"link-down-up", link_down_up, 240},
    {"reset", reset, 300},
    {"sigkill-under-load", sigkill_under_load, 360},
};

struct Registrar {
    Registrar() {
        for (const auto b : {Backend::Vhnet, Backend::VhostNet})
            for (const auto &d : kPerBackend)
                // vhnetctl stats reads vhnet's debugfs: vhnet only
                if (b == Backend::Vhnet || std::string(d.name) != "stats-move")
                    add_test(
                        "qemu", fmt::format("{}-{}", name(b), d.name), [b, &d] { d.fn(b); },
                        d.timeout_s);
        // QEMU's own backend: the baseline for function and for the bulk figures.
        for (const auto &d : kPerBackend) {
            const std::string n = d.name;
            if (n == "boot" || n == "ping-1000" || n == "tcp-to-guest" || n == "tcp-from-guest")
                add_test(
                    "qemu", fmt::format("userspace-{}", n), [&d] { d.fn(Backend::Userspace); },
                    d.timeout_s);
        }
        add_test("qemu", "bulk-summary", summary, 240);
    }
} const registrar;

} // namespace
