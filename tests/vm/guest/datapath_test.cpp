// SPDX-License-Identifier: GPL-2.0
// Suite "datapath": packets through the device, differentially. Every test runs the same workload
// on /dev/vhnet and on /dev/vhost-net (each in a process of its own, with taps named dp-a-* and
// dp-b-*), and compares what the two observed: the bytes that come out of the tap, the frames,
// headers and buffer layouts the driver receives, the notifications, the ring indices.
//
// This file: TX of every size and descriptor layout, RX with and without mergeable buffers,
// RX without buffers, notification counts, ring sizes and index wrap-around. The malformed rings
// are in datapath_bad_test.cpp, the lifecycle under load in datapath_lifecycle_test.cpp.
#include <linux/if_tun.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <thread>

#include "datapath_common.h"

using namespace vmtest;
using namespace dp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr uint64_t kBit = 1;

std::string hdr_string(const vhnet::NetHdr &h) {
    return fmt::format("flags {} gso {} hdr_len {} gso_size {} csum {}+{}", h.flags, h.gso_type,
                       h.hdr_len, h.gso_size, h.csum_start, h.csum_offset);
}

std::string join(const std::vector<uint32_t> &v) {
    std::string s;
    for (auto x : v)
        s += (s.empty() ? "" : ",") + std::to_string(x);
    return s;
}

long to_long(const DevRun &r, const std::string &key) {
    auto it = r.obs.find(key);
    if (it == r.obs.end())
        fail(fmt::format("no observation {}", key));
    return std::stol(it->second);
}

// ---------------------------------------------------------------------------------------------
// 1. TX: every size class in every layout arrives at the tap as it was sent.

constexpr size_t kTxSizes[] = {60,   61,   64,   128,  256,   512,   1000, 1500,
                               1514, 2048, 4096, 9000, 16384, 32768, 65535};
constexpr size_t kSegment = 512;

void tx_sizes(vhnet::TxLayout layout, const char *suffix, uint16_t tag) {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        auto tap = open_tap(c.tap(suffix));
        Capture cap(tap.name());
        auto d = must(vhnet::Driver::open(driver_options(c, tap.fd())), "Driver::open");
        for (uint32_t i = 0; i < std::size(kTxSizes); i++) {
            const size_t len = kTxSizes[i];
            const bool gso = len > 1514;
            const Bytes f = gso ? tcp_frame(len, tag, i) : eth_frame(len, tag, i);
            const vhnet::NetHdr h = gso ? tcp_gso_hdr() : vhnet::NetHdr{};
            must(d.send(f, h, layout, kSegment), fmt::format("send {} bytes", len));
            wait_tx_done(d);
            auto got = cap.next(tag);
            if (!got)
                fail(fmt::format("{}: the {}-byte frame did not come out of the tap", c.name(),
                                 len));
            if (got->id.seq != i)
                fail(fmt::format("{}: frame {} arrived where frame {} ({} bytes) was expected",
                                 c.name(), got->id.seq, i, len));
            if (auto dd = diff(got->data, f); !dd.empty())
                fail(fmt::format("{}: the {}-byte frame arrived changed: {}", c.name(), len, dd));
            const VnetHdr &v = got->hdr;
            if (gso && (v.gso_type != h.gso_type || v.gso_size != h.gso_size ||
                        !(v.flags & vhnet::NetHdr::kNeedsCsum) || v.csum_start != h.csum_start ||
                        v.csum_offset != h.csum_offset))
                fail(fmt::format("{}: the {}-byte TSO frame arrived with header flags {} gso {} "
                                 "size {} csum {}+{}",
                                 c.name(), len, v.flags, v.gso_type, v.gso_size, v.csum_start,
                                 v.csum_offset));
            obs[fmt::format("size {:05}", len)] =
                fmt::format("flags {} gso {} gso_size {} csum {}+{} digest {:016x}", v.flags,
                            v.gso_type, v.gso_size, v.csum_start, v.csum_offset, digest(got->data));
            // The linear part of the skb the tap built: how the tap was handed the packet, not
            // what was sent (vhost-net hands small packets over as XDP buffers, fully linear).
            obs[fmt::format("size {:05} hdr_len", len)] = std::to_string(v.hdr_len);
        }
        if (auto extra = cap.next(tag, 200ms))
            fail(fmt::format("{}: an extra frame {} came out of the tap", c.name(), extra->id.seq));
        obs["completed"] = std::to_string(d.stats(Queue::Tx).completed);
    });
    for (const auto &[k, v] : runs[0].obs)
        if (k.ends_with("hdr_len") && runs[1].obs[k] != v)
            note("{}: vhnet {}, vhost-net {} (the skb's linear part; not compared)", k, v,
                 runs[1].obs[k]);
    expect_same_obs(runs, [](const std::string &k) { return !k.ends_with("hdr_len"); });
}

