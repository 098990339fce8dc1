// SPDX-License-Identifier: GPL-2.0
// Suite "datapath", lifecycle under load: with TX flowing at full rate (a thread, or the owner
// process itself, sending 64-frame batches as fast as the ring takes them), LIFECYCLE times (100;
// 1 000 in make test-debug) per device: (a) the device file is closed, (b) the owner process is
// killed, (c) the backend is detached and attached again, (d) the tap is deleted, (e)
// RESET_OWNER, (f) the memory table is set again, (g) the backend swapped to another tap and back
// without a detach. Afterwards no vhnet instance is left, the device module holds no more
// references than before, the tap still carries a frame written to it and serves a new device,
// and nothing hung (the test's time limit). Slab leaks: kmemleak, on the debug kernel.
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "datapath_common.h"

using namespace vmtest;
using namespace dp;

namespace {

int iterations() {
    static const int n = static_cast<int>(env_u64("LIFECYCLE", 100));
    return n;
}
// Seconds per device: generous for the debug kernel.
unsigned per_device_limit() {
    return 100 + static_cast<unsigned>(iterations());
}
constexpr uint16_t kTag = 0x0600;
constexpr uint16_t kLoadTag = 0x0601;

vhnet::DriverOptions load_options(const Ctx &c, int tap_fd) {
    auto o = driver_options(c, tap_fd);
    o.ring_size = 64;
    o.tx_buffer_size = 2048;
    o.rx_buffers = 8;
    o.interrupts = false; // the sender polls; nothing waits on an eventfd
    return o;
}

// Sends 64-frame batches and reaps, until stopped.
class Sender {
public:
    explicit Sender(vhnet::Driver &d) : d_(d), frame_(eth_frame(60, kLoadTag, 0)) {
        thread_ = std::thread([this] { run(); });
    }
    ~Sender() {
        stop_ = true;
        thread_.join();
    }
    Sender(const Sender &) = delete;
    Sender &operator=(const Sender &) = delete;

