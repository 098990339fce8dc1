// vhnetctl stats: the rate arithmetic (stats.h) as pure functions, and the command against a fake
// debugfs tree ($VHNET_DEBUGFS).
#include "cli_util.h"
#include "stats.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using vhnet::cli::counter;
using vhnet::cli::errors_total;
using vhnet::cli::Fields;
using vhnet::cli::flag;
using vhnet::cli::has_field;
using vhnet::cli::logging;
using vhnet::cli::rates;
using vhnet::test::json_error;
using vhnet::test::success;
using vhnet::test::TempDir;
using vhnet::test::text_error;
using vhnet::test::vhnetctl;
using vhnet::test::write_file;
using Json = nlohmann::json;
namespace fs = std::filesystem;

TEST_CASE("stats counter() reads decimal 64-bit counters", "[cli][stats]") {
    const Fields fields = {{"packets", "12"},
                           {"bytes", "18446744073709551615"},
                           {"features", "0x10"},
                           {"owner_comm", "qemu"},
                           {"empty", ""}};
    CHECK(counter(fields, "packets") == 12u);
    CHECK(counter(fields, "bytes") == 18446744073709551615u);
    CHECK_FALSE(counter(fields, "features"));
    CHECK_FALSE(counter(fields, "owner_comm"));
    CHECK_FALSE(counter(fields, "empty"));
    CHECK_FALSE(counter(fields, "missing"));
}

TEST_CASE("stats errors_total() sums every error_<kind> counter", "[cli][stats]") {
    CHECK(errors_total({{"error_bad_head", "2"},
                        {"dropped", "100"},
                        {"error_ring_fault", "3"},
                        {"error_some_new_kind", "5"},
                        {"errors", "1000"}}) == 10u);
    CHECK(errors_total({{"packets", "1"}}) == 0u);
}

TEST_CASE("stats flag() and has_field() read 0|1 fields", "[cli][stats]") {
    const Fields fields = {{"log_all", "1"}, {"log_fd", "0"}, {"log_used", "yes"}, {"n", "7"}};
    CHECK(flag(fields, "log_all"));
    CHECK_FALSE(flag(fields, "log_fd"));
    CHECK_FALSE(flag(fields, "log_used")); // not a number
    CHECK(flag(fields, "n"));
    CHECK_FALSE(flag(fields, "missing"));
    CHECK(has_field(fields, "log_fd"));
    CHECK_FALSE(has_field(fields, "missing"));
}

TEST_CASE("stats logging() sums log_pages and says whether the kernel reports logging",
          "[cli][stats]") {
    // On: LOG_ALL acked, a log eventfd, both used rings logged.
    const Fields on_info = {{"id", "5"}, {"log_all", "1"}, {"log_fd", "1"}};
    const std::vector<Fields> on_queues = {{{"log_used", "1"}, {"log_pages", "300"}},
                                           {{"log_used", "1"}, {"log_pages", "12"}}};
    auto log = logging(on_info, on_queues);
    CHECK(log.reported);
    CHECK(log.log_all);
    CHECK(log.log_fd);
    CHECK(log.pages == 312u);

    // Off, with what was logged before it was switched off.
    log = logging({{"log_all", "0"}, {"log_fd", "0"}},
                  std::vector<Fields>{{{"log_used", "0"}, {"log_pages", "40"}}});
    CHECK(log.reported);
    CHECK_FALSE(log.log_all);
    CHECK_FALSE(log.log_fd);
    CHECK(log.pages == 40u);

    // A module without dirty logging: none of the fields, nothing reported.
    log = logging({{"id", "3"}, {"features", "0x0"}}, std::vector<Fields>{{{"packets", "9"}}});
    CHECK_FALSE(log.reported);
    CHECK_FALSE(log.log_all);
    CHECK_FALSE(log.log_fd);
    CHECK(log.pages == 0u);

    // Only the queues have the fields: still reported; a bad number counts as 0.
    log = logging({}, std::vector<Fields>{{{"log_pages", "x"}}, {{"log_pages", "5"}}});
    CHECK(log.reported);
    CHECK(log.pages == 5u);
}

