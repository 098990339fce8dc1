// SPDX-License-Identifier: GPL-2.0
// Suite migration: live migration of a nested guest between two QEMUs in the test VM, as
// libvirt does it on one host: a bridge br-mig (198.18.4.1/24) with two taps, mig0 and mig1; the
// source QEMU on one tap and a vhost device, the destination on the other tap and a fresh device
// fd, with the same command line plus -incoming; QMP migrate over a unix socket. While it
// migrates, a rate-limited TCP stream runs into the guest and one out of it; both are stopped
// only after the destination has run for a while, and each must arrive byte for byte (sha256).
//
// The migrations chain on one guest (source in slot 0, destination in slot 1, then back), in an
// order where each starts on the backend the last one ended on; the chain's state is in
// /tmp/migration/chain. A migration that does not find a healthy guest of its source backend
// left by a successful predecessor boots a fresh one, so a broken chain makes no later test pass
// by accident. REPEAT=N (environment or /vm/config; run.sh --repeat N) runs the sequence N times.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "qemu_common.h"
#include "util.h"

using namespace vmtest;
using namespace qemu;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char *kRoot = "/tmp/migration";
constexpr const char *kBridge = "br-mig";
constexpr const char *kBridgeIp = "198.18.4.1";
constexpr const char *kGuestIp = "198.18.4.2";
constexpr const char *kMac = "52:54:00:00:04:02";
constexpr const char *kTaps[] = {"mig0", "mig1"};
constexpr unsigned kGuestMiB = 256;

// The streams: each way about 2 MiB/s from files big enough to last 20 s or more (the
// migration is expected within seconds). They start kWarmupBytes before the migration and go
// on for kAfter on the destination; the migration starts once kQueuedBytes wait unread in the
// guest. Into the guest it is the guest's reader that is paced, the
// sender goes as fast as TCP lets it: so the guest's socket receive queue stays full, and the
// data waiting there sits in the pages the vhost device wrote (virtio-net RX buffers) until it
// is read, often after the switch. A device that does not log its RX writes leaves those pages
// stale on the destination, and what the guest then stores is not what was sent. (A paced
// sender would let the guest copy every packet out at once, on the source, and hide it.) Out
// of the guest the sender is paced: the device only reads those buffers.
constexpr unsigned long long kRate = 2ull << 20;
constexpr unsigned kBlobMiB = 96;    // in the test VM, to the guest
constexpr unsigned kGuestTxMiB = 16; // in the guest's tmpfs, from the guest, sent kGuestTxTimes
constexpr unsigned kGuestTxTimes = 6;
constexpr unsigned long long kWarmupBytes = 1ull << 20;
constexpr unsigned long long kQueuedBytes = 1ull << 20;
constexpr auto kAfter = 3s;
// The guest's time limit for each sha256sum of a stream (tens of MB).
constexpr unsigned kSumSeconds = 300;
constexpr const char *kToPort = "5011";
constexpr const char *kFromPort = "5012";
// QEMU's default bandwidth cap (32 MiB/s in 7.2) would make a 256 MiB guest take seconds for
// nothing: migration is bound by the CPUs here, not by the unix socket.
constexpr unsigned long long kMaxBandwidth = 1ull << 30;
constexpr auto kMigrateLimit = 90s;
// The migration is held in its iterative phase until kHold after its first full pass over RAM
// (downtime-limit 1 ms, and after the pass a bandwidth cap of 4 MiB/s: QEMU switches over when
// what is left to send fits in bandwidth x limit, a few KiB then, which the streams always
// dirty; a limit of 0 would make QEMU 7.2 skip the dirty sync and switch at once), then given
// QEMU's default limit and the full bandwidth. So the switch comes
// when everything the device wrote into the guest's receive queue was written after that pass:
// only the device's dirty log gets those pages to the destination. (Left alone, a small guest
// often switches right after the first pass, which may copy the RX pages after the device wrote
// them, and a device that does not log then passes by luck.)
constexpr auto kHold = 3s;
constexpr int kDowntimeLimitMs = 300;
constexpr unsigned long long kHoldBandwidth = 4ull << 20;

std::string path(const std::string &name) {
    return fmt::format("{}/{}", kRoot, name);
}

// QEMU's status of each of the guest's virtio devices, by name (x-query-virtio-status:
// vhost-started, started, vm-running, broken, status), or {"error": why}.
nlohmann::json virtio_status_all(const Guest &g) {
    nlohmann::json out;
    try {
        for (const auto &dev : g.qmp("x-query-virtio")) {
            const auto st = g.qmp("x-query-virtio-status", {{"path", dev["path"]}});
            auto &o = out[dev.value("name", "?")];
            for (const char *k : {"vhost-started", "started", "vm-running", "broken", "status"})
                if (st.contains(k))
                    o[k] = st[k];
        }
    } catch (const vmtest::Failure &f) {
        out["error"] = f.message;
    }
    return out;
}

// A file's text, empty if it cannot be read (a process that is gone, a log not yet written).
std::string slurp(const std::string &p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string blob() {
    return path("blob");
}

// A setting from the environment or, failing that, a KEY=value line of /vm/config.
std::string config_value(const char *key) {
    if (const char *v = std::getenv(key))
        return v;
    std::ifstream in("/vm/config");
    const std::string prefix = std::string(key) + "=";
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(prefix, 0) != 0)
            continue;
        auto v = line.substr(prefix.size());
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
            v = v.substr(1, v.size() - 2);
        return v;
    }
    return "";
}

