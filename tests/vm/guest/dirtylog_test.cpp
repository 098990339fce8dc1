// SPDX-License-Identifier: GPL-2.0
// Suite dirtylog: the dirty log that live migration relies on (VHOST_F_LOG_ALL, VHOST_SET_LOG_BASE,
// VHOST_SET_LOG_FD, VHOST_VRING_F_LOG), differential against the in-tree vhost-net in the same
// boot. The same traffic on both devices must leave the same set of dirty pages in the bitmap -
// RX: exactly the pages of the bytes the device wrote (header, num_buffers, payload, across
// mergeable buffers), never whole buffers; the used ring when its ring asks for logging; TX:
// only the used ring - and the log eventfd must fire on both. Pages are named by their offset in
// the driver's memory region, so that the two devices' processes (each with its own mapping)
// compare.
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/if_tun.h>
#include <linux/vhost.h>

#include <cstring>
#include <set>
#include <thread>

#include "datapath_common.h"
#include "harness.h"
#include "util.h"

using namespace vmtest;
using namespace dp;

namespace {

constexpr uint64_t kBit = 1;
constexpr uint64_t kLogAll = kBit << VHOST_F_LOG_ALL;
constexpr unsigned kVringLog = 1u << VHOST_VRING_F_LOG;
constexpr uint64_t kPage = 4096;

using Pages = std::set<uint64_t>; // page numbers relative to the driver's memory region

std::string pages_str(const Pages &p) {
    std::string s;
    for (auto n : p)
        s += (s.empty() ? "" : ",") + std::to_string(n);
    return s.empty() ? "-" : s;
}

Pages pages_of(uint64_t offset, uint64_t len) {
    Pages p;
    if (len)
        for (uint64_t n = offset / kPage; n <= (offset + len - 1) / kPage; n++)
            p.insert(n);
    return p;
}

void add(Pages &to, const Pages &from) {
    to.insert(from.begin(), from.end());
}

Pages minus(const Pages &a, const Pages &b) {
    Pages r;
    for (auto n : a)
        if (!b.count(n))
            r.insert(n);
    return r;
}

// A dirty bitmap for the driver's one memory region: mapped writable, and a log base such that
// the bit of the region's first page falls in it (the region's guest address is its host
// address, so the base itself lies far below the mapping).
class Bitmap {
public:
    explicit Bitmap(const vhnet::MemoryTable::Region &region)
        : gpa_(region.gpa()), pages_(region.size() / kPage + 1) {
        size_ = (pages_ / 8 + 2 + kPage - 1) / kPage * kPage;
        map_ = static_cast<uint8_t *>(
            ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        if (map_ == MAP_FAILED)
            fail("mmap of the dirty bitmap failed");
        byte0_ = (gpa_ / kPage) / 8;
    }
    ~Bitmap() { ::munmap(map_, size_); }
    Bitmap(const Bitmap &) = delete;
    Bitmap &operator=(const Bitmap &) = delete;

    uint64_t base() const { return reinterpret_cast<uintptr_t>(map_) - byte0_; }
    uint8_t *map() const { return map_; }
    size_t size() const { return size_; }
    void clear() { std::memset(map_, 0, size_); }

    // The pages logged, relative to the region; a bit outside it fails the test.
    Pages pages() const {
        Pages p;
        const uint64_t first = gpa_ / kPage;
        for (uint64_t byte = 0; byte < size_; byte++) {
            if (!map_[byte])
                continue;
            for (unsigned b = 0; b < 8; b++) {
                if (!(map_[byte] & (1u << b)))
                    continue;
                const uint64_t page = (byte0_ + byte) * 8 + b;
                if (page < first || page - first >= pages_)
                    fail(fmt::format("bit of guest page {:#x} logged, outside the memory", page));
                p.insert(page - first);
            }
        }
        return p;
    }

private:
    uint64_t gpa_;
    uint64_t pages_;
    size_t size_ = 0;
    uint8_t *map_ = nullptr;
    uint64_t byte0_ = 0;
};

struct LogFd {
    int fd = SYS(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    ~LogFd() { ::close(fd); }
    // Signals since the last call.
    uint64_t take() {
        uint64_t n = 0;
        if (::read(fd, &n, sizeof n) != sizeof n)
            n = 0;
        return n;
    }
};

// A driver on `ctx`'s device and a tap, with the log set up before the backend is attached (as
// QEMU does when it starts a device during a migration): log base and fd, LOG_ALL if `log_all`,
// VHOST_VRING_F_LOG on both rings if `vring_log`.
struct Setup {
    vhnet::Tap tap;
    vhnet::Driver d;
    Bitmap bitmap;
    LogFd logfd;