// ---------------------------------------------------------------------------------------------
// 2. RX: frames injected on the tap arrive in the driver's buffers.

constexpr size_t kRxSizes[] = {60, 61, 64, 128, 256, 512, 1000, 1500, 1514};
constexpr size_t kRxGsoSizes[] = {2048, 9000, 32768, 65535};
constexpr uint32_t kSentinel = 100000;

struct RxCase {
    const char *suffix;
    bool mergeable;
    size_t buffer;
    bool gso;
    uint16_t tag;
};

// Injects each frame followed by a small sentinel, and receives until the sentinel: a frame the
// device dropped is recorded as such instead of costing a timeout.
void rx_sizes(const RxCase &rc) {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        auto tap = open_tap(c.tap(rc.suffix),
                            rc.gso ? std::optional<unsigned>(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6)
                                   : std::nullopt);
        Injector inj(tap.name(), rc.gso);
        auto o = driver_options(c, tap.fd());
        if (!rc.mergeable)
            o.features &= ~(kBit << vhnet::kVirtioNetFMrgRxbuf);
        o.buffer_size = rc.buffer;
        o.rx_buffers = rc.buffer > 4096 ? 16 : 0;
        auto d = must(vhnet::Driver::open(o), "Driver::open");
        EXPECT_EQ(d.mergeable(), rc.mergeable);
        must(d.post_rx(256), "post_rx");
        std::vector<size_t> sizes(std::begin(kRxSizes), std::end(kRxSizes));
        if (rc.gso)
            sizes.assign(std::begin(kRxGsoSizes), std::end(kRxGsoSizes));
        for (uint32_t i = 0; i < sizes.size(); i++) {
            const size_t len = sizes[i];
            const Bytes f = rc.gso ? tcp_frame(len, rc.tag, i) : eth_frame(len, rc.tag, i);
            VnetHdr vh;
            if (rc.gso) {
                auto g = tcp_gso_hdr();
                vh = VnetHdr{g.flags,    g.gso_type,   g.hdr_len,
                             g.gso_size, g.csum_start, g.csum_offset};
            }
            inj.send(f, vh);
            inj.send(eth_frame(60, rc.tag, kSentinel + i));
            std::string what = "dropped";
            for (;;) {
                auto p = d.receive(3000ms);
                if (!p)
                    fail(fmt::format("{}: receive after the {}-byte frame: {}", c.name(), len,
                                     p.error().message()));
                auto id = frame_id(p->frame);
                if (!id || id->tag != rc.tag)
                    fail(fmt::format("{}: an unexpected {}-byte frame arrived", c.name(),
                                     p->frame.size()));
                if (id->seq == kSentinel + i)
                    break;
                if (id->seq != i)
                    fail(fmt::format("{}: frame {} arrived after frame {} was sent", c.name(),
                                     id->seq, i));
                if (auto dd = diff(p->frame, f); !dd.empty())
                    fail(fmt::format("{}: the {}-byte frame arrived changed: {}", c.name(), len,
                                     dd));
                if (p->num_buffers != p->lengths.size())
                    fail(fmt::format("{}: num_buffers {} but {} used entries", c.name(),
                                     p->num_buffers, p->lengths.size()));
                what = fmt::format("num_buffers {} lengths {} {} digest {:016x}", p->num_buffers,
                                   join(p->lengths), hdr_string(p->hdr), digest(p->frame));
            }
            obs[fmt::format("size {:05}", len)] = what;
        }
        obs["rx completed"] = std::to_string(d.stats(Queue::Rx).completed);
    });
    expect_same_obs(runs);
    note("{} frame sizes: the same frames, headers, num_buffers and used lengths on both",
         runs[0].obs.size() - 1);
}