GuestSpec slot_spec(unsigned slot, Backend b, bool incoming) {
    GuestSpec s;
    s.backend = b;
    s.dir = path(fmt::format("slot{}", slot));
    s.tap = kTaps[slot];
    s.host_ip = kBridgeIp;
    s.guest_ip = kGuestIp;
    s.mac = kMac;
    s.mem_mib = kGuestMiB;
    s.how = Launch::Vhnetctl;
    // Every CPU reset, with the registers just before it: a guest that resets on the
    // destination (a triple fault shows nothing on its console) leaves its last state here.
    s.extra_args = {"-d", "cpu_reset", "-D", s.dir + "/reset.log"};
    if (incoming) {
        s.extra_args.insert(s.extra_args.end(), {"-incoming", "defer"});
        s.wait_ready = false;
    }
    return s;
}

// ---- The bridge, as libvirt's network would have it: no STP, no forward delay.

std::string master_of(const std::string &dev) {
    std::error_code ec;
    return fs::read_symlink(fmt::format("/sys/class/net/{}/master", dev), ec).filename().string();
}

void ensure_bridge() {
    const auto sys = fmt::format("/sys/class/net/{}", kBridge);
    if (!fs::exists(sys)) {
        // busybox has brctl (SIOCBRADDBR); ip link add type bridge as a second way.
        if (sh(fmt::format("brctl addbr {}", kBridge)).status != 0)
            must_sh(fmt::format("ip link add name {} type bridge", kBridge));
    }
    if (!fs::exists(sys + "/bridge"))
        fail(fmt::format("{} exists but is not a bridge", kBridge));
    must_sh(fmt::format("echo 0 >{0}/bridge/stp_state && echo 0 >{0}/bridge/forward_delay", sys));
    if (sh(fmt::format("ip -4 addr show dev {} | grep -q 'inet {}/24'", kBridge, kBridgeIp))
            .status != 0)
        must_sh(fmt::format("ip addr add {}/24 dev {}", kBridgeIp, kBridge));
    must_sh(fmt::format("ip link set {} up", kBridge));
    for (const char *tap : kTaps) {
        if (!fs::exists(fmt::format("/sys/class/net/{}", tap)))
            must_sh(fmt::format("vhnetctl tap add {}", tap));
        if (master_of(tap) != kBridge)
            must_sh(fmt::format("brctl addif {} {}", kBridge, tap));
        must_sh(fmt::format("ip link set {} up", tap));
    }
}

// ---- Processes in the test VM: the stream ends there.

// Started stream processes, so that a later test can end those a timed-out one left.
void remember(pid_t pid) {
    std::ofstream(path("xfer.pids"), std::ios::app) << pid << "\n";
}

void kill_leftovers() {
    std::ifstream in(path("xfer.pids"));
    for (pid_t pid; in >> pid;)
        if (slurp(fmt::format("/proc/{}/comm", pid)).rfind("vhnet-xfer", 0) == 0)
            ::kill(pid, SIGKILL);
    fs::remove(path("xfer.pids"));
}

class Proc {
public:
    Proc(std::vector<std::string> argv, const std::string &in, std::string log)
        : log_(std::move(log)) {
        std::fflush(stdout);
        pid_ = ::fork();
        if (pid_ < 0)
            fail(fmt::format("fork: {}", errname(errno)));
        if (pid_ == 0) {
            const int i = ::open(in.c_str(), O_RDONLY);
            const int o = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (i < 0 || o < 0)
                ::_exit(126);
            ::dup2(i, STDIN_FILENO);
            ::dup2(o, STDOUT_FILENO);
            ::dup2(o, STDERR_FILENO);
            std::vector<char *> args;
            for (auto &a : argv)
                args.push_back(a.data());
            args.push_back(nullptr);
            ::execvp(args[0], args.data());
            ::_exit(127);
        }
        remember(pid_);
    }
    Proc(const Proc &) = delete;
    Proc &operator=(const Proc &) = delete;
    ~Proc() {
        if (running()) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }

    pid_t pid() const { return pid_; }
    // Not yet exited (reaps it if it has).
    bool running() {
        if (status_)
            return false;
        int st = 0;
        if (::waitpid(pid_, &st, WNOHANG) == pid_) {
            status_ = st;
            return false;
        }
        return true;
    }
    // Waits for the exit; false on timeout.
    bool wait(std::chrono::seconds limit) {
        for (const auto end = Clock::now() + limit; running();) {
            if (Clock::now() > end)
                return false;
            std::this_thread::sleep_for(100ms);
        }
        return true;
    }
    bool exited_ok() const { return status_ && WIFEXITED(*status_) && WEXITSTATUS(*status_) == 0; }
    std::string output() const { return slurp(log_); }
    // Bytes it has written (socket and log), from /proc/PID/io.
    unsigned long long written() const {
        const auto io = slurp(fmt::format("/proc/{}/io", pid_));
        const auto pos = io.find("wchar:");
        return pos == std::string::npos ? 0 : std::stoull(io.substr(pos + 6));
    }

private:
    pid_t pid_ = -1;
    std::string log_;
    std::optional<int> status_;
};

