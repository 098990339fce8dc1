// SPDX-License-Identifier: GPL-2.0
#include "qemu_common.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "util.h"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using vmtest::fail;

namespace qemu {
namespace {

constexpr Backend kBackends[] = {Backend::Vhnet, Backend::VhostNet, Backend::Userspace};
constexpr const char *kRoot = "/tmp/qemu";
constexpr const char *kReady = "vhnet-inner: ready";

unsigned subnet(Backend b) {
    switch (b) {
    case Backend::Vhnet:
        return 1;
    case Backend::VhostNet:
        return 2;
    case Backend::Userspace:
        return 3;
    }
    return 0;
}

std::string slurp(const std::string &path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// The last `lines` lines of `text`.
std::string tail(const std::string &text, unsigned lines) {
    std::size_t start = text.size();
    // Skip a final newline, then step back over `lines` line breaks.
    if (start > 0 && text[start - 1] == '\n')
        start--;
    for (unsigned n = 0; n < lines && start > 0; n++) {
        const auto nl = text.rfind('\n', start - 1);
        start = nl == std::string::npos ? 0 : nl;
    }
    return text.substr(start < text.size() && text[start] == '\n' ? start + 1 : start);
}

unsigned count_of(const std::string &text, const std::string &what) {
    unsigned n = 0;
    for (auto pos = text.find(what); pos != std::string::npos; pos = text.find(what, pos + 1))
        n++;
    return n;
}

// A process that exists and has not exited (a zombie counts as gone: its files are closed).
bool running(pid_t pid) {
    if (pid <= 0)
        return false;
    const auto stat = slurp(fmt::format("/proc/{}/stat", pid));
    const auto paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

bool wait_gone(pid_t pid, std::chrono::seconds limit) {
    for (const auto end = Clock::now() + limit; Clock::now() < end;) {
        if (!running(pid))
            return true;
        std::this_thread::sleep_for(100ms);
    }
    return !running(pid);
}

int connect_unix(const std::string &path) {
    for (int tries = 0;; tries++) {
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
        if (::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0)
            return fd;
        const int err = errno;
        ::close(fd);
        // QEMU takes the next client once it has noticed the last one leave.
        if (tries > 50)
            fail(fmt::format("connect {}: {}", path, vmtest::errname(err)));
        std::this_thread::sleep_for(100ms);
    }
}

// Reads from `fd` into `buf` until `done(buf)` or the deadline; false on timeout or EOF.
template <typename Done>
bool read_until(int fd, std::string &buf, Clock::time_point deadline, Done done) {
    char chunk[4096];
    while (!done(buf)) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0)
            return false;
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0)
            continue;
        const ssize_t n = ::read(fd, chunk, sizeof chunk);
        if (n <= 0)
            return false;
        buf.append(chunk, static_cast<std::size_t>(n));
    }
    return true;
}

void write_all(int fd, const std::string &s) {
    std::size_t off = 0;
    while (off < s.size()) {
        const ssize_t n = ::write(fd, s.data() + off, s.size() - off);
        if (n <= 0)
            fail(fmt::format("write to a QEMU socket: {}", vmtest::errname(errno)));
        off += static_cast<std::size_t>(n);
    }
}

// The QEMU whose pid is in state dir `dir`, or -1.
pid_t read_pid(const std::string &dir) {
    const auto text = slurp(dir + "/pid");
    const pid_t pid = static_cast<pid_t>(std::atoi(text.c_str()));
    // A recycled pid is not our QEMU.
    if (!running(pid) || slurp(fmt::format("/proc/{}/comm", pid)).rfind("qemu-system", 0) != 0)
        return -1;
    return pid;
}

std::string first_word(const std::string &s) {
    return s.substr(0, s.find_first_of(" \t\n"));
}

// "received N bytes in S s, ..." as a Transfer.
Transfer parse_received(const std::string &log) {
    Transfer t;
    const auto pos = log.find("received ");
    if (pos == std::string::npos ||
        std::sscanf(log.c_str() + pos, "received %llu bytes in %lf s", &t.bytes, &t.seconds) != 2)
        fail(fmt::format("vhnet-xfer recv said: {}", log));
    return t;
}

// Every nested QEMU runs on the test VM's first CPU, so that at most one of its vCPUs is ever in
// a nested guest. The test VM's SVM is TCG's: in CI, a VM whose two vCPUs both ran nested guests
// (the migration suite's first source and destination, vhost-net on both ends) locked up for
// good, both vCPUs in soft lockup in the nested QEMUs' threads (Documentation/testing.rst).
// The backends' workers still run anywhere. Called in the child, before exec; QEMU's threads
// inherit the mask.
void pin_to_first_cpu() {
    cpu_set_t all;
    if (::sched_getaffinity(0, sizeof(all), &all) != 0)
        return;
    for (size_t cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &all))
            continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ::sched_setaffinity(0, sizeof(one), &one);
        return;
    }
}

} // namespace