// With no RX buffer posted, N frames wait in the tap (up to its queue length) or are dropped;
// once buffers are posted, those that waited arrive, in order; then traffic flows again.
void rx_no_buffers(const char *suffix, uint16_t tag, uint32_t n, unsigned ring, long tolerance) {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        auto tap = open_tap(c.tap(suffix));
        Injector inj(tap.name());
        auto o = driver_options(c, tap.fd());
        o.ring_size = ring;
        o.tx_buffer_size = 2048;
        auto d = must(vhnet::Driver::open(o), "Driver::open");
        for (uint32_t i = 0; i < n; i++)
            inj.send(eth_frame(100, tag, i));
        std::this_thread::sleep_for(500ms);
        EXPECT_EQ(d.pending_used(Queue::Rx), 0u);
        if (c.vhnet()) {
            auto st = vhnet_queue_stats(Queue::Rx);
            note("vhnet RX before posting: ring_empty {} dropped {} passes {}", st["ring_empty"],
                 st["dropped"], st["passes"]);
        }
        EXPECT_EQ(must(d.post_rx(ring), "post_rx"), ring);
        std::vector<uint32_t> seqs;
        while (auto p = d.receive(1000ms)) {
            auto id = frame_id(p->frame);
            if (!id || id->tag != tag)
                fail(fmt::format("{}: an unexpected frame arrived", c.name()));
            if (!seqs.empty() && id->seq <= seqs.back())
                fail(fmt::format("{}: frame {} arrived after frame {}", c.name(), id->seq,
                                 seqs.back()));
            seqs.push_back(id->seq);
        }
        obs["received after posting"] = std::to_string(seqs.size());
        obs["first"] = seqs.empty() ? "-" : std::to_string(seqs.front());
        note("{}: {} of {} frames waited for the buffers (first {}, last {})", c.name(),
             seqs.size(), n, seqs.empty() ? 0 : seqs.front(), seqs.empty() ? 0 : seqs.back());
        for (uint32_t i = 0; i < 10; i++) {
            inj.send(eth_frame(100, tag, n + i));
            auto p = d.receive(3000ms);
            if (!p)
                fail(fmt::format("{}: traffic does not flow after posting buffers: {}", c.name(),
                                 p.error().message()));
            auto id = frame_id(p->frame);
            if (!id || *id != FrameId{tag, n + i})
                fail(fmt::format("{}: got another frame than {} after posting", c.name(), n + i));
        }
        obs["flows again"] = "yes";
    });
    long a = to_long(runs[0], "received after posting"),
         b = to_long(runs[1], "received after posting");
    note("received after posting buffers: vhnet {}, vhost-net {} (of {})", a, b, n);
    if (tolerance == 0) {
        expect_same_obs(runs);
    } else {
        // vhost-net takes up to VHOST_NET_BATCH (64) packets off the tap's ring into its own
        // before it finds no buffer; vhnet leaves them in the tap. Both keep what the tap holds.
        note("tolerance {}: vhost-net's RX batch holds packets beyond the tap's queue", tolerance);
        EXPECT(std::labs(a - b) <= tolerance);
        EXPECT_EQ(runs[0].obs.at("flows again"), runs[1].obs.at("flows again"));
    }
}

// A mergeable packet that needs five 2048-byte buffers while two are posted: it waits in the tap
// (the two stay available) until more are posted, then arrives across five; traffic goes on.
void rx_too_few_buffers() {
    constexpr uint16_t tag = 0x0209;
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        auto tap = open_tap(c.tap("rxfew"), TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
        Injector inj(tap.name(), true);
        auto o = driver_options(c, tap.fd());
        o.tx_buffer_size = 2048;
        o.rx_repost = false;
        auto d = must(vhnet::Driver::open(o), "Driver::open");
        EXPECT(d.mergeable());
        EXPECT_EQ(must(d.post_rx(2), "post_rx"), 2u);
        const Bytes f = tcp_frame(9000, tag, 0);
        const auto g = tcp_gso_hdr();
        inj.send(f,
                 VnetHdr{g.flags, g.gso_type, g.hdr_len, g.gso_size, g.csum_start, g.csum_offset});
        std::this_thread::sleep_for(300ms);
        obs["used before posting more"] = std::to_string(d.pending_used(Queue::Rx));
        EXPECT_EQ(must(d.post_rx(16), "post_rx"), 16u);
        auto p = d.receive(3000ms);
        if (!p)
            fail(fmt::format("{}: the 9000-byte frame did not arrive after posting buffers: {}",
                             c.name(), p.error().message()));
        if (auto dd = diff(p->frame, f); !dd.empty())
            fail(fmt::format("{}: the 9000-byte frame arrived changed: {}", c.name(), dd));
        obs["frame"] = fmt::format("num_buffers {} lengths {} {}", p->num_buffers, join(p->lengths),
                                   hdr_string(p->hdr));
        inj.send(eth_frame(60, tag, 1), {});
        auto q = d.receive(3000ms);
        auto id = q ? frame_id(q->frame) : std::nullopt;
        if (!id || *id != FrameId{tag, 1})
            fail(fmt::format("{}: traffic does not flow after the big frame", c.name()));
        obs["flows again"] = "yes";
    });
    expect_same_obs(runs);
    note("{}", runs[1].obs.at("frame"));
}