unsigned long long file_size(const std::string &p) {
    std::error_code ec;
    const auto n = fs::file_size(p, ec);
    return ec ? 0 : n;
}

std::string first_word(const std::string &s) {
    const auto start = s.find_first_not_of(" \t\n");
    if (start == std::string::npos)
        return "";
    return s.substr(start, s.find_first_of(" \t\n", start) - start);
}

// The stream out of the guest: its file kGuestTxTimes over, so that it cannot run out.
std::string guest_tx_source() {
    std::string files;
    for (unsigned i = 0; i < kGuestTxTimes; i++)
        files += " /tmp/tx";
    return "cat" + files;
}

// "WORD N bytes" in vhnet-xfer's output (WORD: sent or received); nullopt if not there.
std::optional<unsigned long long> xfer_bytes(const std::string &out, const char *word) {
    const std::regex re(std::string(word) + " ([0-9]+) bytes");
    std::smatch m;
    if (!std::regex_search(out, m, re))
        return std::nullopt;
    return std::stoull(m[1]);
}

// ---- The chain: which guest the last migration left, and whether it succeeded.

struct Chain {
    bool ok = false;
    unsigned slot = 0;
    Backend backend = Backend::VhostNet;
    std::string why; // what broke it, when not ok
};

Backend backend_named(const std::string &n) {
    return n == name(Backend::Vhnet) ? Backend::Vhnet : Backend::VhostNet;
}

Chain read_chain() {
    Chain c;
    std::ifstream in(path("chain"));
    std::string state;
    if (!(in >> state)) {
        c.why = "no migration ran before in this boot";
        return c;
    }
    if (state == "ok") {
        std::string b;
        in >> c.slot >> b;
        c.backend = backend_named(b);
        c.ok = c.slot < 2;
    } else {
        std::getline(in, c.why);
    }
    return c;
}

void chain_ok(unsigned slot, Backend b) {
    std::ofstream(path("chain")) << fmt::format("ok {} {}\n", slot, name(b));
}

void chain_broken(const std::string &why) {
    std::ofstream(path("chain")) << "broken " << why << "\n";
}

void quit_slots() {
    for (unsigned slot = 0; slot < 2; slot++)
        if (const auto g = Guest::find(slot_spec(slot, Backend::VhostNet, false)))
            g->quit();
}

// A guest that has what the streams need: the file it sends, its offloads at their defaults,
// and a 4 MiB initial TCP receive buffer (tcp_rmem[1], 128 KiB by default), so that about two
// seconds of the stream into it wait unread in the device-written RX buffers, rather than being
// collapsed (copied by the guest's CPU, which KVM's dirty log sees) into a small queue.
void prepare(const Guest &g) {
    g.must(fmt::format("[ -s /tmp/tx ] || head -c {} /dev/urandom >/tmp/tx", kGuestTxMiB << 20),
           180);
    g.must("echo '4096 4194304 6291456' >/proc/sys/net/ipv4/tcp_rmem");
    // and no memory pressure to make TCP prune (collapse) the queue: tcp_mem, in pages, is
    // sized from RAM (about 15 MiB for 256 MiB).
    g.must("echo '65536 98304 131072' >/proc/sys/net/ipv4/tcp_mem");
    const auto k = g.must("ethtool -k eth0");
    for (const char *want :
         {"tx-checksumming: on", "tcp-segmentation-offload: on", "generic-receive-offload: on"})
        if (k.find(want) == std::string::npos)
            fail(fmt::format("the guest's eth0 does not say '{}' (offloads must be on)", want));
}

// The source of a migration from `from`: the chain's guest if the last migration left a healthy
// one of that backend, else a freshly booted one.
std::pair<Guest, unsigned> source_for(Backend from) {
    const auto c = read_chain();
    std::string why = c.why;
    if (c.ok && c.backend != from) {
        why = fmt::format("the chain's guest runs on {}", name(c.backend));
    } else if (c.ok) {
        if (const auto g = Guest::find(slot_spec(c.slot, from, false))) {
            try {
                if (g->run("true", 20).status == 0) {
                    note("source: the chain's guest, QEMU pid {} in slot {}", g->pid(), c.slot);
                    return {*g, c.slot};
                }
                why = "the chain's guest fails commands";
            } catch (const Failure &f) {
                why = "the chain's guest does not answer: " + f.message;
            }
        } else {
            why = "the chain's QEMU is gone";
        }
    }
    note("source: a fresh guest on {} ({})", name(from), why);
    quit_slots();
    auto g = Guest::launch(slot_spec(0, from, false));
    prepare(g);
    return {g, 0};
}

// The guest's TcpExt counters of receive-queue pruning: copies that hide device writes.
std::string prune_counters(const Guest &g) {
    return g.must("awk '/^TcpExt:/ { if (!n++) split($0, k); else for (i = 2; i <= NF; i++) "
                  "if (k[i] ~ /Prune|Collapse|RcvQDrop/) printf \"%s=%s \", k[i], $i }' "
                  "/proc/net/netstat",
                  30);
}

// The vhnet instances and their owners.
std::map<std::string, std::string> vhnet_owners() {
    std::map<std::string, std::string> m;
    for (const auto &id : vhnet_folders())
        m[id] = debugfs_fields(fmt::format("{}/{}/info", kDebugfs, id))["owner_pid"];
    return m;
}