    Setup(const Ctx &c, const std::string &suffix, bool log_all, bool vring_log,
          size_t buffer = 2048, bool mergeable = true)
        : tap(open_tap(c.tap(suffix))), d(open_driver(c, log_all, buffer, mergeable)),
          bitmap(d.memory().regions().front()) {
        auto &dev = *d.device();
        must(dev.set_log_base(bitmap.base()), "VHOST_SET_LOG_BASE");
        must(dev.set_log_fd(logfd.fd), "VHOST_SET_LOG_FD");
        if (vring_log)
            set_vring_log(true);
        must(d.attach(tap.fd()), "attach");
        // Attaching runs each queue once (the ring and the socket are looked at), which may
        // write the used ring; let that be over on both devices before a test clears the log.
        std::this_thread::sleep_for(300ms);
    }

    static vhnet::Driver open_driver(const Ctx &c, bool log_all, size_t buffer, bool mergeable) {
        auto o = driver_options(c, -1);
        if (log_all)
            o.features |= kLogAll;
        if (!mergeable)
            o.features &= ~(kBit << vhnet::kVirtioNetFMrgRxbuf);
        o.buffer_size = buffer;
        o.rx_buffers = 256;
        o.rx_repost = false; // a used head's descriptor still names its buffer afterwards
        o.tx_buffer_size = 2048;
        auto d = must(vhnet::Driver::open(o), "Driver::open");
        EXPECT_EQ((d.features() & kLogAll) != 0, log_all);
        return d;
    }

    void set_vring_log(bool on) {
        for (auto q : {Queue::Rx, Queue::Tx})
            must(d.device()->set_vring_addr(
                     d.vring(q).addr(static_cast<unsigned>(q), on ? kVringLog : 0)),
                 "VHOST_SET_VRING_ADDR");
    }
    void set_log_all(bool on) {
        const uint64_t f = on ? d.features() | kLogAll : d.features() & ~kLogAll;
        must(d.device()->set_features(f), "VHOST_SET_FEATURES");
    }

    uint64_t region_gpa() { return d.memory().regions().front().gpa(); }

    // The pages of a ring's used ring, and of everything else the driver laid out.
    Pages used_ring(Queue q) {
        const auto &v = d.vring(q);
        return pages_of(v.used_gpa() - region_gpa(), v.layout().used_size);
    }

    // Injects `sizes` frames and receives them all; returns the pages their bytes went to.
    Pages rx_frames(Injector &inj, const std::vector<size_t> &sizes, uint16_t tag) {
        Pages written;
        const auto &rx = d.vring(Queue::Rx);
        for (uint32_t i = 0; i < sizes.size(); i++) {
            const Bytes f = eth_frame(sizes[i], tag, i);
            inj.send(f);
            auto p = d.receive(3000ms);
            if (!p)
                fail(fmt::format("receive of frame {} ({} bytes): {}", i, sizes[i],
                                 p.error().message()));
            if (auto dd = diff(p->frame, f); !dd.empty())
                fail(fmt::format("frame {} arrived changed: {}", i, dd));
            for (size_t h = 0; h < p->heads.size(); h++) {
                const uint64_t addr = rx.desc(p->heads[h]).addr;
                add(written, pages_of(addr - region_gpa(), p->lengths[h]));
            }
        }
        return written;
    }