// ---------------------------------------------------------------------------------------------
// 3. Notifications: the same workload makes about as many calls (and kicks) on both devices.
//
// The workloads are paced by the driver, so that what is compared is each device's decision
// to signal (EVENT_IDX's used_event, VRING_AVAIL_F_NO_INTERRUPT), not the scheduler: TX posts 8
// frames, kicks once and waits for them; RX lets 8 frames wait in the tap, posts 8 buffers, kicks
// once and waits for them. A stream of frames into a ring that has buffers ("rx-stream") makes
// as many calls as the device makes passes, which depends on where the scheduler puts its
// worker relative to the sender (under TCG the counts change by 5x from one boot to the next and
// either device can be ahead): those are printed, not compared.

constexpr unsigned kNotifyFrames = 2000, kNotifyBatch = 8;

std::string kick_note(const std::array<DevRun, 2> &runs) {
    return fmt::format("kicks vhnet {}, vhost-net {}; kicks suppressed vhnet {}, vhost-net {}",
                       runs[0].obs.at("kicks"), runs[1].obs.at("kicks"),
                       runs[0].obs.at("kicks suppressed"), runs[1].obs.at("kicks suppressed"));
}

void expect_within_10_percent(const std::array<DevRun, 2> &runs, const char *what) {
    long a = to_long(runs[0], "calls"), b = to_long(runs[1], "calls");
    note("{}: calls vhnet {}, vhost-net {}; {}", what, a, b, kick_note(runs));
    if (std::labs(a - b) * 10 > b)
        fail(fmt::format("{}: vhnet signalled {} calls, vhost-net {}: more than 10% apart", what, a,
                         b));
}

void record_notify_stats(const Ctx &c, vhnet::Driver &d, Queue q, Obs &obs) {
    must(d.consume_calls(q), "consume calls");
    const auto &st = d.stats(q);
    obs["calls"] = std::to_string(st.calls);
    obs["kicks"] = std::to_string(st.kicks);
    obs["kicks suppressed"] = std::to_string(st.kicks_suppressed);
    if (c.vhnet()) {
        auto ks = vhnet_queue_stats(q);
        note("vhnet debugfs: calls {} calls_suppressed {} kicks {} passes {} ring_empty {}",
             ks["calls"], ks["calls_suppressed"], ks["kicks"], ks["passes"], ks["ring_empty"]);
        // What vhnet counts as signalled is what the call eventfd counted.
        EXPECT_EQ(ks["calls"], st.calls);
    }
}

uint64_t notify_features(bool event_idx) {
    uint64_t f = vhnet::kDriverFeatures;
    if (!event_idx)
        f &= ~(kBit << VIRTIO_RING_F_EVENT_IDX);
    return f;
}