std::string describe(const std::map<std::string, std::string> &owners) {
    std::vector<std::string> v;
    for (const auto &[id, pid] : owners)
        v.push_back(fmt::format("{} (owner {})", id, pid));
    return v.empty() ? "none" : fmt::format("{}", fmt::join(v, ", "));
}

// Every vhnet instance belongs to one of `qemus` (the vhnet ones among them own exactly one).
void expect_instances(const std::vector<std::pair<const Guest *, bool>> &qemus, const char *when) {
    const auto owners = vhnet_owners();
    std::set<std::string> expected;
    for (const auto &[g, vhnet] : qemus)
        if (vhnet) {
            const auto id = vhnet_instance_of(g->pid());
            if (id.empty())
                fail(fmt::format("{}: QEMU pid {} owns no vhnet instance; instances: {}", when,
                                 g->pid(), describe(owners)));
            expected.insert(id);
        }
    if (owners.size() != expected.size())
        fail(fmt::format("{}: vhnet instances {}, expected only those of QEMU {}", when,
                         describe(owners), fmt::join(expected, " ")));
}

// What the figures file keeps per migration, for the summary.
// The nested guest stopped or reset as a whole during a migration: its virtio-serial port does
// not answer and its stream to the test VM stands still, or its vCPU reset (QEMU's -d cpu_reset
// log) with no panic or oops on its console, whatever the backend. Seen about once in twenty
// migrations on vhost-net to vhost-net as well as with vhnet (the nested guest runs on KVM on
// the test VM's TCG-emulated SVM); run_step() runs such a migration once more on a fresh guest.
struct GuestStopped : Failure {};

// The lines of a register dump that hold any of `regs`, each once, joined.
std::string register_lines(const std::string &dump, std::initializer_list<const char *> regs) {
    std::vector<std::string> keep;
    std::istringstream in(dump);
    for (std::string line; std::getline(in, line);)
        for (const char *reg : regs)
            if (line.find(reg) != std::string::npos &&
                std::find(keep.begin(), keep.end(), line) == keep.end())
                keep.push_back(line);
    return fmt::format("{}", fmt::join(keep, " | "));
}

// Where the guest's vCPU is (RIP, flags, HLT), from QEMU's monitor, for a guest that stopped.
std::string vcpu_state(const Guest &g) {
    try {
        const auto regs =
            g.qmp("human-monitor-command", {{"command-line", "info registers"}}).get<std::string>();
        return fmt::format("{}; {}", register_lines(regs, {"RIP=", "CS =", "CR0="}),
                           g.qmp("query-status").dump());
    } catch (const Failure &f) {
        return "no answer: " + f.message;
    }
}

// CPU resets QEMU logged (-d cpu_reset), and the state before the last one, in short.
std::pair<unsigned, std::string> cpu_resets(const Guest &g) {
    const auto log = slurp(g.dir() + "/reset.log");
    unsigned n = 0;
    std::size_t last = std::string::npos;
    for (auto at = log.find("CPU Reset"); at != std::string::npos;
         at = log.find("CPU Reset", at + 1), n++)
        last = at;
    if (last == std::string::npos)
        return {0, ""};
    return {n, register_lines(log.substr(last), {"RIP=", "CR0=", "CR2=", "EFER="})};
}

// The migrated guest carries on from where the source left it: it must not have crashed or
// booted again on the destination. A reboot (panic=-1) looks like a device that starts late
// and a tmpfs that lost its files, so say it plainly, with the guest's own last words.
// `start_resets`: the CPU resets its QEMU logged while it created the machine (incoming or
// not), before the guest ran; any later one is the guest's.
void destination_intact(const Guest &dst, unsigned start_resets, const char *when) {
    const auto console = slurp(dst.dir() + "/console.log");
    const auto [resets, state] = cpu_resets(dst);
    std::string what;
    bool crashed = false;
    for (const char *word : {"Kernel panic", "BUG:", "Oops", "general protection", "WARNING:"})
        if (console.find(word) != std::string::npos) {
            what = fmt::format("says '{}'", word);
            crashed = true;
            break;
        }
    if (what.empty() && dst.boots() > 0)
        what = "shows a new boot (its init said ready)";
    if (resets > start_resets)
        what += fmt::format("{}QEMU logged {} CPU resets ({} at start), the last from: {}",
                            what.empty() ? "" : "; ", resets, start_resets, state);
    if (what.empty())
        return;
    const auto why = fmt::format("the destination guest, {}: {}; its console: {}", when, what,
                                 dst.console_tail(60));
    // Reset with no word on its console (no panic, which panic=-1 prints before it resets):
    // the substrate's class of GuestStopped, seen on vhost-net to vhost-net too.
    if (!crashed)
        throw GuestStopped{why};
    fail(why);
}

struct Figures {
    std::string status = "-";
    long long downtime = -1, total = -1, setup = -1;
    unsigned long long transferred = 0;
};

void record(const std::string &test, const Figures &f, const char *result) {
    std::ofstream(path("figures"), std::ios::app)
        << fmt::format("{} {} {} {} {} {} {}\n", test, result, f.status, f.downtime, f.total,
                       f.setup, f.transferred);
}