    void tx_frames(unsigned n, size_t len, uint16_t tag) {
        for (uint32_t i = 0; i < n; i++) {
            must(d.send(eth_frame(len, tag, i)), "send");
            wait_tx_done(d);
        }
    }
};

// Records the pages logged, split by where they are: the RX buffers the device wrote, the two
// used rings, anything else (which must be empty).
void observe(Setup &s, const Pages &rx_written, Obs &obs, const std::string &phase) {
    const Pages logged = s.bitmap.pages();
    const Pages rx_used = s.used_ring(Queue::Rx), tx_used = s.used_ring(Queue::Tx);
    Pages data, rxu, txu, other;
    for (auto n : logged) {
        if (rx_written.count(n))
            data.insert(n);
        else if (rx_used.count(n))
            rxu.insert(n);
        else if (tx_used.count(n))
            txu.insert(n);
        else
            other.insert(n);
    }
    obs[phase + " rx data pages"] = pages_str(data);
    obs[phase + " rx data pages missing"] = pages_str(minus(rx_written, logged));
    obs[phase + " rx used pages"] = pages_str(rxu);
    obs[phase + " tx used pages"] = pages_str(txu);
    obs[phase + " other pages"] = pages_str(other);
    obs[phase + " log eventfd"] = s.logfd.take() ? "fired" : "silent";
}

// Frame sizes that, with 512-byte mergeable buffers, span one to four buffers and cross pages.
const std::vector<size_t> kSizes = {60, 100, 500, 501, 1000, 1514, 1514, 60, 1200, 700};

// RX with everything logged: the pages written, exactly, plus the RX used ring; equal on both.
void rx_pages(size_t buffer, bool mergeable, const char *suffix, uint16_t tag) {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        Setup s(c, suffix, true, true, buffer, mergeable);
        Injector inj(s.tap.name());
        must(s.d.post_rx(256), "post_rx");
        s.bitmap.clear();
        s.logfd.take();
        const Pages written = s.rx_frames(inj, kSizes, tag);
        observe(s, written, obs, "rx");
        if (obs.at("rx rx data pages missing") != "-")
            fail(fmt::format("{}: pages the device wrote were not logged: {}", c.name(),
                             obs.at("rx rx data pages missing")));
        if (obs.at("rx rx data pages") == "-" || obs.at("rx rx used pages") == "-")
            fail(fmt::format("{}: no RX data or used-ring page logged", c.name()));
        if (obs.at("rx other pages") != "-")
            fail(fmt::format("{}: pages logged that the device did not write: {}", c.name(),
                             obs.at("rx other pages")));
        obs["rx packets"] = std::to_string(s.d.stats(Queue::Rx).completed);
    });
    expect_same_obs(runs);
    note("vhnet and vhost-net logged the same pages: data {} | used {}",
         runs[0].obs["rx rx data pages"], runs[0].obs["rx rx used pages"]);
}

// TX with everything logged: only the used rings (the TX one, and RX's flags at attach).
void tx_used_only() {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        Setup s(c, "dltx", true, true);
        s.bitmap.clear();
        s.logfd.take();
        s.tx_frames(40, 1000, 0x0a02);
        observe(s, {}, obs, "tx");
        if (obs.at("tx tx used pages") == "-")
            fail(fmt::format("{}: the TX used ring was not logged", c.name()));
        if (obs.at("tx other pages") != "-")
            fail(fmt::format("{}: TX logged pages outside the used rings: {}", c.name(),
                             obs.at("tx other pages")));
    });
    expect_same_obs(runs);
    note("TX logged the used ring only: pages {}", runs[0].obs["tx tx used pages"]);
}

// A log base and fd set, but logging not asked for: nothing is logged, the eventfd stays quiet.
// With LOG_ALL but no VHOST_VRING_F_LOG: RX data pages, and no used-ring page.
void log_off() {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        for (const bool log_all : {false, true}) {
            Setup s(c, log_all ? "dlla" : "dloff", log_all, false, 512);
            Injector inj(s.tap.name());
            must(s.d.post_rx(256), "post_rx");
            s.bitmap.clear();
            s.logfd.take();
            const Pages written = s.rx_frames(inj, kSizes, 0x0a03);
            s.tx_frames(10, 500, 0x0a03);
            const std::string phase = log_all ? "log_all-only" : "off";
            observe(s, written, obs, phase);
            if (!log_all && !s.bitmap.pages().empty())
                fail(fmt::format("{}: pages logged with logging off: {}", c.name(),
                                 pages_str(s.bitmap.pages())));
            if (log_all &&
                (obs[phase + " rx used pages"] != "-" || obs[phase + " tx used pages"] != "-"))
                fail(fmt::format("{}: used ring logged without VHOST_VRING_F_LOG", c.name()));
        }
    });
    expect_same_obs(runs);
}