// 2000 frames in batches of 8, each batch kicked once and waited for (interrupts enabled), or
// with interrupts suppressed and the used ring polled.
void notify_tx(bool event_idx, bool interrupts, const char *suffix, uint16_t tag) {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        auto tap = open_tap(c.tap(suffix));
        auto o = driver_options(c, tap.fd());
        o.features = notify_features(event_idx);
        o.tx_buffer_size = 2048;
        o.interrupts = interrupts;
        auto d = must(vhnet::Driver::open(o), "Driver::open");
        EXPECT_EQ(d.event_idx(), event_idx);
        std::vector<Bytes> frames;
        for (uint32_t i = 0; i < kNotifyBatch; i++)
            frames.push_back(eth_frame(60, tag, i));
        std::vector<std::span<const std::byte>> batch(frames.begin(), frames.end());
        const uint64_t before = tap_rx_packets(tap.name());
        for (unsigned b = 0; b < kNotifyFrames / kNotifyBatch; b++) {
            EXPECT_EQ(must(d.send_batch(batch), "send_batch"), kNotifyBatch);
            wait_tx_done(d);
        }
        EXPECT_EQ(tap_rx_packets(tap.name()) - before, uint64_t{kNotifyFrames});
        record_notify_stats(c, d, Queue::Tx, obs);
    });
    if (interrupts) {
        expect_within_10_percent(runs, event_idx ? "TX with EVENT_IDX" : "TX without EVENT_IDX");
    } else {
        // VRING_AVAIL_F_NO_INTERRUPT without EVENT_IDX: no call at all.
        note("TX with interrupts suppressed: calls vhnet {}, vhost-net {}; {}",
             runs[0].obs.at("calls"), runs[1].obs.at("calls"), kick_note(runs));
        EXPECT_EQ(runs[0].obs.at("calls"), runs[1].obs.at("calls"));
        EXPECT_EQ(runs[0].obs.at("calls"), std::string("0"));
    }
}

// VIRTIO_F_NOTIFY_ON_EMPTY: with interrupts suppressed (no EVENT_IDX), the device interrupts
// anyway whenever it has emptied the ring - where notify-tx-suppressed, without the bit, sees no
// call at all.
void notify_on_empty() {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        auto tap = open_tap(c.tap("ntxe"));
        auto o = driver_options(c, tap.fd());
        o.features = notify_features(false) | (kBit << VIRTIO_F_NOTIFY_ON_EMPTY);
        o.tx_buffer_size = 2048;
        o.interrupts = false;
        auto d = must(vhnet::Driver::open(o), "Driver::open");
        EXPECT(d.has_feature(VIRTIO_F_NOTIFY_ON_EMPTY));
        std::vector<Bytes> frames;
        for (uint32_t i = 0; i < kNotifyBatch; i++)
            frames.push_back(eth_frame(60, 0x0308, i));
        std::vector<std::span<const std::byte>> batch(frames.begin(), frames.end());
        for (unsigned b = 0; b < 50; b++) {
            EXPECT_EQ(must(d.send_batch(batch), "send_batch"), kNotifyBatch);
            wait_tx_done(d);
        }
        must(d.consume_calls(Queue::Tx), "consume calls");
        const auto calls = d.stats(Queue::Tx).calls;
        if (calls == 0)
            fail(
                fmt::format("{}: no interrupt for an emptied ring with NOTIFY_ON_EMPTY", c.name()));
        obs["interrupted"] = "yes";
        note("{}: {} calls for 50 batches emptied", c.name(), calls);
    });
    expect_same_obs(runs);
}

// Receives 8 frames and checks they are seq .. seq + 7.
void receive_batch(const Ctx &c, vhnet::Driver &d, uint16_t tag, uint32_t &seq) {
    for (uint32_t i = 0; i < kNotifyBatch; i++, seq++) {
        auto p = d.receive(3000ms);
        if (!p)
            fail(fmt::format("{}: frame {}: {}", c.name(), seq, p.error().message()));
        auto id = frame_id(p->frame);
        if (!id || *id != FrameId{tag, seq})
            fail(fmt::format("{}: another frame than {} arrived", c.name(), seq));
    }
}

// 2000 frames, 8 at a time: they wait in the tap, then 8 buffers are posted with one kick.
void notify_rx(bool event_idx, const char *suffix, uint16_t tag) {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        auto tap = open_tap(c.tap(suffix));
        Injector inj(tap.name());
        auto o = driver_options(c, tap.fd());
        o.features = notify_features(event_idx);
        o.tx_buffer_size = 2048;
        o.rx_repost = false; // buffers are posted only by post_rx()
        auto d = must(vhnet::Driver::open(o), "Driver::open");
        EXPECT_EQ(d.event_idx(), event_idx);
        uint32_t seq = 0;
        for (unsigned b = 0; b < kNotifyFrames / kNotifyBatch; b++) {
            for (uint32_t i = 0; i < kNotifyBatch; i++)
                inj.send(eth_frame(60, tag, seq + i));
            EXPECT_EQ(must(d.post_rx(kNotifyBatch), "post_rx"), kNotifyBatch);
            receive_batch(c, d, tag, seq);
        }
        record_notify_stats(c, d, Queue::Rx, obs);
    });
    expect_within_10_percent(runs, event_idx ? "RX with EVENT_IDX" : "RX without EVENT_IDX");
}