long long num(const nlohmann::json &j, const char *key) {
    return j.contains(key) && j[key].is_number() ? j[key].get<long long>() : -1;
}

void migrate(Backend from, Backend to, const std::string &test, Figures &fig) {
    fs::create_directories(kRoot);
    kill_leftovers();
    ensure_bridge();
    if (file_size(blob()) != kBlobMiB << 20)
        must_sh(
            fmt::format("dd if=/dev/urandom of={} bs=1M count={} 2>/dev/null", blob(), kBlobMiB));

    auto [src, sslot] = source_for(from);
    chain_broken(test + " did not finish");
    const unsigned dslot = 1 - sslot;
    if (const auto stale = Guest::find(slot_spec(dslot, to, false)))
        stale->kill();
    const std::string sock = path(fmt::format("slot{}/migrate.sock", dslot));
    fs::remove(sock);
    const auto dst = Guest::launch(slot_spec(dslot, to, true));
    dst.qmp("migrate-incoming", {{"uri", "unix:" + sock}});
    EXPECT_EQ(dst.qmp("query-status")["status"].get<std::string>(), std::string("inmigrate"));
    const unsigned start_resets = cpu_resets(dst).first;
    note("{} -> {}: source QEMU pid {} (tap {}), destination pid {} (tap {})", name(from), name(to),
         src.pid(), kTaps[sslot], dst.pid(), kTaps[dslot]);
    expect_instances({{&src, from == Backend::Vhnet}, {&dst, to == Backend::Vhnet}},
                     "before the migration");
    const auto src_instance = from == Backend::Vhnet ? vhnet_instance_of(src.pid()) : "";

    // The streams: receivers first, then the senders, each stopped by SIGUSR1.
    const auto rate = std::to_string(kRate);
    src.must(fmt::format("rm -f /tmp/rx /tmp/rx.log /tmp/tx.log /tmp/tx.pid; "
                         "vhnet-xfer recv --rate {} {} /tmp/rx >/tmp/rx.log 2>&1 &",
                         rate, kToPort));
    const auto rx = path("rx");
    fs::remove(rx);
    Proc recv({"vhnet-xfer", "recv", kFromPort, rx}, "/dev/null", path("recv.log"));
    Proc send({"vhnet-xfer", "send", "--until-signal", kGuestIp, kToPort}, blob(),
              path("send.log"));
    src.must(fmt::format("{} | vhnet-xfer send --rate {} --until-signal {} {} >/tmp/tx.log 2>&1 & "
                         "echo $! >/tmp/tx.pid",
                         guest_tx_source(), rate, kBridgeIp, kFromPort));
    // Going, and the guest's receive queue filled (its window grows for a few seconds).
    unsigned long long in_guest = 0, queued = 0;
    for (const auto end = Clock::now() + 45s;;) {
        const auto words = src.must(fmt::format("stat -c %s /tmp/rx 2>/dev/null || echo 0; "
                                                "awk '$2 ~ /:{:04X}$/ && $4 == \"01\" "
                                                "{{ split($5, q, \":\"); print q[2] }}' "
                                                "/proc/net/tcp",
                                                std::stoi(kToPort)));
        std::istringstream in(words);
        std::string size, rxq;
        in >> size >> rxq;
        in_guest = std::strtoull(size.c_str(), nullptr, 10);
        queued = std::strtoull(rxq.c_str(), nullptr, 16);
        if (in_guest >= kWarmupBytes && queued >= kQueuedBytes && file_size(rx) >= kWarmupBytes)
            break;
        if (Clock::now() > end || !send.running() || !recv.running())
            fail(fmt::format("the streams did not get going: {} bytes in the guest ({} queued "
                             "unread), {} from it; sender: {}, receiver: {}",
                             in_guest, queued, file_size(rx), send.output(), recv.output()));
        std::this_thread::sleep_for(250ms);
    }
    note("before the migration: {} bytes in the guest and {} queued unread, {} bytes from it; {}",
         in_guest, queued, file_size(rx), prune_counters(src));

    // The migration.
    src.qmp("migrate-set-parameters", {{"max-bandwidth", kMaxBandwidth}, {"downtime-limit", 1}});
    src.qmp("migrate", {{"uri", "unix:" + sock}});
    const auto t0 = Clock::now();
    std::optional<Clock::time_point> first_pass;
    bool released = false;
    nlohmann::json info;
    std::string log_all = "-";
    for (;;) {
        info = src.qmp("query-migrate");
        fig.status = info.value("status", std::string("?"));
        if (fig.status == "completed" || fig.status == "failed" || fig.status == "cancelled")
            break;
        if (!first_pass && info.contains("ram") && num(info["ram"], "dirty-sync-count") >= 2) {
            first_pass = Clock::now();
            src.qmp("migrate-set-parameters", {{"max-bandwidth", kHoldBandwidth}});
            note("first pass over RAM done after {:.1f} s",
                 std::chrono::duration<double>(*first_pass - t0).count());
        }
        if (first_pass && !released && Clock::now() - *first_pass >= kHold) {
            src.qmp("migrate-set-parameters",
                    {{"downtime-limit", kDowntimeLimitMs}, {"max-bandwidth", kMaxBandwidth}});
            released = true;
        }
        if (!src_instance.empty() && log_all != "1")
            log_all = debugfs_fields(fmt::format("{}/{}/info", kDebugfs, src_instance))["log_all"];
        if (Clock::now() - t0 > kMigrateLimit) {
            const auto why = fmt::format("the migration did not complete in {}s: {}",
                                         kMigrateLimit.count(), info.dump());
            src.qmp("migrate_cancel");
            fail(why);
        }
        std::this_thread::sleep_for(100ms);
    }
    // Where the streams were when it completed.
    const bool send_alive = send.running(), recv_alive = recv.running();
    const auto to_at = send.written(), from_at = file_size(rx);
    const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    // QEMU says "completed" a moment before it has worked out the times (0 until then).
    for (int i = 0; i < 50 && fig.status == "completed" && num(info, "total-time") <= 0; i++) {
        std::this_thread::sleep_for(100ms);
        info = src.qmp("query-migrate");
    }
    fig.downtime = num(info, "downtime");
    fig.total = num(info, "total-time");
    fig.setup = num(info, "setup-time");
    if (info.contains("ram"))
        fig.transferred = static_cast<unsigned long long>(num(info["ram"], "transferred"));
    note("{} -> {}: {}; downtime {} ms, total-time {} ms, setup-time {} ms, ram {} bytes, {} "
         "dirty syncs ({:.1f} s polled)",
         name(from), name(to), fig.status, fig.downtime, fig.total, fig.setup, fig.transferred,
         info.contains("ram") ? num(info["ram"], "dirty-sync-count") : -1, wall);
    if (!src_instance.empty())
        note("source vhnet instance {}: log_all {} while migrating", src_instance, log_all);
    if (fig.status != "completed")
        fail(fmt::format("migration {}: {}", fig.status, info.dump()));
    if (first_pass)
        note("switched over {:.1f} s after the first pass (held {}: {})",
             std::chrono::duration<double>(Clock::now() - *first_pass).count(), kHold.count(),
             released ? "released" : "QEMU converged before the release");
    note("at completion: to the guest {} bytes written, sender {}; from the guest {} bytes "
         "received, receiver {}",
         to_at, send_alive ? "running" : "exited", from_at, recv_alive ? "running" : "exited");
    if (!send_alive || !recv_alive)
        fail(fmt::format("a stream ended before the migration completed (sender: '{}', "
                         "receiver: '{}'): it proves nothing",
                         send.output(), recv.output()));

    // The destination runs and answers; the source is done.
    std::string status;
    for (const auto end = Clock::now() + 20s; Clock::now() < end;
         std::this_thread::sleep_for(100ms))
        if ((status = dst.qmp("query-status")["status"]) == "running")
            break;
    const auto src_status = src.qmp("query-status")["status"].get<std::string>();
    note("after: destination {}, source {}", status, src_status);
    EXPECT_EQ(status, std::string("running"));
    // QEMU 7.2 can answer query-status "running" while the devices' run-state handlers (which
    // start vhost) are still going on: wait until every virtio device says it runs and the
    // NIC's vhost is started, as QEMU itself reports (either backend), before looking or
    // talking to the guest.
    nlohmann::json vio;
    const auto w0 = Clock::now();
    for (const auto end = w0 + 20s;; std::this_thread::sleep_for(100ms)) {
        vio = virtio_status_all(dst);
        bool up = vio.contains("virtio-net") && vio["virtio-net"].value("vhost-started", false);
        for (const auto &[dev, st] : vio.items())
            up = up && st.is_object() && st.value("vm-running", false);
        if (up)
            break;
        if (Clock::now() > end) {
            destination_intact(dst, start_resets, "while its devices did not run");
            // Whether the guest answers on its virtio-serial port tells a guest that stopped
            // as a whole (the substrate's class: seen once with the NIC's status reading 0
            // and nothing on the console) from a NIC that did not start under a live guest.
            bool answers = true;
            std::string shell;
            try {
                shell = "answers: " + first_word(dst.must("echo alive", 30));
            } catch (const Failure &f) {
                answers = false;
                shell = "no answer: " + f.message;
            }
            const auto why = fmt::format(
                "the destination's devices are not all running with vhost 20 s after QEMU said "
                "running ({}): {}; its shell {}; its vCPU: {}; its guest's console: {}",
                name(to), vio.dump(), shell, vcpu_state(dst), dst.console_tail(15));
            if (!answers)
                throw GuestStopped{why};
            fail(why);
        }
    }
    if (const auto waited = Clock::now() - w0; waited > 150ms)
        note("the destination's devices ran {:.1f} s after QEMU said running",
             std::chrono::duration<double>(waited).count());
    destination_intact(dst, start_resets, "when its devices ran");
    src.quit();
    if (!src_instance.empty()) {
        const auto folder = fmt::format("{}/{}", kDebugfs, src_instance);
        for (int i = 0; i < 100 && fs::exists(folder); i++)
            std::this_thread::sleep_for(100ms);
        if (fs::exists(folder))
            fail(fmt::format("the source's vhnet instance {} is still there after it quit",
                             src_instance));
    }
    // QEMU falls back to its own virtio-net when the backend refuses to start: the guest
    // still works, so only QEMU's log tells (the same check for both backends).
    const auto dst_log = slurp(dst.dir() + "/qemu.log");
    if (dst_log.find("vhost") != std::string::npos)
        fail(fmt::format("the destination's QEMU reports a vhost problem: {}",
                         dst_log.substr(dst_log.size() > 2000 ? dst_log.size() - 2000 : 0)));
    expect_instances({{&dst, to == Backend::Vhnet}}, "after the source quit");
    if (to == Backend::Vhnet) {
        const auto id = vhnet_instance_of(dst.pid());
        auto i = debugfs_fields(fmt::format("{}/{}/info", kDebugfs, id));
        note("destination vhnet instance {}: owner_pid {}, tap {}, rx {}, tx {}", id,
             i.at("owner_pid"), i.at("tap"), i.at("rx_state"), i.at("tx_state"));
        EXPECT_EQ(i.at("owner_pid"), std::to_string(dst.pid()));
        EXPECT_EQ(i.at("tap"), std::string(kTaps[dslot]));
        EXPECT_EQ(i.at("rx_state"), std::string("running"));
        EXPECT_EQ(i.at("tx_state"), std::string("running"));
    }
    // Over the destination's own virtio-serial socket: the guest's init resumed. When it does
    // not answer, whether the guest still sends (its stream to the test VM grows) tells a stuck
    // port from a stuck guest.
    try {
        EXPECT_EQ(first_word(dst.must("echo resumed", 90)), std::string("resumed"));
    } catch (const vmtest::Failure &f) {
        const auto before = file_size(rx);
        std::this_thread::sleep_for(5s);
        const auto after = file_size(rx);
        const auto why = fmt::format(
            "{}; the guest's stream to the test VM {} ({} -> {} bytes in 5 s); QEMU's virtio "
            "devices: {}; its vCPU: {}; the source's console: {}",
            f.message, after > before ? "still grows" : "stands still", before, after,
            virtio_status_all(dst).dump(), vcpu_state(dst), src.console_tail(10));
        // The whole guest stopped: neither its serial port nor its network moves.
        if (after == before)
            throw GuestStopped{why};
        fail(why);
    }

    // A destination that reset or crashed in the meantime fails what follows (its tmpfs is
    // gone): name that, not the file it lost.
    try {
        // The streams go on on the destination, then stop.
        std::this_thread::sleep_for(kAfter);
        ::kill(send.pid(), SIGUSR1);
        dst.run("kill -USR1 $(cat /tmp/tx.pid)", 30);
        const bool send_done = send.wait(60s), recv_done = recv.wait(60s);
        std::string rx_log, tx_log;
        for (const auto end = Clock::now() + 60s; Clock::now() < end;
             std::this_thread::sleep_for(250ms)) {
            rx_log = dst.must("cat /tmp/rx.log /dev/null", 30);
            tx_log = dst.must("cat /tmp/tx.log /dev/null", 30);
            if (xfer_bytes(rx_log, "received") && xfer_bytes(tx_log, "sent"))
                break;
        }
        const auto to_sent = xfer_bytes(send.output(), "sent");
        const auto to_got = xfer_bytes(rx_log, "received");
        const auto from_sent = xfer_bytes(tx_log, "sent");
        const auto from_got = xfer_bytes(recv.output(), "received");
        if (!send_done || !to_sent || !to_got || !send.exited_ok())
            fail(fmt::format("the stream to the guest did not finish on the destination: sender "
                             "'{}' ({} bytes written), guest receiver '{}' ({} bytes in /tmp/rx)",
                             send.output(), send.written(), rx_log,
                             first_word(dst.run("stat -c %s /tmp/rx", 30).out)));
        if (!recv_done || !from_sent || !from_got || !recv.exited_ok())
            fail(fmt::format("the stream from the guest did not finish on the destination: guest "
                             "sender '{}', receiver '{}' ({} bytes so far)",
                             tx_log, recv.output(), file_size(rx)));
        note("guest TCP after: {}", prune_counters(dst));
        note("to the guest: {} bytes ({} after completion); from the guest: {} bytes ({} after)",
             *to_sent, *to_sent - std::min(*to_sent, to_at), *from_got,
             *from_got - std::min(*from_got, from_at));

        // Byte for byte: what arrived is what was sent (a prefix of the source file).
        const auto to_want =
            first_word(must_sh(fmt::format("head -c {} {} | sha256sum", *to_sent, blob())));
        // Tens of MB through sha256sum in a nested guest whose QEMU shares a CPU: give it time,
        // and say how long it took.
        const auto sum_start = Clock::now();
        const auto to_have = first_word(dst.must("sha256sum /tmp/rx", kSumSeconds));
        const auto from_want = first_word(
            dst.must(fmt::format("{} | head -c {} | sha256sum", guest_tx_source(), *from_sent),
                     kSumSeconds));
        note("the guest's two sha256sums took {:.1f} s",
             std::chrono::duration<double>(Clock::now() - sum_start).count());
        const auto from_have = first_word(must_sh("sha256sum " + rx));
        dst.run("rm -f /tmp/rx", 30);
        fs::remove(rx);
        std::vector<std::string> bad;
        if (*to_got != *to_sent || to_have != to_want)
            bad.push_back(
                fmt::format("to the guest: sent {} bytes sha256 {}, the guest got {} bytes "
                            "sha256 {}",
                            *to_sent, to_want, *to_got, to_have));
        if (*from_got != *from_sent || from_have != from_want)
            bad.push_back(
                fmt::format("from the guest: sent {} bytes sha256 {}, got {} bytes sha256 {}",
                            *from_sent, from_want, *from_got, from_have));
        if (!bad.empty())
            fail(fmt::format("{}", fmt::join(bad, "; ")));
        // Both carried data on the destination, not only before the switch.
        if (*to_sent <= to_at || *from_got <= from_at)
            fail("a stream moved nothing after the migration completed");
    } catch (const GuestStopped &) {
        throw;
    } catch (const Failure &f) {
        destination_intact(dst, start_resets, "after the migration");
        // Its shell went silent: a guest that answers no ping either stopped as a whole, the
        // substrate's class (as at "echo resumed" above); one that answers pings fails.
        if (f.message.find("gave no answer") != std::string::npos) {
            // busybox: "3 packets transmitted, N packets received, ..."
            auto ping =
                sh(fmt::format("ping -c 3 -W 2 {} 2>&1 | grep 'packets received'", kGuestIp)).out;
            std::erase(ping, '\n');
            const bool answers = ping.find(" 0 packets received") == std::string::npos &&
                                 ping.find("packets received") != std::string::npos;
            const auto why =
                fmt::format("{}; ping: {}; its vCPU: {}", f.message, ping, vcpu_state(dst));
            if (!answers)
                throw GuestStopped{why};
            fail(why);
        }
        throw;
    }
    destination_intact(dst, start_resets, "at the end");
    chain_ok(dslot, to);
}