// LOG_ALL and VHOST_VRING_F_LOG switched on while traffic flows (QEMU at migration start), then
// off (a cancelled migration): pages are logged only while on.
void toggled() {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        Setup s(c, "dltog", false, false, 512);
        Injector inj(s.tap.name());
        must(s.d.post_rx(256), "post_rx");
        for (const char *phase : {"before", "on", "off"}) {
            const bool on = std::string(phase) == "on";
            if (std::string(phase) != "before") {
                s.set_log_all(on);
                s.set_vring_log(on);
            }
            s.bitmap.clear();
            s.logfd.take();
            const Pages written = s.rx_frames(inj, kSizes, 0x0a04);
            s.tx_frames(5, 300, 0x0a04);
            observe(s, written, obs, phase);
            const bool any = !s.bitmap.pages().empty();
            if (any != on)
                fail(fmt::format("{}: phase {}: {} pages logged", c.name(), phase,
                                 pages_str(s.bitmap.pages())));
            if (on && obs.at("on rx data pages missing") != "-")
                fail(fmt::format("{}: pages written while logging not logged: {}", c.name(),
                                 obs.at("on rx data pages missing")));
        }
    });
    expect_same_obs(runs);
}

// The log base replaced while traffic flows (QEMU grows the log on memory hotplug): writes before
// land in the old bitmap, writes after in the new one only.
void swapped() {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        Setup s(c, "dlswp", true, true, 512);
        Injector inj(s.tap.name());
        must(s.d.post_rx(256), "post_rx");
        s.bitmap.clear();
        const Pages first = s.rx_frames(inj, kSizes, 0x0a05);
        Bitmap second(s.d.memory().regions().front());
        must(s.d.device()->set_log_base(second.base()), "VHOST_SET_LOG_BASE (swap)");
        const Pages old_after = s.bitmap.pages();
        const Pages written = s.rx_frames(inj, kSizes, 0x0a06);
        if (s.bitmap.pages() != old_after)
            fail(fmt::format("{}: the old bitmap changed after the swap", c.name()));
        if (!minus(first, old_after).empty())
            fail(fmt::format("{}: the old bitmap lacks pages written before the swap", c.name()));
        const Pages now = second.pages();
        if (!minus(written, now).empty())
            fail(fmt::format("{}: the new bitmap lacks pages written after the swap: {}", c.name(),
                             pages_str(minus(written, now))));
        obs["old"] = pages_str(old_after);
        obs["new"] = pages_str(now);
    });
    expect_same_obs(runs);
}