// 2000 frames, 8 at a time, into a ring with 256 buffers posted (and reposted as received).
void notify_rx_stream(bool event_idx, const char *suffix, uint16_t tag) {
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        auto tap = open_tap(c.tap(suffix));
        Injector inj(tap.name());
        auto o = driver_options(c, tap.fd());
        o.features = notify_features(event_idx);
        o.tx_buffer_size = 2048;
        auto d = must(vhnet::Driver::open(o), "Driver::open");
        EXPECT_EQ(d.event_idx(), event_idx);
        must(d.post_rx(256), "post_rx");
        uint32_t seq = 0;
        for (unsigned b = 0; b < kNotifyFrames / kNotifyBatch; b++) {
            for (uint32_t i = 0; i < kNotifyBatch; i++)
                inj.send(eth_frame(60, tag, seq + i));
            receive_batch(c, d, tag, seq);
        }
        record_notify_stats(c, d, Queue::Rx, obs);
    });
    long a = to_long(runs[0], "calls"), b = to_long(runs[1], "calls");
    note("RX stream {} EVENT_IDX: calls vhnet {}, vhost-net {} (scheduling-dependent, not "
         "compared); {}",
         event_idx ? "with" : "without", a, b, kick_note(runs));
    EXPECT(a >= 1 && a <= long{kNotifyFrames});
}

// ---------------------------------------------------------------------------------------------
// 4. Ring sizes and the 16-bit indices wrapping around.

// TX `count` frames in batches of up to `batch`, each batch waited for; returns the frames that
// came out of the tap, checked in order.
void tx_and_capture(const Ctx &c, vhnet::Driver &d, Capture &cap, uint16_t tag, uint32_t count,
                    uint32_t batch) {
    uint32_t seq = 0;
    std::vector<Bytes> frames;
    while (seq < count) {
        frames.clear();
        for (uint32_t i = 0; i < batch && seq + i < count; i++)
            frames.push_back(eth_frame(60, tag, seq + i));
        std::vector<std::span<const std::byte>> spans(frames.begin(), frames.end());
        unsigned posted = must(d.send_batch(spans), "send_batch");
        if (posted == 0)
            fail(fmt::format("{}: TX ring full with nothing in flight", c.name()));
        seq += posted;
        wait_tx_done(d);
    }
    auto got = cap.drain(tag, 500ms);
    if (got.size() != count)
        fail(
            fmt::format("{}: {} of {} TX frames came out of the tap", c.name(), got.size(), count));
    for (uint32_t i = 0; i < count; i++)
        if (got[i].id.seq != i)
            fail(fmt::format("{}: TX frame {} came out where {} was expected", c.name(),
                             got[i].id.seq, i));
}

// RX `count` frames, injected in groups of `group` and received before the next group.
void inject_and_receive(const Ctx &c, vhnet::Driver &d, Injector &inj, uint16_t tag, uint32_t count,
                        uint32_t group) {
    for (uint32_t seq = 0; seq < count;) {
        uint32_t n = std::min(group, count - seq);
        for (uint32_t i = 0; i < n; i++)
            inj.send(eth_frame(60 + (seq + i) % 64, tag, seq + i));
        for (uint32_t i = 0; i < n; i++, seq++) {
            auto p = d.receive(3000ms);
            if (!p)
                fail(fmt::format("{}: RX frame {}: {}", c.name(), seq, p.error().message()));
            auto id = frame_id(p->frame);
            if (!id || *id != FrameId{tag, seq})
                fail(fmt::format("{}: another frame than {} arrived", c.name(), seq));
        }
    }
}

