// SPDX-License-Identifier: GPL-2.0
// Suite "stats": vhnet's debugfs files and `vhnetctl stats` / `dev show` for a device with known
// traffic: exactly 1000 frames of 100 bytes sent, 500 of 200 bytes received, then the backend
// detached. Every figure is checked against what was done, and the CLI against debugfs.
#include <unistd.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "datapath_common.h"

using namespace vmtest;
using namespace dp;

namespace {

constexpr unsigned kTxFrames = 1000, kTxLen = 100;
constexpr unsigned kRxFrames = 500, kRxLen = 200;
constexpr uint16_t kTag = 0x0501;

const nlohmann::json &queue(const nlohmann::json &instance, const char *name) {
    for (const auto &q : instance.at("queues"))
        if (q.at("name") == name)
            return q;
    fail(fmt::format("vhnetctl stats: no queue {}", name));
}

void known_traffic() {
    const Ctx c{kVhnet, 'a'};
    auto tap = open_tap("st0");
    auto d = must(vhnet::Driver::open(driver_options(c, tap.fd())), "driver");
    const auto id = vhnet_instance_of(getpid());
    if (id.empty())
        fail("this process owns no vhnet device");
    const auto dir = fmt::format("{}/{}", kDebugfs, id);

    // TX: 1000 frames of 100 bytes, all of them on the tap.
    const auto tap_before = tap_rx_packets("st0");
    std::vector<Bytes> frames;
    for (unsigned i = 0; i < kTxFrames; i++)
        frames.push_back(eth_frame(kTxLen, kTag, i));
    for (unsigned sent = 0; sent < kTxFrames;) {
        std::vector<std::span<const std::byte>> spans;
        for (unsigned i = sent; i < kTxFrames; i++)
            spans.emplace_back(frames[i]);
        sent += must(d.send_batch(spans), "send_batch");
        wait_tx_done(d);
    }
    EXPECT_EQ(tap_rx_packets("st0") - tap_before, uint64_t{kTxFrames});

    // RX: 500 frames of 200 bytes injected into the tap, all received.
    must(d.post_rx(256), "post_rx");
    Injector inj("st0");
    for (unsigned i = 0; i < kRxFrames; i++) {
        inj.send(eth_frame(kRxLen, kTag, i));
        const auto p = must(d.receive(std::chrono::milliseconds(3000)), "receive");
        EXPECT_EQ(p.frame.size(), std::size_t{kRxLen});
    }

    // debugfs: exactly that, and a histogram that adds up.
    const auto rx = debugfs_fields(dir + "/vq0/stats"), tx = debugfs_fields(dir + "/vq1/stats");
    note("tx: packets {} bytes {} passes {} calls {}; rx: packets {} bytes {} passes {} calls {}",
         field_num(tx, "packets"), field_num(tx, "bytes"), field_num(tx, "passes"),
         field_num(tx, "calls"), field_num(rx, "packets"), field_num(rx, "bytes"),
         field_num(rx, "passes"), field_num(rx, "calls"));
    EXPECT_EQ(field_num(tx, "packets"), uint64_t{kTxFrames});
    EXPECT_EQ(field_num(tx, "bytes"), uint64_t{kTxFrames} * kTxLen);
    EXPECT_EQ(field_num(rx, "packets"), uint64_t{kRxFrames});
    EXPECT_EQ(field_num(rx, "bytes"), uint64_t{kRxFrames} * kRxLen);
    for (const auto *q : {&rx, &tx}) {
        uint64_t buckets = 0, errors = 0;
        for (const auto &[k, v] : *q) {
            if (k.rfind("pass_pkts_", 0) == 0)
                buckets += std::stoull(v);
            if (k.rfind("error_", 0) == 0)
                errors += std::stoull(v);
        }
        EXPECT_EQ(buckets, field_num(*q, "passes"));
        EXPECT_EQ(errors, uint64_t{0});
        EXPECT_EQ(field_num(*q, "starts"), uint64_t{1});
        EXPECT_EQ(field_num(*q, "stops"), uint64_t{0});
        EXPECT_EQ(field_num(*q, "dropped"), uint64_t{0});
        EXPECT_EQ(field_num(*q, "running"), uint64_t{1});
    }
    const auto info = debugfs_fields(dir + "/info");
    EXPECT_EQ(info.at("tap"), std::string("st0"));
    EXPECT_EQ(field_num(info, "owner_pid"), static_cast<uint64_t>(getpid()));
    EXPECT_EQ(field_num(info, "features"), d.features());
    EXPECT_EQ(info.at("rx_state"), std::string("running"));
    EXPECT_EQ(field_num(info, "tx_num"), uint64_t{d.options().ring_size});

    // vhnetctl stats -j: the same numbers.
    const auto doc = nlohmann::json::parse(must_sh("vhnetctl stats -j " + id));
    const auto &inst = doc.at("instances").at(0);
    EXPECT_EQ(inst.at("info").at("tap").get<std::string>(), std::string("st0"));
    EXPECT_EQ(queue(inst, "tx").at("packets").get<uint64_t>(), uint64_t{kTxFrames});
    EXPECT_EQ(queue(inst, "tx").at("bytes").get<uint64_t>(), uint64_t{kTxFrames} * kTxLen);
    EXPECT_EQ(queue(inst, "rx").at("packets").get<uint64_t>(), uint64_t{kRxFrames});
    EXPECT_EQ(queue(inst, "rx").at("calls").get<uint64_t>(), field_num(rx, "calls"));

    // The table: one row per queue with its packets and bytes.
    const auto text = must_sh("vhnetctl stats " + id);
    note("vhnetctl stats {}:\n{}", id, text);
    std::istringstream lines(text);
    unsigned rows = 0;
    for (std::string line; std::getline(lines, line);) {
        std::istringstream words(line);
        std::string q;
        uint64_t packets = 0, bytes = 0;
        if (!(words >> q >> packets >> bytes) || (q != "rx" && q != "tx"))
            continue;
        rows++;
        EXPECT_EQ(packets, uint64_t{q == "tx" ? kTxFrames : kRxFrames});
        EXPECT_EQ(bytes, uint64_t{q == "tx" ? kTxFrames * kTxLen : kRxFrames * kRxLen});
    }
    EXPECT_EQ(rows, 2u);

    // --watch on an idle device: two intervals of nothing.
    std::istringstream watch(must_sh("vhnetctl stats -j --watch 0.2 --count 2 " + id));
    unsigned intervals = 0;
    for (std::string line; std::getline(watch, line); intervals++)
        for (const auto &q : nlohmann::json::parse(line).at("instances").at(0).at("queues"))
            if (!q.at("rates").is_null())
                EXPECT_EQ(q.at("rates").at("pps").get<double>(), 0.0);
    EXPECT_EQ(intervals, 2u);

    // dev show names the owner and the tap.
    const auto show = nlohmann::json::parse(must_sh("vhnetctl dev show -j"));
    bool found = false;
    for (const auto &i : show.at("instances"))
        if (i.at("instance") == id) {
            found = true;
            EXPECT_EQ(i.at("tap").get<std::string>(), std::string("st0"));
            EXPECT_EQ(i.at("owner_pid").get<int64_t>(), static_cast<int64_t>(getpid()));
        }
    EXPECT(found);

    // Detached: both queues stopped once, the tap no longer named.
    must(d.detach(), "detach");
    for (const char *q : {"vq0", "vq1"}) {
        const auto st = debugfs_fields(dir + "/" + q + "/stats");
        EXPECT_EQ(field_num(st, "stops"), uint64_t{1});
        EXPECT_EQ(field_num(st, "running"), uint64_t{0});
    }
    const auto after = debugfs_fields(dir + "/info");
    EXPECT_EQ(after.at("tap"), std::string("-"));
    EXPECT_EQ(after.at("tx_state"), std::string("stopped"));
}

const Registrar reg("stats", "known_traffic", known_traffic, 120);

} // namespace