TEST_CASE("stats rates() divides the counter deltas by the interval", "[cli][stats]") {
    const Fields before = {{"packets", "100"}, {"bytes", "1000"}, {"calls", "10"}};
    const Fields after = {{"packets", "1100"}, {"bytes", "1001000"}, {"calls", "260"}};
    auto r = rates(before, after, 2.0);
    CHECK(r.pps == Approx(500.0));
    CHECK(r.mbps == Approx(4.0)); // 1e6 bytes * 8 / 1e6 / 2 s
    REQUIRE(r.calls_per_packet);
    CHECK(*r.calls_per_packet == Approx(0.25));

    r = rates(before, after, 0.5);
    CHECK(r.pps == Approx(2000.0));
    CHECK(r.mbps == Approx(16.0));

    // No packet moved: no calls per packet.
    r = rates(after, after, 1.0);
    CHECK(r.pps == 0.0);
    CHECK(r.mbps == 0.0);
    CHECK_FALSE(r.calls_per_packet);

    // Counters that went down (the owner reset the device) count from 0; missing ones are 0.
    r = rates(after, {{"packets", "50"}, {"bytes", "5000"}}, 1.0);
    CHECK(r.pps == Approx(50.0));
    CHECK(r.mbps == Approx(0.04));
    REQUIRE(r.calls_per_packet);
    CHECK(*r.calls_per_packet == 0.0);
    CHECK(rates({}, {{"packets", "10"}}, 1.0).pps == Approx(10.0));
}

namespace {

std::string stats_text(unsigned long long packets, unsigned long long bytes,
                       unsigned long long calls) {
    return "running 1\nbroken 0\nnum 256\nlast_avail_idx 5\nlast_used_idx 5\npackets " +
           std::to_string(packets) + "\nbytes " + std::to_string(bytes) + "\nkicks 4\ncalls " +
           std::to_string(calls) +
           "\ncalls_suppressed 6\npasses 9\nring_empty 2\ntap_full 0\ndropped 1\nstarts 1\n"
           "stops 0\npass_pkts_0 2\npass_pkts_1 7\nerror_bad_head 2\nerror_bad_addr 3\n"
           "future_counter 77\n";
}

/// A debugfs tree with instances 3 (owned, with a tap) and 12 (fresh), two queues each.
struct FakeDebugfs {
    TempDir dir;
    fs::path debugfs = dir.path() / "vhnet";

    FakeDebugfs() {
        write_file(debugfs / "instances", "2\n");
        write_file(debugfs / "3/info", "id 3\nowner_pid 4242\nowner_comm qemu-system-x86\n"
                                       "tap tap0\nfeatures 0x130000000\nbackend_features 0x2\n"
                                       "nvqs 2\nrx_state running\n");
        write_file(debugfs / "3/vq0/stats", stats_text(1000, 1500000, 250));
        write_file(debugfs / "3/vq1/stats", stats_text(20, 1400, 20));
        write_file(debugfs / "12/info", "id 12\nowner_pid 0\nowner_comm -\ntap -\n"
                                        "features 0x0\nnvqs 2\n");
        write_file(debugfs / "12/vq0/stats", stats_text(0, 0, 0));
        write_file(debugfs / "12/vq1/stats", stats_text(0, 0, 0));
        fs::create_directories(debugfs / "3/vqx"); // not a queue
        fs::create_directories(debugfs / "3/vq7"); // no stats: not a queue either
        fs::create_directories(debugfs / "stray"); // no info: not an instance
    }

    /// Rewrites a stats file in one step, as the kernel's is read: whole, old or new.
    void set(const std::string &file, const std::string &text) const {
        write_file(debugfs / (file + ".new"), text);
        fs::rename(debugfs / (file + ".new"), debugfs / file);
    }

    std::vector<std::string> env() const { return {"VHNET_DEBUGFS=" + debugfs.string()}; }
};

/// A debugfs tree of a module with dirty logging: instance 5 logging (LOG_ALL acked, a log
/// eventfd, both used rings logged), instance 6 not (any more: its RX queue logged 40 pages
/// before LOG_ALL was dropped).
struct LoggingDebugfs {
    TempDir dir;
    fs::path debugfs = dir.path() / "vhnet";