void ring_size(unsigned num, const char *suffix, uint16_t tag) {
    auto runs = run_both(
        [&](const Ctx &c, Obs &obs) {
            auto tap = open_tap(c.tap(suffix));
            Capture cap(tap.name());
            Injector inj(tap.name());
            auto o = driver_options(c, tap.fd());
            o.ring_size = num;
            o.tx_buffer_size = 2048;
            auto d = must(vhnet::Driver::open(o), "Driver::open");
            const uint32_t tx = std::min(2 * num, 4096u), rx = std::min(2 * num, 1024u);
            tx_and_capture(c, d, cap, tag, tx, std::min(num, 512u));
            EXPECT_EQ(must(d.post_rx(num), "post_rx"), num);
            inject_and_receive(c, d, inj, tag, rx, 64);
            must(d.detach(), "detach");
            obs["tx base"] = std::to_string(must(d.device()->get_vring_base(1), "GET_VRING_BASE"));
            obs["rx base"] = std::to_string(must(d.device()->get_vring_base(0), "GET_VRING_BASE"));
            EXPECT_EQ(obs["tx base"], std::to_string(tx & 0xffff));
            // The device has taken every buffer it used, and no other.
            EXPECT_EQ(obs["rx base"], std::to_string(d.stats(Queue::Rx).completed & 0xffff));
            obs["tx frames"] = std::to_string(tx);
            obs["rx frames"] = std::to_string(rx);
        },
        90);
    expect_same_obs(runs);
}

constexpr uint32_t kWrapPackets = 200000;

// 200 000 packets through a 256-entry TX ring: the 16-bit indices wrap three times.
void ring_wrap() {
    auto runs = run_both(
        [&](const Ctx &c, Obs &obs) {
            auto tap = open_tap(c.tap("wrap"));
            auto o = driver_options(c, tap.fd());
            o.ring_size = 256;
            o.tx_buffer_size = 2048;
            o.interrupts = false; // poll the used ring
            auto d = must(vhnet::Driver::open(o), "Driver::open");
            const Bytes f = eth_frame(60, 0x0400, 0);
            std::vector<std::span<const std::byte>> batch(64, std::span<const std::byte>(f));
            const uint64_t before = tap_rx_packets(tap.name());
            uint64_t posted = 0, completed = 0;
            const auto start = Clock::now();
            while (completed < kWrapPackets) {
                size_t n = std::min<uint64_t>(batch.size(), kWrapPackets - posted);
                unsigned p = 0;
                if (n)
                    p = must(d.send_batch(std::span(batch).first(n)), "send_batch");
                posted += p;
                unsigned r = d.reap_tx();
                completed += r;
                if (p == 0 && r == 0)
                    must(d.wait_used(Queue::Tx, 3000ms),
                         fmt::format("{}: no TX completion ({} of {})", c.name(), completed,
                                     kWrapPackets));
            }
            const double secs = std::chrono::duration<double>(Clock::now() - start).count();
            note("{}: {} packets through a 256-entry ring in {:.2f} s: {:.0f} pps", c.name(),
                 completed, secs, double(completed) / secs);
            obs["completed"] = std::to_string(completed);
            obs["bad used"] = std::to_string(d.stats(Queue::Tx).bad_used);
            obs["tap rx packets"] = std::to_string(tap_rx_packets(tap.name()) - before);
            must(d.detach(), "detach");
            obs["tx base"] = std::to_string(must(d.device()->get_vring_base(1), "GET_VRING_BASE"));
            EXPECT_EQ(obs["tx base"], std::to_string(kWrapPackets & 0xffff));
            EXPECT_EQ(obs["tap rx packets"], std::to_string(kWrapPackets));
        },
        150);
    expect_same_obs(runs);
}

// Rings that start 40 entries before the wrap: TX and RX cross it at once.
void ring_base_near_wrap() {
    constexpr uint16_t kBase = 65535 - 40;
    constexpr uint16_t tag = 0x0401;
    auto runs = run_both([&](const Ctx &c, Obs &obs) {
        auto tap = open_tap(c.tap("base"));
        Capture cap(tap.name());
        Injector inj(tap.name());
        auto o = driver_options(c, tap.fd());
        o.ring_base = kBase;
        o.tx_buffer_size = 2048;
        auto d = must(vhnet::Driver::open(o), "Driver::open");
        tx_and_capture(c, d, cap, tag, 300, 32);
        must(d.post_rx(256), "post_rx");
        inject_and_receive(c, d, inj, tag, 300, 32);
        must(d.detach(), "detach");
        const unsigned tx = must(d.device()->get_vring_base(1), "GET_VRING_BASE");
        const unsigned rx = must(d.device()->get_vring_base(0), "GET_VRING_BASE");
        EXPECT_EQ(tx, (kBase + 300u) & 0xffff);
        EXPECT_EQ(rx, (kBase + d.stats(Queue::Rx).completed) & 0xffff);
        obs["tx base"] = std::to_string(tx);
        obs["rx base"] = std::to_string(rx);
        obs["tx used idx"] = std::to_string(d.vring(Queue::Tx).used_idx().load());
        obs["rx used idx"] = std::to_string(d.vring(Queue::Rx).used_idx().load());
    });
    expect_same_obs(runs);
}