// Bad log bases and log addresses get vhost-net's errno, and nothing breaks. A base whose bitmap
// for the memory lies beyond userspace is refused; one that is in userspace but not mapped (or
// read-only) is accepted by both - vhost checks ranges, not mappings - and its writes are lost:
// vhnet counts them (log_errors), where vhost-net drops them silently.
void bad_bases() {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        Setup s(c, "dlbad", true, true, 512);
        Injector inj(s.tap.name());
        must(s.d.post_rx(256), "post_rx");
        auto &dev = *s.d.device();
        auto outcome = [&](unsigned long req, void *arg) {
            return to_string(ioctl_outcome(dev.fd(), req, arg));
        };
        uint64_t base = 0xffff800000000000ull; // kernel space
        obs["log base in the kernel"] = outcome(VHOST_SET_LOG_BASE, &base);
        base = 0x00007ffffffff000ull; // the memory's bitmap runs past the end of userspace
        obs["log base at the end of userspace"] = outcome(VHOST_SET_LOG_BASE, &base);
        base = ~0ull - 4096;
        obs["log base that wraps"] = outcome(VHOST_SET_LOG_BASE, &base);
        // LOG_ALL acked again with the (kept) good base: fine; the used ring's log address past
        // userspace is refused while running, a misaligned one always.
        auto addr = s.d.vring(Queue::Rx).addr(0, kVringLog);
        addr.log_guest_addr = 0x7ffffffffffff000ull * 4;
        obs["log_guest_addr past userspace"] = outcome(VHOST_SET_VRING_ADDR, &addr);
        addr = s.d.vring(Queue::Rx).addr(0, kVringLog);
        addr.log_guest_addr += 2;
        obs["log_guest_addr misaligned"] = outcome(VHOST_SET_VRING_ADDR, &addr);

        // A read-only bitmap, then an unmapped one: accepted; traffic flows, nothing is logged.
        for (const bool unmapped : {false, true}) {
            Bitmap bad(s.d.memory().regions().front());
            SYS(::mprotect(bad.map(), bad.size(), PROT_READ));
            if (unmapped)
                SYS(::munmap(bad.map(), bad.size()));
            base = bad.base();
            const std::string what = unmapped ? "unmapped" : "read-only";
            obs["log base " + what] = outcome(VHOST_SET_LOG_BASE, &base);
            const uint64_t errors = c.vhnet() ? vhnet_queue_stats(Queue::Rx).at("log_errors") : 0;
            s.rx_frames(inj, {60, 1514}, 0x0a07);
            s.tx_frames(2, 100, 0x0a07);
            if (!unmapped && !bad.pages().empty())
                fail(fmt::format("{}: a read-only bitmap was written", c.name()));
            if (c.vhnet() && vhnet_queue_stats(Queue::Rx).at("log_errors") <= errors)
                fail(fmt::format("vhnet: writes to a {} bitmap were not counted in log_errors",
                                 what));
        }
        // Back to a good bitmap: logging works again.
        Bitmap good(s.d.memory().regions().front());
        base = good.base();
        obs["log base good again"] = outcome(VHOST_SET_LOG_BASE, &base);
        const Pages written = s.rx_frames(inj, {1000}, 0x0a08);
        if (!minus(written, good.pages()).empty())
            fail(fmt::format("{}: logging did not resume on a good bitmap", c.name()));
    });
    expect_same_obs(runs);
}

// Mid-traffic LOG_ALL with a base that cannot hold the memory's bitmap: refused while running.
void bad_log_all() {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        Setup s(c, "dlbla", false, false);
        auto &dev = *s.d.device();
        uint64_t base = 0x00007ffffffff000ull;
        obs["set log base (no LOG_ALL yet)"] =
            to_string(ioctl_outcome(dev.fd(), VHOST_SET_LOG_BASE, &base));
        uint64_t f = s.d.features() | kLogAll;
        obs["LOG_ALL with that base"] = to_string(ioctl_outcome(dev.fd(), VHOST_SET_FEATURES, &f));
        auto addr = s.d.vring(Queue::Tx).addr(1, kVringLog);
        obs["VRING_F_LOG with that base"] =
            to_string(ioctl_outcome(dev.fd(), VHOST_SET_VRING_ADDR, &addr));
    });
    expect_same_obs(runs);
}

const TestDef kTests[] = {
    {"rx-pages-match", [] { rx_pages(512, true, "dlrxm", 0x0a01); }, 120},
    {"rx-pages-match-big-buffers", [] { rx_pages(16384, false, "dlrxb", 0x0a09); }, 120},
    {"tx-used-ring-only", tx_used_only, 120},
    {"log-off-nothing-logged", log_off, 120},
    {"log-all-toggled-mid-traffic", toggled, 120},
    {"log-base-swapped-mid-traffic", swapped, 120},
    {"bad-log-bases", bad_bases, 120},
    {"bad-log-base-then-log-all", bad_log_all, 120},
};

const bool registered = [] {
    register_tests(kTests, "dirtylog");
    return true;
}();

} // namespace