const char *name(Backend b) {
    switch (b) {
    case Backend::Vhnet:
        return "vhnet";
    case Backend::VhostNet:
        return "vhost-net";
    case Backend::Userspace:
        return "userspace";
    }
    return "?";
}

std::string device(Backend b) {
    switch (b) {
    case Backend::Vhnet:
        return vmtest::kVhnet;
    case Backend::VhostNet:
        return vmtest::kVhostNet;
    case Backend::Userspace:
        return "";
    }
    return "";
}

std::string host_ip(Backend b) {
    return fmt::format("198.18.{}.1", subnet(b));
}

std::string guest_ip(Backend b) {
    return fmt::format("198.18.{}.2", subnet(b));
}

std::string tap_name(Backend b) {
    return fmt::format("qt{}", subnet(b));
}

GuestSpec default_spec(Backend b) {
    GuestSpec s;
    s.backend = b;
    s.dir = fmt::format("{}/{}", kRoot, name(b));
    s.tap = tap_name(b);
    s.host_ip = host_ip(b);
    s.guest_ip = guest_ip(b);
    s.mac = fmt::format("52:54:00:00:{:02x}:02", subnet(b));
    return s;
}

std::string Guest::label() const {
    if (spec_.dir == default_spec(b_).dir)
        return name(b_);
    return fmt::format("{} ({})", name(b_), spec_.dir);
}

bool Guest::alive() const {
    return running(pid_);
}

Guest Guest::ensure(Backend b) {
    if (const auto g = find(default_spec(b)))
        return *g;
    return start(b);
}

std::optional<Guest> Guest::find(const GuestSpec &spec) {
    const pid_t pid = read_pid(spec.dir);
    if (pid > 0)
        return Guest(spec, pid);
    return std::nullopt;
}

Guest Guest::start(Backend b, Launch how) {
    quit_all();

    const auto tap = tap_name(b);
    if (!fs::exists("/sys/class/net/" + tap))
        must_sh(fmt::format("vhnetctl tap add {} --addr {}/24", tap, qemu::host_ip(b)));
    must_sh(fmt::format("ip link set {} up", tap));
    auto spec = default_spec(b);
    spec.how = how;
    return launch(spec);
}