// ---------------------------------------------------------------------------------------------
// The tests, in the order they run.

constexpr uint32_t kRxA = 0x0201, kRxB = 0x0202, kRxC = 0x0203, kRxD = 0x0204, kRxE = 0x0205,
                   kRxF = 0x0206;

constexpr TestDef kTests[] = {
    {"tx-single", [] { tx_sizes(vhnet::TxLayout::Single, "txs", 0x0101); }, 120},
    {"tx-chained", [] { tx_sizes(vhnet::TxLayout::Chained, "txc", 0x0102); }, 120},
    {"tx-indirect", [] { tx_sizes(vhnet::TxLayout::Indirect, "txi", 0x0103); }, 120},
    {"rx-mergeable",
     [] {
         rx_sizes({"rxm", true, 2048, false, kRxA});
     },
     120},
    {"rx-no-mergeable",
     [] {
         rx_sizes({"rxn", false, 2048, false, kRxB});
     },
     120},
    {"rx-small-buffers-mergeable",
     [] {
         rx_sizes({"rxsm", true, 512, false, kRxC});
     },
     120},
    {"rx-gso-mergeable",
     [] {
         rx_sizes({"rxgm", true, 2048, true, kRxE});
     },
     120},
    {"rx-gso-big-buffers",
     [] {
         rx_sizes({"rxgb", false, 65600, true, kRxF});
     },
     120},
    // Frames larger than the one buffer a packet may take: both devices drop them.
    {"rx-small-buffers-no-mergeable",
     [] {
         rx_sizes({"rxsn", false, 512, false, kRxD});
     },
     120},
    // A mergeable packet needing more buffers than are posted waits for more.
    {"rx-too-few-buffers-mergeable", rx_too_few_buffers, 120},
    {"rx-no-buffers-then-post", [] { rx_no_buffers("rxnb", 0x0207, 50, 256, 0); }, 120},
    {"rx-overflow-then-post", [] { rx_no_buffers("rxov", 0x0208, 3000, 4096, 64); }, 120},
    {"notify-tx-event-idx", [] { notify_tx(true, true, "ntx1", 0x0301); }, 120},
    {"notify-tx-no-event-idx", [] { notify_tx(false, true, "ntx0", 0x0302); }, 120},
    {"notify-tx-suppressed", [] { notify_tx(false, false, "ntxs", 0x0305); }, 120},
    {"notify-on-empty", notify_on_empty, 120},
    {"notify-rx-event-idx", [] { notify_rx(true, "nrx1", 0x0303); }, 120},
    {"notify-rx-no-event-idx", [] { notify_rx(false, "nrx0", 0x0304); }, 120},
    {"notify-rx-stream-event-idx", [] { notify_rx_stream(true, "nrs1", 0x0306); }, 120},
    {"notify-rx-stream-no-event-idx", [] { notify_rx_stream(false, "nrs0", 0x0307); }, 120},
    {"ring-64", [] { ring_size(64, "r64", 0x0410); }, 200},
    {"ring-256", [] { ring_size(256, "r256", 0x0411); }, 200},
    {"ring-1024", [] { ring_size(1024, "r1024", 0x0412); }, 200},
    {"ring-32768", [] { ring_size(32768, "r32768", 0x0413); }, 200},
    {"ring-wrap-200k", ring_wrap, 320},
    {"ring-base-near-wrap", ring_base_near_wrap, 120},
};

struct Registrar {
    Registrar() {
        register_tests(kTests);
        register_bad_ring_tests();
        register_lifecycle_tests();
    }
} const registrar;

} // namespace