    uint64_t completed() const { return completed_.load(); }
    // Waits until `n` more packets than `from` completed; false after 5 s.
    bool wait_progress(uint64_t from, uint64_t n) const {
        for (int i = 0; i < 5000; i++) {
            if (completed() >= from + n)
                return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return false;
    }

private:
    void run() {
        std::vector<std::span<const std::byte>> batch(64, std::span<const std::byte>(frame_));
        while (!stop_) {
            auto sent = d_.send_batch(batch);
            unsigned reaped = d_.reap_tx();
            completed_ += reaped;
            if ((!sent || *sent == 0) && reaped == 0)
                std::this_thread::yield();
        }
    }

    vhnet::Driver &d_;
    Bytes frame_;
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> completed_{0};
    std::thread thread_;
};

// The tap is still a working interface and backend: a frame written to its file enters the
// interface, and a new device sends through it.
void check_tap(const Ctx &c, const vhnet::Tap &tap, Obs &obs) {
    Capture cap(tap.name());
    write_to_tap(tap, eth_frame(100, kTag, 1));
    auto got = cap.next(kTag);
    if (!got || got->id.seq != 1)
        fail(fmt::format("{}: a frame written to {} did not arrive", c.name(), tap.name()));
    obs["tap write"] = "arrives";
    auto d = must(vhnet::Driver::open(driver_options(c, tap.fd())), "Driver::open");
    must(d.send(eth_frame(100, kTag, 2)), "send");
    got = cap.next(kTag);
    if (!got || got->id.seq != 2)
        fail(fmt::format("{}: a new device on {} does not pass TX", c.name(), tap.name()));
    obs["new device"] = "passes";
}

// What a race must give back: vhnet's instances, and the device module's references (each open
// file holds one; a leaked file or instance keeps it, and the module could never be unloaded).
struct Baseline {
    int instances = 0;
    long refs = 0;
};

long module_refs(const Ctx &c) {
    const std::string path =
        fmt::format("/sys/module/{}/refcnt", c.vhnet() ? "vhnet" : "vhost_net");
    return std::stol(read_text(path));
}

Baseline baseline(const Ctx &c) {
    return {c.vhnet() ? vhnet_instances() : 0, module_refs(c)};
}

void check_instances(const Ctx &c, const Baseline &before) {
    if (c.vhnet()) {
        int after = wait_vhnet_instances(before.instances);
        if (after != before.instances)
            fail(fmt::format("vhnet: {} instances left, {} before", after, before.instances));
    }
    // The last fput of a killed owner's file may still be on its way: give it 5 s.
    const long refs = wait_for_value([&] { return module_refs(c); }, before.refs, 5000ms);
    if (refs != before.refs)
        fail(fmt::format("{}: the module holds {} references, {} before", c.name(), refs,
                         before.refs));
}

// (a) The device file is closed while a thread keeps sending: dup2() puts /dev/null in its
// place, which drops the last reference (the Driver then talks to /dev/null, harmlessly).
void close_under_load(const Ctx &c, Obs &obs) {
    const Baseline before = baseline(c);
    auto tap = open_tap(c.tap("lca"));
    int null = SYS(open("/dev/null", O_RDWR | O_CLOEXEC));
    uint64_t total = 0;
    for (int i = 0; i < iterations(); i++) {
        auto d = must(vhnet::Driver::open(load_options(c, tap.fd())), "Driver::open");
        Sender s(d);
        if (!s.wait_progress(0, 128))
            fail(fmt::format("{}: iteration {}: TX does not flow", c.name(), i));
        SYS(dup2(null, d.device()->fd()));
        total += s.completed();
    }
    close(null);
    note("{}: {} packets completed over {} closes under load", c.name(), total, iterations());
    check_instances(c, before);
    check_tap(c, tap, obs);
}

// (b) The owner process is killed while it sends.
void kill_owner_under_load(const Ctx &c, Obs &obs) {
    const Baseline before = baseline(c);
    auto tap = open_tap(c.tap("lcb"));
    for (int i = 0; i < iterations(); i++) {
        int p[2];
        SYS(pipe2(p, O_CLOEXEC));
        std::fflush(stdout);
        pid_t pid = SYS(fork());
        if (pid == 0) {
            close(p[0]);
            auto d = vhnet::Driver::open(load_options(c, tap.fd()));
            if (!d)
                _exit(2);
            const Bytes f = eth_frame(60, kLoadTag, 0);
            std::vector<std::span<const std::byte>> batch(64, std::span<const std::byte>(f));
            uint64_t done = 0;
            bool told = false;
            for (;;) {
                (void)d->send_batch(batch);
                done += d->reap_tx();
                if (!told && done >= 128) {
                    told = write(p[1], "r", 1) == 1;
                }
            }
        }
        close(p[1]);
        pollfd pf{p[0], POLLIN, 0};
        char ch = 0;
        bool ready = poll(&pf, 1, 5000) == 1 && read(p[0], &ch, 1) == 1;
        close(p[0]);
        kill(pid, SIGKILL);
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!ready)
            fail(fmt::format("{}: iteration {}: the owner never got TX flowing (status {:#x})",
                             c.name(), i, status));
    }
    check_instances(c, before);
    check_tap(c, tap, obs);
}

// (c) The backend is detached (SET_BACKEND -1 on both rings) and attached again while a thread
// sends; TX must resume each time, and in the end every packet posted completes.
void detach_under_load(const Ctx &c, Obs &obs) {
    const Baseline before = baseline(c);
    auto tap = open_tap(c.tap("lcc"));
    {
        auto d = must(vhnet::Driver::open(load_options(c, tap.fd())), "Driver::open");
        vhnet::Device &dev = *d.device();
        {
            Sender s(d);
            for (int i = 0; i < iterations(); i++) {
                if (!s.wait_progress(s.completed(), 64))
                    fail(fmt::format("{}: iteration {}: TX does not flow after attaching again",
                                     c.name(), i));
                must(dev.set_backend(1, -1), "detach TX");
                must(dev.set_backend(0, -1), "detach RX");
                must(dev.set_backend(0, tap.fd()), "attach RX");
                must(dev.set_backend(1, tap.fd()), "attach TX");
            }
            if (!s.wait_progress(s.completed(), 64))
                fail(fmt::format("{}: TX does not flow after the last attach", c.name()));
        }
        wait_tx_done(d);
        const auto &st = d.stats(Queue::Tx);
        note("{}: {} packets posted, {} completed over {} detaches", c.name(), st.posted,
             st.completed, iterations());
        EXPECT_EQ(st.completed, st.posted);
        EXPECT_EQ(st.bad_used, uint64_t{0});
        obs["all posted completed"] = "yes";
    }
    check_instances(c, before);
    check_tap(c, tap, obs);
}

// (d) The tap is deleted while a thread sends through it: the device keeps a dead tun file as
// its backend; TX must not hang, and the device closes cleanly. A new tap of the same name each
// time.
void delete_tap_under_load(const Ctx &c, Obs &obs) {
    const Baseline before = baseline(c);
    const auto name = c.tap("lcd");
    for (int i = 0; i < iterations(); i++) {
        auto tap = open_tap(name);
        auto d = must(vhnet::Driver::open(load_options(c, tap.fd())), "Driver::open");
        Sender s(d);
        if (!s.wait_progress(0, 128))
            fail(fmt::format("{}: iteration {}: TX does not flow", c.name(), i));
        must(vhnet::Tap::remove(name), "delete " + name);
    }
    obs["deletes"] = "done";
    check_instances(c, before);
    auto tap = open_tap(name);
    check_tap(c, tap, obs);
}

// (e) RESET_OWNER while a thread sends; then the device is owned again and closed.
void reset_owner_under_load(const Ctx &c, Obs &obs) {
    const Baseline before = baseline(c);
    auto tap = open_tap(c.tap("lce"));
    for (int i = 0; i < iterations(); i++) {
        auto d = must(vhnet::Driver::open(load_options(c, tap.fd())), "Driver::open");
        {
            Sender s(d);
            if (!s.wait_progress(0, 128))
                fail(fmt::format("{}: iteration {}: TX does not flow", c.name(), i));
            must(d.device()->reset_owner(), "RESET_OWNER under load");
        }
        must(d.device()->set_owner(), "SET_OWNER after RESET_OWNER");
    }
    obs["reset owner"] = "ok";
    check_instances(c, before);
    check_tap(c, tap, obs);
}

// (f) The memory table is set again (the same one) while a thread sends: TX goes on.
void mem_table_under_load(const Ctx &c, Obs &obs) {
    const Baseline before = baseline(c);
    auto tap = open_tap(c.tap("lcf"));
    {
        auto d = must(vhnet::Driver::open(load_options(c, tap.fd())), "Driver::open");
        Sender s(d);
        for (int i = 0; i < iterations(); i++) {
            if (!s.wait_progress(s.completed(), 64))
                fail(fmt::format("{}: iteration {}: TX does not flow after SET_MEM_TABLE", c.name(),
                                 i));
            must(d.device()->set_mem_table(d.memory()), "SET_MEM_TABLE under load");
        }
        if (!s.wait_progress(s.completed(), 64))
            fail(fmt::format("{}: TX does not flow after the last SET_MEM_TABLE", c.name()));
    }
    obs["mem table"] = "ok";
    check_instances(c, before);
    check_tap(c, tap, obs);
}

// (g) Both queues' backend swapped to a second tap and back, no detach between, while a thread
// sends: TX goes on, and every packet posted completes.
void swap_backend_under_load(const Ctx &c, Obs &obs) {
    const Baseline before = baseline(c);
    auto tap = open_tap(c.tap("lcg"));
    auto tap2 = open_tap(c.tap("lcg2"));
    {
        auto d = must(vhnet::Driver::open(load_options(c, tap.fd())), "Driver::open");
        vhnet::Device &dev = *d.device();
        {
            Sender s(d);
            for (int i = 0; i < iterations(); i++) {
                if (!s.wait_progress(s.completed(), 64))
                    fail(fmt::format("{}: iteration {}: TX does not flow after a swap", c.name(),
                                     i));
                const int to = i % 2 ? tap.fd() : tap2.fd();
                must(dev.set_backend(1, to), "swap TX");
                must(dev.set_backend(0, to), "swap RX");
            }
            if (!s.wait_progress(s.completed(), 64))
                fail(fmt::format("{}: TX does not flow after the last swap", c.name()));
        }
        wait_tx_done(d);
        const auto &st = d.stats(Queue::Tx);
        EXPECT_EQ(st.completed, st.posted);
        EXPECT_EQ(st.bad_used, uint64_t{0});
        obs["all posted completed"] = "yes";
    }
    check_instances(c, before);
    check_tap(c, tap, obs);
    check_tap(c, tap2, obs);
}

void lifecycle(void (*fn)(const Ctx &, Obs &)) {
    auto runs = run_both(fn, per_device_limit());
    expect_same_obs(runs);
}

} // namespace

void dp::register_lifecycle_tests() {
    const unsigned limit = 2 * per_device_limit() + 60;
    const TestDef tests[] = {
        {"lifecycle-close-under-load", [] { lifecycle(close_under_load); }, limit},
        {"lifecycle-kill-owner-under-load", [] { lifecycle(kill_owner_under_load); }, limit},
        {"lifecycle-detach-under-load", [] { lifecycle(detach_under_load); }, limit},
        {"lifecycle-delete-tap-under-load", [] { lifecycle(delete_tap_under_load); }, limit},
        {"lifecycle-reset-owner-under-load", [] { lifecycle(reset_owner_under_load); }, limit},
        {"lifecycle-mem-table-under-load", [] { lifecycle(mem_table_under_load); }, limit},
        {"lifecycle-swap-backend-under-load", [] { lifecycle(swap_backend_under_load); }, limit},
    };
    register_tests(tests);
}