Guest Guest::launch(const GuestSpec &spec) {
    const Backend b = spec.backend;
    const std::string &d = spec.dir;
    const std::string &tap = spec.tap;
    fs::create_directories(d);
    for (const char *f : {"console.log", "ctl.sock", "qmp.sock", "qemu.log", "pid"})
        fs::remove(d + "/" + f);

    // The nested guest: KVM on the test VM's emulated SVM, Debian's kernel, a busybox init.
    std::vector<std::string> qemu = {
        "qemu-system-x86_64",
        "-accel",
        "kvm",
        "-cpu",
        "host",
        "-nodefaults",
        "-m",
        std::to_string(spec.mem_mib),
        "-smp",
        "1",
        "-L",
        "/usr/share/vhnet-qemu",
        "-kernel",
        "/vm/inner/vmlinuz",
        "-initrd",
        "/vm/inner/initrd.gz",
        "-append",
        fmt::format("console=ttyS0 quiet panic=-1 vhnet.ip={}/24", spec.guest_ip),
        "-display",
        "none",
        "-serial",
        fmt::format("file:{}/console.log", d),
        "-chardev",
        fmt::format("socket,id=ctl,path={}/ctl.sock,server=on,wait=off", d),
        "-device",
        "virtio-serial-pci",
        "-device",
        "virtserialport,chardev=ctl,name=vhnet.ctl",
        "-qmp",
        fmt::format("unix:{}/qmp.sock,server=on,wait=off", d),
        "-device",
        fmt::format("virtio-net-pci,netdev=n0,romfile=,mac={}", spec.mac),
    };
    qemu.insert(qemu.end(), spec.extra_args.begin(), spec.extra_args.end());

    std::vector<std::string> argv;
    if (spec.how == Launch::Vhnetctl) {
        argv = {"vhnetctl", "qemu", "--tap", tap};
        if (b == Backend::Userspace)
            argv.push_back("--no-vhost");
        else
            argv.insert(argv.end(), {"--dev", device(b)});
        argv.push_back("--");
        argv.insert(argv.end(), qemu.begin(), qemu.end());
        argv.insert(argv.end(), {"-netdev", "tap,id=n0"});
    } else {
        // What a user types: QEMU opens the tap itself and inherits the vhost fd as fd 3.
        std::string line = "exec";
        for (const auto &a : qemu)
            line += " '" + a + "'";
        line += fmt::format(" -netdev tap,id=n0,ifname={},script=no,downscript=no", tap);
        if (b == Backend::Userspace)
            line += ",vhost=off";
        else
            line += fmt::format(",vhost=on,vhostfd=3 3<>{}", device(b));
        argv = {"/bin/sh", "-c", line};
    }

    std::fflush(stdout);
    const pid_t pid = ::fork();
    if (pid < 0)
        fail(fmt::format("fork: {}", vmtest::errname(errno)));
    if (pid == 0) {
        ::setsid();
        pin_to_first_cpu();
        const int log = ::open((d + "/qemu.log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        const int null = ::open("/dev/null", O_RDONLY);
        ::dup2(null, STDIN_FILENO);
        ::dup2(log, STDOUT_FILENO);
        ::dup2(log, STDERR_FILENO);
        std::vector<char *> args;
        for (auto &a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        ::_exit(127);
    }
    std::ofstream(d + "/pid") << pid << "\n";
    Guest g(spec, pid);
    if (spec.wait_ready)
        g.wait_ready(1);
    else
        g.wait_qmp();
    // The rig relies on the pin (pin_to_first_cpu): a QEMU free to run anywhere fails here.
    const std::string st = slurp(fmt::format("/proc/{}/status", pid));
    const auto at = st.find("Cpus_allowed_list:");
    std::string cpus = "?";
    if (at != std::string::npos) {
        const std::string rest = st.substr(at + 18);
        cpus = first_word(rest.substr(std::min(rest.size(), rest.find_first_not_of(" \t"))));
    }
    if (cpus.find_first_of(",-?") != std::string::npos) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        fail(fmt::format("{}: QEMU may run on CPUs {}, not on one", g.label(), cpus));
    }
    return g;
}

void Guest::wait_qmp(unsigned timeout_s) const {
    const auto end = Clock::now() + std::chrono::seconds(timeout_s);
    for (;;) {
        if (!alive())
            fail(fmt::format("{}: QEMU exited before QMP was up: {}", label(),
                             tail(slurp(dir() + "/qemu.log"), 5)));
        const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "%s/qmp.sock", dir().c_str());
        const bool up = ::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0;
        ::close(fd);
        if (up)
            return;
        if (Clock::now() > end)
            fail(fmt::format("{}: QMP not up after {}s", label(), timeout_s));
        std::this_thread::sleep_for(100ms);
    }
}

unsigned Guest::boots() const {
    return count_of(slurp(dir() + "/console.log"), kReady);
}

void Guest::wait_ready(unsigned boots_wanted, unsigned timeout_s) const {
    const auto end = Clock::now() + std::chrono::seconds(timeout_s);
    while (boots() < boots_wanted) {
        if (!alive())
            fail(fmt::format("{}: QEMU exited before the guest was ready: {} | console: {}",
                             label(), tail(slurp(dir() + "/qemu.log"), 5), console_tail(10)));
        if (Clock::now() > end)
            fail(fmt::format("{}: guest not ready after {}s; console: {}", label(), timeout_s,
                             console_tail(15)));
        std::this_thread::sleep_for(250ms);
    }
}

Cmd Guest::run(const std::string &command, unsigned timeout_s) const {
    static unsigned seq;
    const std::string nonce = fmt::format("{}-{}-{}", ::getpid(), ++seq, ::time(nullptr));
    const std::string end = "@@" + nonce + " ";
    const int fd = connect_unix(dir() + "/ctl.sock");
    write_all(fd, nonce + "\t" + command + "\n");
    std::string buf;
    const bool ok =
        read_until(fd, buf, Clock::now() + std::chrono::seconds(timeout_s), [&](const auto &b) {
            const auto pos = b.find(end);
            return pos != std::string::npos && b.find('\n', pos) != std::string::npos;
        });
    ::close(fd);
    if (!ok)
        fail(fmt::format("{}: guest command '{}' gave no answer in {}s (got '{}'); console: {}",
                         label(), command, timeout_s, tail(buf, 5), console_tail(10)));
    // Lines up to the last earlier "@@" line answer commands of abandoned connections.
    const auto pos = buf.find(end);
    std::size_t start = 0;
    for (std::size_t at = 0; at < pos; at = buf.find('\n', at) + 1) {
        if (buf.compare(at, 2, "@@") == 0)
            start = std::min(buf.find('\n', at) + 1, pos);
        if (buf.find('\n', at) >= pos)
            break;
    }
    Cmd c;
    c.out = buf.substr(start, pos - start);
    c.status = std::atoi(buf.c_str() + pos + end.size());
    return c;
}

std::string Guest::must(const std::string &command, unsigned timeout_s) const {
    auto c = run(command, timeout_s);
    if (c.status != 0)
        fail(fmt::format("{}: guest command '{}' exited {}: {}", label(), command, c.status,
                         tail(c.out, 5)));
    return c.out;
}

nlohmann::json Guest::qmp(const std::string &execute, const nlohmann::json &args) const {
    const int fd = connect_unix(dir() + "/qmp.sock");
    std::string buf;
    // One JSON document per line; events are skipped.
    auto next = [&](const char *want) -> nlohmann::json {
        for (;;) {
            const auto nl = buf.find('\n');
            if (nl == std::string::npos) {
                if (!read_until(fd, buf, Clock::now() + 30s,
                                [](const auto &b) { return b.find('\n') != std::string::npos; }))
                    fail(fmt::format("{}: QMP: no answer to {}", label(), execute));
                continue;
            }
            const auto line = buf.substr(0, nl);
            buf.erase(0, nl + 1);
            auto doc = nlohmann::json::parse(line, nullptr, false);
            if (doc.is_discarded() || doc.contains("event"))
                continue;
            if (doc.contains("error"))
                fail(fmt::format("{}: QMP {}: {}", label(), execute, doc["error"].dump()));
            if (doc.contains(want))
                return doc[want];
        }
    };
    next("QMP");
    write_all(fd, R"({"execute":"qmp_capabilities"})"
                  "\n");
    next("return");
    nlohmann::json cmd = {{"execute", execute}};
    if (!args.is_null())
        cmd["arguments"] = args;
    write_all(fd, cmd.dump() + "\n");
    auto result = next("return");
    ::close(fd);
    return result;
}

void Guest::quit() const {
    if (!alive())
        return;
    // QEMU may be gone before its answer arrives: only whether it exits matters.
    try {
        qmp("quit");
    } catch (const vmtest::Failure &) {
    }
    if (!wait_gone(pid_, 20s))
        kill();
}

void Guest::kill() const {
    ::kill(pid_, SIGKILL);
    if (!wait_gone(pid_, 20s))
        fail(fmt::format("{}: QEMU (pid {}) still there 20s after SIGKILL", label(), pid_));
}

std::string Guest::console_tail(unsigned lines) const {
    return tail(slurp(dir() + "/console.log"), lines);
}

int Guest::vhnet_instance() const {
    const auto id = vmtest::vhnet_instance_of(pid_);
    return id.empty() ? -1 : std::atoi(id.c_str());
}

void quit_all() {
    for (const auto b : kBackends)
        if (const auto g = Guest::find(default_spec(b)))
            g->quit();
}

Transfer tcp_to_guest(const Guest &g, unsigned mib) {
    const std::string blob = fmt::format("{}/blob", kRoot);
    const auto sent = first_word(must_sh(fmt::format(
        "dd if=/dev/urandom of={} bs=1M count={} 2>/dev/null && sha256sum {}", blob, mib, blob)));
    g.must("rm -f /tmp/rx /tmp/rx.log; vhnet-xfer recv 5001 /tmp/rx >/tmp/rx.log 2>&1 &");
    must_sh(fmt::format("vhnet-xfer send {} 5001 <{}", g.guest_ip(), blob));
    std::string log;
    for (int i = 0; i < 100 && log.find("received") == std::string::npos; i++) {
        log = g.must("cat /tmp/rx.log");
        if (log.find("received") == std::string::npos)
            std::this_thread::sleep_for(100ms);
    }
    const auto t = parse_received(log);
    const auto got = first_word(g.must("sha256sum /tmp/rx; rm -f /tmp/rx", 120));
    fs::remove(blob);
    if (got != sent || t.bytes != mib * 1048576ull)
        fail(fmt::format("{}: to the guest: sent {} MiB sha256 {}, received {} bytes sha256 {}",
                         name(g.backend()), mib, sent, t.bytes, got));
    return t;
}

Transfer tcp_from_guest(const Guest &g, unsigned mib) {
    const auto sent = first_word(g.must(
        fmt::format("head -c {} /dev/urandom >/tmp/tx && sha256sum /tmp/tx", mib * 1048576ull),
        180));
    const std::string rx = fmt::format("{}/rx", kRoot), log = rx + ".log";
    fs::remove(log);
    must_sh(fmt::format("vhnet-xfer recv 5002 {} >{} 2>&1 &", rx, log));
    g.must(fmt::format("vhnet-xfer send {} 5002 </tmp/tx; rm -f /tmp/tx", g.host_ip()), 300);
    std::string text;
    for (int i = 0; i < 100 && text.find("received") == std::string::npos; i++) {
        text = slurp(log);
        if (text.find("received") == std::string::npos)
            std::this_thread::sleep_for(100ms);
    }
    const auto t = parse_received(text);
    const auto got = first_word(must_sh("sha256sum " + rx));
    fs::remove(rx);
    if (got != sent || t.bytes != mib * 1048576ull)
        fail(fmt::format("{}: from the guest: sent {} MiB sha256 {}, received {} bytes sha256 {}",
                         name(g.backend()), mib, sent, t.bytes, got));
    return t;
}

unsigned ping(const Guest &g, unsigned count, unsigned wait_s) {
    const auto c = sh(fmt::format("ping -A -q -c {} -W {} {}", count, wait_s, g.guest_ip()));
    unsigned sent = 0, received = 0;
    const auto pos = c.out.find("packets transmitted");
    if (pos == std::string::npos ||
        std::sscanf(c.out.c_str() + c.out.rfind('\n', pos) + 1,
                    "%u packets transmitted, %u packets received", &sent, &received) != 2)
        fail(fmt::format("{}: ping said: {}", name(g.backend()), c.out));
    return received;
}

vmtest::Fields queue_stats(int instance, unsigned queue) {
    return vmtest::debugfs_fields(
        fmt::format("{}/{}/vq{}/stats", vmtest::kDebugfs, instance, queue));
}

} // namespace qemu