    LoggingDebugfs() {
        write_file(debugfs / "instances", "2\n");
        write_file(debugfs / "5/info",
                   "id 5\nowner_pid 777\nowner_comm qemu-system-x86\ntap tap5\n"
                   "features 0x134000000\nlog_all 1\nlog_fd 1\nnvqs 2\nrx_log_used 1\n"
                   "rx_log_base 0x7f1234560000\nrx_log_addr 0x10002000\ntx_log_used 1\n"
                   "tx_log_base 0x7f1234560000\ntx_log_addr 0x10012000\n");
        write_file(debugfs / "5/vq0/stats", stats_text(1000, 1500000, 250) +
                                                "log_used 1\nlog_pages 300\nlog_signals 25\n"
                                                "log_errors 0\n");
        write_file(debugfs / "5/vq1/stats", stats_text(20, 1400, 20) +
                                                "log_used 1\nlog_pages 12\nlog_signals 3\n"
                                                "log_errors 1\n");
        write_file(debugfs / "6/info", "id 6\nowner_pid 778\nowner_comm qemu-system-x86\n"
                                       "tap tap6\nfeatures 0x130000000\nlog_all 0\nlog_fd 0\n"
                                       "nvqs 2\nrx_log_used 0\nrx_log_base 0x0\n"
                                       "rx_log_addr 0x0\ntx_log_used 0\ntx_log_base 0x0\n"
                                       "tx_log_addr 0x0\n");
        write_file(debugfs / "6/vq0/stats", stats_text(0, 0, 0) +
                                                "log_used 0\nlog_pages 40\nlog_signals 2\n"
                                                "log_errors 0\n");
        write_file(debugfs / "6/vq1/stats", stats_text(0, 0, 0) +
                                                "log_used 0\nlog_pages 0\nlog_signals 0\n"
                                                "log_errors 0\n");
    }