struct Step {
    Backend from, to;
    const char *name;
};

// Each starts on the backend the one before ended on, so that one guest can run them all.
constexpr Step kSequence[] = {
    {Backend::VhostNet, Backend::VhostNet, "vhost-net-to-vhost-net-1"},
    {Backend::VhostNet, Backend::VhostNet, "vhost-net-to-vhost-net-2"},
    {Backend::VhostNet, Backend::Vhnet, "vhost-net-to-vhnet"},
    {Backend::Vhnet, Backend::Vhnet, "vhnet-to-vhnet-1"},
    {Backend::Vhnet, Backend::Vhnet, "vhnet-to-vhnet-2"},
    {Backend::Vhnet, Backend::VhostNet, "vhnet-to-vhost-net"},
};

void run_step(const Step &s, const std::string &test) {
    Figures fig;
    const char *result = "ok";
    try {
        try {
            migrate(s.from, s.to, test, fig);
        } catch (const GuestStopped &g) {
            // Once, loudly: a second stop of the same migration fails it.
            note("NESTED GUEST STOPPED OR RESET: {}", g.message);
            note("{}: the nested guest stopped or reset as a whole; once more on a fresh guest",
                 test);
            chain_broken(test + " stopped");
            fig = {};
            migrate(s.from, s.to, test, fig);
            result = "ok-2nd";
        }
    } catch (const Failure &f) {
        chain_broken(test + " failed");
        record(test, fig, "fail");
        throw;
    }
    record(test, fig, result);
}