    std::vector<std::string> env() const { return {"VHNET_DEBUGFS=" + debugfs.string()}; }
};

const std::string kInstance5 =
    "instance 5: owner 777 (qemu-system-x86), tap tap5, logging on\n"
    "  queue  packets    bytes  calls  calls_suppressed  kicks  passes  errors  dropped  log  "
    "log_pages\n"
    "  rx        1000  1500000    250                 6      4       9       5        1   on  "
    "      300\n"
    "  tx          20     1400     20                 6      4       9       5        1   on  "
    "       12\n";
const std::string kInstance6 =
    "instance 6: owner 778 (qemu-system-x86), tap tap6, logging off\n"
    "  queue  packets  bytes  calls  calls_suppressed  kicks  passes  errors  dropped  log  "
    "log_pages\n"
    "  rx           0      0      0                 6      4       9       5        1  off  "
    "       40\n"
    "  tx           0      0      0                 6      4       9       5        1  off  "
    "        0\n";

const std::string kInstance3 =
    "instance 3: owner 4242 (qemu-system-x86), tap tap0\n"
    "  queue  packets    bytes  calls  calls_suppressed  kicks  passes  errors  dropped\n"
    "  rx        1000  1500000    250                 6      4       9       5        1\n"
    "  tx          20     1400     20                 6      4       9       5        1\n";
const std::string kInstance12 =
    "instance 12: owner -, tap -\n"
    "  queue  packets  bytes  calls  calls_suppressed  kicks  passes  errors  dropped\n"
    "  rx           0      0      0                 6      4       9       5        1\n"
    "  tx           0      0      0                 6      4       9       5        1\n";

std::vector<std::string> lines_of(const std::string &text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

} // namespace

TEST_CASE("vhnetctl stats prints a header and a row per queue", "[cli][stats]") {
    const FakeDebugfs fake;
    CHECK(success(vhnetctl({"stats"}, fake.env())) == kInstance3 + kInstance12);
    CHECK(success(vhnetctl({"stats", "12"}, fake.env())) == kInstance12);
    CHECK(success(vhnetctl({"s", "3"}, fake.env())) == kInstance3);
}

TEST_CASE("vhnetctl -j stats prints every info key and counter", "[cli][stats]") {
    const FakeDebugfs fake;
    const auto out = success(vhnetctl({"-j", "stats"}, fake.env()));
    CHECK(out.find('\n') == out.size() - 1);
    const auto doc = Json::parse(out);
    REQUIRE(doc["instances"].size() == 2);
    const auto &three = doc["instances"][0];
    CHECK(three["id"] == 3);
    CHECK(three["info"] == Json{{"id", 3},
                                {"owner_pid", 4242},
                                {"owner_comm", "qemu-system-x86"},
                                {"tap", "tap0"},
                                {"features", "0x130000000"},
                                {"backend_features", "0x2"},
                                {"nvqs", 2},
                                {"rx_state", "running"}});
    REQUIRE(three["queues"].size() == 2);
    CHECK(three["queues"][0] ==
          Json{{"name", "rx"},
               {"index", 0},
               {"running", 1},
               {"broken", 0},
               {"num", 256},
               {"last_avail_idx", 5},
               {"last_used_idx", 5},
               {"packets", 1000},
               {"bytes", 1500000},
               {"kicks", 4},
               {"calls", 250},
               {"calls_suppressed", 6},
               {"passes", 9},
               {"ring_empty", 2},
               {"tap_full", 0},
               {"dropped", 1},
               {"starts", 1},
               {"stops", 0},
               {"pass_pkts_0", 2},
               {"pass_pkts_1", 7},
               {"error_bad_head", 2},
               {"error_bad_addr", 3},
               {"future_counter", 77},
               {"logging", {{"log_used", false}, {"pages", 0}, {"signals", 0}, {"errors", 0}}}});
    // A module without dirty logging: off and 0, and no log fields in the raw counters.
    CHECK(three["logging"] == Json{{"log_all", false}, {"log_fd", false}, {"pages", 0}});
    CHECK_FALSE(three["info"].contains("log_all"));
    CHECK(three["queues"][1]["name"] == "tx");
    CHECK(three["queues"][1]["index"] == 1);
    CHECK(three["queues"][1]["packets"] == 20);
    CHECK(doc["instances"][1]["id"] == 12);
    CHECK(doc["instances"][1]["info"]["tap"] == "-");

    const auto one = Json::parse(success(vhnetctl({"stats", "3", "-p"}, fake.env())));
    CHECK(one == Json{{"instances", {three}}});
}

TEST_CASE("vhnetctl stats with no instances", "[cli][stats]") {
    TempDir dir;
    fs::create_directories(dir.path() / "vhnet");
    write_file(dir.path() / "vhnet/instances", "0\n");
    const std::vector<std::string> env = {"VHNET_DEBUGFS=" + (dir.path() / "vhnet").string()};
    CHECK(success(vhnetctl({"stats"}, env)) == "no vhnet instances\n");
    CHECK(Json::parse(success(vhnetctl({"-j", "stats"}, env))) ==
          Json{{"instances", Json::array()}});
}

TEST_CASE("vhnetctl stats errors: one line, status 1", "[cli][stats]") {
    const FakeDebugfs fake;
    CHECK(text_error(vhnetctl({"stats", "7"}, fake.env())) == "vhnetctl: no vhnet instance 7");
    CHECK(json_error(vhnetctl({"-j", "stats", "7"}, fake.env())) == "no vhnet instance 7");
    CHECK(text_error(vhnetctl({"stats", "stray"}, fake.env())) ==
          "vhnetctl: no vhnet instance stray");
    CHECK(text_error(vhnetctl({"stats", "7", "--watch", "1"}, fake.env())) ==
          "vhnetctl: no vhnet instance 7");

    // No debugfs folder: the module is not loaded, or debugfs not mounted.
    const std::string missing = (fake.dir.path() / "no-debugfs").string();
    const std::string module = (fake.dir.path() / "no-module").string();
    CHECK(text_error(
              vhnetctl({"stats"}, {"VHNET_DEBUGFS=" + missing, "VHNET_SYSFS_MODULE=" + module})) ==
          "vhnetctl: vhnet module not loaded (no " + module + ")");
    CHECK(json_error(vhnetctl({"-j", "stats"},
                              {"VHNET_DEBUGFS=" + missing, "VHNET_SYSFS_MODULE=" + module})) ==
          "vhnet module not loaded (no " + module + ")");
    CHECK(text_error(vhnetctl({"stats"}, {"VHNET_DEBUGFS=" + missing,
                                          "VHNET_SYSFS_MODULE=" + fake.dir.path().string()})) ==
          "vhnetctl: no " + missing + "; is debugfs mounted?");

    // Bad options, refused while parsing.
    for (const char *seconds : {"0", "-1", "abc", "inf", "nan", ""})
        CHECK(text_error(vhnetctl({"stats", "--watch", seconds}, fake.env())).find("--watch") !=
              std::string::npos);
    CHECK(text_error(vhnetctl({"stats", "--count", "2"}, fake.env())) ==
          "vhnetctl: --count requires --watch");
    CHECK(text_error(vhnetctl({"stats", "--watch", "1", "--count", "0"}, fake.env()))
              .find("--count") != std::string::npos);
}

TEST_CASE("vhnetctl stats --watch --count appends one block per interval", "[cli][stats]") {
    const FakeDebugfs fake;
    const auto out = success(vhnetctl({"stats", "--watch", "0.05", "--count", "2"}, fake.env()));
    CHECK(out.find('\x1b') == std::string::npos); // not a terminal: no refresh
    const std::string block = "instance 3: owner 4242 (qemu-system-x86), tap tap0\n"
                              "  queue  pps  Mbit/s  calls/packet\n"
                              "  rx       0    0.00             -\n"
                              "  tx       0    0.00             -\n"
                              "instance 12: owner -, tap -\n"
                              "  queue  pps  Mbit/s  calls/packet\n"
                              "  rx       0    0.00             -\n"
                              "  tx       0    0.00             -\n";
    CHECK(out == block + "\n" + block);
}

TEST_CASE("vhnetctl -j stats --watch prints counters and rates per interval", "[cli][stats]") {
    const FakeDebugfs fake;
    // The counters of instance 3's tx queue move all along: 10 packets, 15000 bytes and 2 calls
    // every 2 ms.
    std::atomic<bool> done = false;
    std::thread traffic([&] {
        for (unsigned long long n = 1; !done; ++n) {
            fake.set("3/vq1/stats", stats_text(20 + 10 * n, 1400 + 15000 * n, 20 + 2 * n));
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    });
    const auto run = vhnetctl({"-j", "stats", "3", "--watch", "0.1", "--count", "2"}, fake.env());
    done = true;
    traffic.join();

    const auto lines = lines_of(success(run));
    REQUIRE(lines.size() == 2); // JSON lines
    const auto first = Json::parse(lines[0]);
    const auto second = Json::parse(lines[1]);
    CHECK(first["interval"] == 1);
    CHECK(second["interval"] == 2);
    const double seconds = second["seconds"].get<double>();
    CHECK(seconds > 0.05);
    CHECK(first["seconds"].get<double>() > 0.05);

    // The second interval's rates are exactly its counters' deltas over its length.
    const auto &rx = second["instances"][0]["queues"][0];
    const auto &tx_before = first["instances"][0]["queues"][1];
    const auto &tx = second["instances"][0]["queues"][1];
    CHECK(rx["rates"] == Json{{"pps", 0.0}, {"mbps", 0.0}, {"calls_per_packet", nullptr}});
    const auto delta = [&](const char *name) {
        return tx[name].get<double>() - tx_before[name].get<double>();
    };
    INFO(tx.dump());
    CHECK(tx["rates"]["pps"].get<double>() == Approx(delta("packets") / seconds));
    CHECK(tx["rates"]["mbps"].get<double>() == Approx(delta("bytes") * 8 / 1e6 / seconds));
    if (delta("packets") > 0)
        CHECK(tx["rates"]["calls_per_packet"].get<double>() == Approx(0.2));
    // The totals are there too.
    CHECK(tx["name"] == "tx");
    CHECK(tx["future_counter"] == 77);
    CHECK(second["instances"][0]["info"]["tap"] == "tap0");
}

TEST_CASE("vhnetctl stats --watch ends with status 0 on SIGINT", "[cli][stats]") {
    const FakeDebugfs fake;
    const auto started = vhnet::test::start_vhnetctl({"stats", "--watch", "0.05"}, fake.env());
    REQUIRE(started.pid > 0);
    // Its first block says it is watching (and so takes SIGINT as the end).
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    struct stat st = {};
    while (::fstat(started.out, &st) == 0 && st.st_size == 0 &&
           std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    REQUIRE(::kill(started.pid, SIGINT) == 0);
    const auto run = vhnet::test::wait_vhnetctl(started);
    INFO("stderr: " << run.err);
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    CHECK(run.out.starts_with("instance 3: "));
}

TEST_CASE("vhnetctl stats shows dirty logging where the module reports it", "[cli][stats]") {
    const LoggingDebugfs fake;
    CHECK(success(vhnetctl({"stats"}, fake.env())) == kInstance5 + kInstance6);
    CHECK(success(vhnetctl({"stats", "6"}, fake.env())) == kInstance6);
    // The old module's tree has no logging header and no log columns (the first test case).
}

TEST_CASE("vhnetctl -j stats gives each instance and queue a logging object", "[cli][stats]") {
    const LoggingDebugfs fake;
    const auto doc = Json::parse(success(vhnetctl({"-j", "stats"}, fake.env())));
    REQUIRE(doc["instances"].size() == 2);
    const auto &on = doc["instances"][0];
    CHECK(on["id"] == 5);
    CHECK(on["logging"] == Json{{"log_all", true}, {"log_fd", true}, {"pages", 312}});
    REQUIRE(on["queues"].size() == 2);
    CHECK(on["queues"][0]["logging"] ==
          Json{{"log_used", true}, {"pages", 300}, {"signals", 25}, {"errors", 0}});
    CHECK(on["queues"][1]["logging"] ==
          Json{{"log_used", true}, {"pages", 12}, {"signals", 3}, {"errors", 1}});
    // The raw fields are there as well, as for every counter.
    CHECK(on["info"]["log_all"] == 1);
    CHECK(on["info"]["rx_log_base"] == "0x7f1234560000");
    CHECK(on["info"]["tx_log_addr"] == "0x10012000");
    CHECK(on["queues"][0]["log_pages"] == 300);
    CHECK(on["queues"][1]["log_errors"] == 1);

    const auto &off = doc["instances"][1];
    CHECK(off["id"] == 6);
    CHECK(off["logging"] == Json{{"log_all", false}, {"log_fd", false}, {"pages", 40}});
    CHECK(off["queues"][0]["logging"] ==
          Json{{"log_used", false}, {"pages", 40}, {"signals", 2}, {"errors", 0}});
    CHECK(off["queues"][1]["logging"] ==
          Json{{"log_used", false}, {"pages", 0}, {"signals", 0}, {"errors", 0}});
}

TEST_CASE("vhnetctl stats --watch names the logging state in each block", "[cli][stats]") {
    const LoggingDebugfs fake;
    const auto out =
        success(vhnetctl({"stats", "5", "--watch", "0.05", "--count", "1"}, fake.env()));
    CHECK(out.starts_with("instance 5: owner 777 (qemu-system-x86), tap tap5, logging on\n"));
    const auto doc = Json::parse(
        success(vhnetctl({"-j", "stats", "6", "--watch", "0.05", "--count", "1"}, fake.env())));
    CHECK(doc["instances"][0]["logging"]["log_all"] == false);
    CHECK(doc["instances"][0]["queues"][0]["logging"]["pages"] == 40);
}

TEST_CASE("vhnetctl stats --help names the options and $VHNET_DEBUGFS", "[cli][stats]") {
    CHECK(success(vhnetctl({"--help"})).find("stats") != std::string::npos);
    const auto help = success(vhnetctl({"stats", "--help"}));
    for (const char *word : {"INSTANCE", "--watch", "--count", "VHNET_DEBUGFS", "SIGINT"})
        CHECK(help.find(word) != std::string::npos);
}