// The bridge and its taps, checked once on their own.
void bridge() {
    fs::create_directories(kRoot);
    fs::remove(path("chain"));
    fs::remove(path("figures"));
    ensure_bridge();
    for (const char *m : {"bridge", "stp", "llc"})
        if (!fs::exists(fmt::format("/sys/module/{}", m)))
            fail(fmt::format("module {} is not loaded", m));
    for (const char *tap : kTaps)
        EXPECT_EQ(master_of(tap), std::string(kBridge));
    note("{}: {}", kBridge, must_sh(fmt::format("ip -4 -o addr show dev {}", kBridge)));
}

// Quits the guests; prints what QEMU reported for each migration.
void teardown() {
    quit_slots();
    kill_leftovers();
    std::ifstream in(path("figures"));
    note("{:<34} {:>6} {:>10} {:>9} {:>10} {:>8} {:>12}", "migration", "result", "status",
         "downtime", "total-time", "setup", "ram bytes");
    std::string test, result, status, downtime, total, setup, ram;
    while (in >> test >> result >> status >> downtime >> total >> setup >> ram)
        note("{:<34} {:>6} {:>10} {:>9} {:>10} {:>8} {:>12}", test, result, status, downtime, total,
             setup, ram);
    const int left = vhnet_instances();
    if (left != 0)
        fail(fmt::format("{} vhnet instances left after the guests quit: {}", left,
                         describe(vhnet_owners())));
    // The bridge and the taps go; the chain is over.
    sh(fmt::format("ip link set {0} down; brctl delbr {0}", kBridge));
    for (const char *tap : kTaps)
        sh(fmt::format("vhnetctl tap del {}", tap));
    fs::remove(path("chain"));
}

struct Registrar {
    Registrar() {
        add_test("migration", "bridge", bridge, 60);
        const int repeat = std::max(1, std::atoi(config_value("REPEAT").c_str()));
        for (int r = 1; r <= repeat; r++)
            for (const auto &s : kSequence) {
                const auto test =
                    repeat == 1 ? std::string(s.name) : fmt::format("r{}-{}", r, s.name);
                add_test(
                    "migration", test, [&s, test] { run_step(s, "migration/" + test); }, 720);
            }
        add_test("migration", "teardown", teardown, 120);
    }
} const registrar;

} // namespace
