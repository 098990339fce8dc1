// vhnetctl stats: the per-queue counters of the open vhnet instances (debugfs), once or as rates.
#include "stats.h"
#include "command.h"
#include "pseudofs.h"

#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace vhnet::cli {

std::optional<std::uint64_t> counter(const Fields &fields, std::string_view name) {
    const auto it = std::ranges::find(fields, name, &Fields::value_type::first);
    if (it == fields.end())
        return std::nullopt;
    return parse_number<std::uint64_t>(it->second);
}

std::uint64_t errors_total(const Fields &fields) {
    std::uint64_t total = 0;
    for (const auto &[name, value] : fields) {
        if (name.starts_with("error_"))
            total += parse_number<std::uint64_t>(value).value_or(0);
    }
    return total;
}

bool has_field(const Fields &fields, std::string_view name) {
    return std::ranges::find(fields, name, &Fields::value_type::first) != fields.end();
}

bool flag(const Fields &fields, std::string_view name) {
    return counter(fields, name).value_or(0) != 0;
}

Logging logging(const Fields &info, std::span<const Fields> queues) {
    Logging log;
    log.reported = has_field(info, "log_all") || has_field(info, "log_fd");
    log.log_all = flag(info, "log_all");
    log.log_fd = flag(info, "log_fd");
    for (const auto &queue : queues) {
        log.reported =
            log.reported || has_field(queue, "log_used") || has_field(queue, "log_pages");
        log.pages += counter(queue, "log_pages").value_or(0);
    }
    return log;
}

Rates rates(const Fields &before, const Fields &after, double seconds) {
    const auto delta = [&](std::string_view name) {
        const auto was = counter(before, name).value_or(0);
        const auto now = counter(after, name).value_or(0);
        return static_cast<double>(now >= was ? now - was : now);
    };
    const double packets = delta("packets");
    Rates r;
    r.pps = packets / seconds;
    r.mbps = delta("bytes") * 8 / 1e6 / seconds;
    if (packets > 0)
        r.calls_per_packet = delta("calls") / packets;
    return r;
}

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct QueueStats {
    unsigned index = 0;
    std::string name;
    Fields stats;
};

struct InstanceStats {
    std::string id;
    Fields info;
    std::vector<QueueStats> queues;
};

/// vq0 is the guest's receive queue, vq1 its transmit queue.
std::string queue_name(unsigned index) {
    return index == 0 ? "rx" : index == 1 ? "tx" : fmt::format("vq{}", index);
}

/// The queues of the instance folder `dir`: its vqN/stats files, in order.
Result<std::vector<QueueStats>> read_queues(const fs::path &dir) {
    std::error_code ec;
    const auto names = list_dir(
        dir,
        [](const fs::directory_entry &e) {
            const auto name = e.path().filename().string();
            return e.is_directory() && name.starts_with("vq") &&
                   parse_number<unsigned>(std::string_view(name).substr(2)) &&
                   fs::exists(e.path() / "stats");
        },
        ec);
    if (ec)
        return fail(ec.value(), "list " + dir.string());
    std::vector<QueueStats> queues;
    for (const auto &name : names) {
        const auto path = dir / name / "stats";
        const auto text = read_text(path);
        if (!text)
            return fail(errno ? errno : EIO, "read " + path.string());
        const unsigned index = *parse_number<unsigned>(std::string_view(name).substr(2));
        queues.push_back({index, queue_name(index), parse_fields(*text)});
    }
    return queues;
}

/// One sample of every instance in `debugfs`, or only of instance `only` if it is not "". An
/// instance closed while it is read is left out.
Result<std::vector<InstanceStats>> read_stats(const fs::path &debugfs, const std::string &only) {
    auto ids = list_instances(debugfs);
    if (!ids)
        return ids.error();
    std::vector<InstanceStats> instances;
    for (const auto &id : *ids) {
        if (!only.empty() && id != only)
            continue;
        const auto dir = debugfs / id;
        const auto info = read_text(dir / "info");
        auto queues = info ? read_queues(dir) : fail(errno ? errno : EIO, "read " + dir.string());
        std::error_code ec;
        if (!queues && !fs::exists(dir, ec))
            continue;
        if (!queues)
            return queues.error();
        instances.push_back({id, parse_fields(*info), std::move(*queues)});
    }
    if (!only.empty() && instances.empty())
        return fail(0, "no vhnet instance " + only);
    return instances;
}

/// The dirty logging of `instance` (stats.h).
Logging instance_logging(const InstanceStats &instance) {
    std::vector<Fields> queues;
    for (const auto &queue : instance.queues)
        queues.push_back(queue.stats);
    return logging(instance.info, queues);
}

/// The debugfs folder, or why it cannot be read: the module not loaded, or debugfs not mounted.
Result<fs::path> stats_debugfs() {
    const auto debugfs = module_debugfs();
    if (const auto why = debugfs_problem(debugfs)) {
        if (auto r = require_module(module_sysfs()); !r)
            return r.error();
        return fail(0, *why);
    }
    return debugfs;
}

/// The value of `name` in `fields` as text; "-" if it is missing.
std::string field(const Fields &fields, std::string_view name) {
    const auto it = std::ranges::find(fields, name, &Fields::value_type::first);
    return it == fields.end() ? "-" : it->second;
}

/// "instance 3: owner 1234 (qemu-system-x86), tap tap0", then ", logging on" or ", logging off"
/// if the kernel reports dirty logging.
std::string instance_header(const InstanceStats &instance) {
    const auto pid = field(instance.info, "owner_pid");
    const auto owner = pid == "-" || pid == "0"
                           ? std::string("-")
                           : fmt::format("{} ({})", pid, field(instance.info, "owner_comm"));
    const auto log = instance_logging(instance);
    return fmt::format("instance {}: owner {}, tap {}{}", instance.id, owner,
                       field(instance.info, "tap"),
                       !log.reported ? ""
                       : log.log_all ? ", logging on"
                                     : ", logging off");
}

/// `rows` as aligned columns under `headers`, indented: the first column left-aligned, numbers
/// right-aligned.
std::vector<std::string> table(const std::vector<std::string> &headers,
                               const std::vector<std::vector<std::string>> &rows) {
    std::vector<std::size_t> widths;
    for (const auto &header : headers)
        widths.push_back(header.size());
    for (const auto &row : rows) {
        for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i)
            widths[i] = std::max(widths[i], row[i].size());
    }
    std::vector<std::string> lines;
    const auto format_row = [&widths](const std::vector<std::string> &cells) {
        std::string line = " ";
        for (std::size_t i = 0; i < cells.size(); ++i)
            line += i == 0 ? fmt::format(" {:<{}}", cells[i], widths[i])
                           : fmt::format("  {:>{}}", cells[i], widths[i]);
        return line;
    };
    lines.push_back(format_row(headers));
    for (const auto &row : rows)
        lines.push_back(format_row(row));
    return lines;
}

nlohmann::json fields_json(const Fields &fields) {
    auto doc = nlohmann::json::object();
    for (const auto &[name, value] : fields)
        doc[name] = json_value(value);
    return doc;
}

/// A queue's dirty logging for JSON; a field the kernel does not have is off or 0.
nlohmann::json queue_logging_json(const Fields &stats) {
    return {{"log_used", flag(stats, "log_used")},
            {"pages", counter(stats, "log_pages").value_or(0)},
            {"signals", counter(stats, "log_signals").value_or(0)},
            {"errors", counter(stats, "log_errors").value_or(0)}};
}

nlohmann::json queue_json(const QueueStats &queue) {
    nlohmann::json doc = {{"name", queue.name}, {"index", queue.index}};
    doc.update(fields_json(queue.stats));
    doc["logging"] = queue_logging_json(queue.stats);
    return doc;
}

nlohmann::json instance_json(const InstanceStats &instance, nlohmann::json queues) {
    const auto log = instance_logging(instance);
    return {{"id", json_value(instance.id)},
            {"info", fields_json(instance.info)},
            {"logging", {{"log_all", log.log_all}, {"log_fd", log.log_fd}, {"pages", log.pages}}},
            {"queues", std::move(queues)}};
}

// One snapshot

void print_snapshot(const Output &out, const std::vector<InstanceStats> &instances) {
    nlohmann::json doc = {{"instances", nlohmann::json::array()}};
    std::vector<std::string> lines;
    for (const auto &instance : instances) {
        // Two more columns where the kernel reports dirty logging: the queue's log_used and the
        // dirty bits it set.
        const bool log_columns = instance_logging(instance).reported;
        auto queues = nlohmann::json::array();
        std::vector<std::vector<std::string>> rows;
        for (const auto &queue : instance.queues) {
            queues.push_back(queue_json(queue));
            std::vector<std::string> row{queue.name};
            for (const char *name :
                 {"packets", "bytes", "calls", "calls_suppressed", "kicks", "passes"})
                row.push_back(field(queue.stats, name));
            row.push_back(std::to_string(errors_total(queue.stats)));
            row.push_back(field(queue.stats, "dropped"));
            if (log_columns) {
                row.push_back(!has_field(queue.stats, "log_used") ? "-"
                              : flag(queue.stats, "log_used")     ? "on"
                                                                  : "off");
                row.push_back(field(queue.stats, "log_pages"));
            }
            rows.push_back(std::move(row));
        }
        doc["instances"].push_back(instance_json(instance, std::move(queues)));
        lines.push_back(instance_header(instance));
        std::vector<std::string> headers = {"queue",  "packets",          "bytes",
                                            "calls",  "calls_suppressed", "kicks",
                                            "passes", "errors",           "dropped"};
        if (log_columns)
            headers.insert(headers.end(), {"log", "log_pages"});
        const auto rows_text = table(headers, rows);
        lines.insert(lines.end(), rows_text.begin(), rows_text.end());
    }
    if (instances.empty())
        lines.push_back("no vhnet instances");
    out.result(doc, lines);
}

// --watch

/// Blocks SIGINT while it lives, so that wait_until() can take it as the signal to stop.
class SigintBlocked {
public:
    SigintBlocked() {
        ::sigemptyset(&set_);
        ::sigaddset(&set_, SIGINT);
        ::sigprocmask(SIG_BLOCK, &set_, &old_);
    }
    SigintBlocked(const SigintBlocked &) = delete;
    SigintBlocked &operator=(const SigintBlocked &) = delete;
    ~SigintBlocked() { ::sigprocmask(SIG_SETMASK, &old_, nullptr); }

    /// Sleeps until `deadline` and returns true, or returns false as soon as SIGINT comes (or if
    /// one came while it was blocked).
    bool wait_until(Clock::time_point deadline) const {
        for (auto now = Clock::now(); now < deadline; now = Clock::now()) {
            const auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - now);
            timespec timeout{};
            timeout.tv_sec = static_cast<std::time_t>(left.count() / 1'000'000'000);
            timeout.tv_nsec = static_cast<long>(left.count() % 1'000'000'000);
            if (::sigtimedwait(&set_, nullptr, &timeout) == SIGINT)
                return false;
        }
        timespec poll{};
        return ::sigtimedwait(&set_, nullptr, &poll) != SIGINT;
    }

private:
    sigset_t set_{};
    sigset_t old_{};
};

struct StatsArgs {
    std::string instance;
    double watch = 0;
    const CLI::Option *watch_option = nullptr;
    unsigned count = 0;
};

/// The block of interval `number`, `seconds` long, from samples `before` to `after`.
void print_interval(const Output &out, unsigned number, double seconds,
                    const std::vector<InstanceStats> &before,
                    const std::vector<InstanceStats> &after, bool refresh) {
    nlohmann::json doc = {
        {"interval", number}, {"seconds", seconds}, {"instances", nlohmann::json::array()}};
    std::vector<std::string> lines;
    for (const auto &instance : after) {
        const auto was = std::ranges::find(before, instance.id, &InstanceStats::id);
        auto queues = nlohmann::json::array();
        std::vector<std::vector<std::string>> rows;
        for (const auto &queue : instance.queues) {
            auto queue_doc = queue_json(queue);
            queue_doc["rates"] = nullptr;
            std::vector<std::string> row{queue.name, "-", "-", "-"};
            const QueueStats *old = nullptr;
            if (was != before.end()) {
                const auto it = std::ranges::find(was->queues, queue.index, &QueueStats::index);
                old = it == was->queues.end() ? nullptr : &*it;
            }
            if (old) { // else the instance or queue is new: no rates yet
                const auto r = rates(old->stats, queue.stats, seconds);
                queue_doc["rates"] = {{"pps", r.pps},
                                      {"mbps", r.mbps},
                                      {"calls_per_packet", r.calls_per_packet
                                                               ? nlohmann::json(*r.calls_per_packet)
                                                               : nlohmann::json(nullptr)}};
                row = {queue.name, fmt::format("{:.0f}", r.pps), fmt::format("{:.2f}", r.mbps),
                       r.calls_per_packet ? fmt::format("{:.2f}", *r.calls_per_packet) : "-"};
            }
            queues.push_back(std::move(queue_doc));
            rows.push_back(std::move(row));
        }
        doc["instances"].push_back(instance_json(instance, std::move(queues)));
        lines.push_back(instance_header(instance));
        const auto rows_text = table({"queue", "pps", "Mbit/s", "calls/packet"}, rows);
        lines.insert(lines.end(), rows_text.begin(), rows_text.end());
    }
    if (after.empty())
        lines.push_back("no vhnet instances");
    if (refresh) // a terminal: the block replaces the last one
        lines.front().insert(0, "\x1b[H\x1b[2J");
    else if (number > 1) // appended: a blank line between blocks
        lines.insert(lines.begin(), "");
    out.result(doc, lines);
}

Result<void> watch(const Output &out, const fs::path &debugfs, const StatsArgs &args) {
    const SigintBlocked sigint;
    const bool refresh = !out.json() && ::isatty(STDOUT_FILENO);
    const auto period = std::chrono::duration<double>(args.watch);
    const auto start = Clock::now();
    auto sampled = start;
    auto before = read_stats(debugfs, args.instance);
    if (!before)
        return before.error();
    for (unsigned number = 1; args.count == 0 || number <= args.count; ++number) {
        const auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                                          period * static_cast<double>(number));
        if (!sigint.wait_until(deadline))
            return {};
        const auto now = Clock::now();
        auto after = read_stats(debugfs, args.instance);
        if (!after)
            return after.error();
        const double seconds = std::chrono::duration<double>(now - sampled).count();
        print_interval(out, number, seconds, *before, *after, refresh);
        if (std::fflush(stdout) != 0)
            return fail(errno, "stdout");
        before = std::move(after);
        sampled = now;
    }
    return {};
}

Result<void> stats(const Output &out, const StatsArgs &args) {
    const auto debugfs = stats_debugfs();
    if (!debugfs)
        return debugfs.error();
    if (args.watch_option->count() > 0)
        return watch(out, *debugfs, args);
    const auto instances = read_stats(*debugfs, args.instance);
    if (!instances)
        return instances.error();
    print_snapshot(out, *instances);
    return {};
}

/// CLI11 check of --watch: a finite number of seconds above 0.
std::string positive_seconds(const std::string &text) {
    double seconds = 0;
    const auto *end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, seconds);
    if (ec != std::errc() || ptr != end || !std::isfinite(seconds) || seconds <= 0)
        return "want a number of seconds above 0, e.g. 1 or 0.5, not '" + text + "'";
    return "";
}

Action setup_stats(CLI::App &app) {
    auto args = std::make_shared<StatsArgs>();
    app.add_option("INSTANCE", args->instance, "only this instance (its debugfs number)");
    auto *watch_option = app.add_option("--watch", args->watch,
                                        "print rates over every SECONDS (may be fractional) "
                                        "until interrupted")
                             ->type_name("SECONDS")
                             ->check(positive_seconds);
    args->watch_option = watch_option;
    app.add_option("--count", args->count, "with --watch: stop after N intervals")
        ->type_name("N")
        ->check(CLI::PositiveNumber)
        ->needs(watch_option);
    app.footer(
        "Reads /sys/kernel/debug/vhnet/<id>/info and vqN/stats ($VHNET_DEBUGFS overrides the "
        "directory); vq0 (rx) is what the guest receives, vq1 (tx) what it sends. Once: per "
        "queue the packets, bytes, calls, calls_suppressed, kicks, passes, errors (all "
        "error_<kind> counters) and dropped; where the module logs dirty pages (live migration), "
        "the header says \"logging on\" or \"logging off\" (VHOST_F_LOG_ALL acked or not) and "
        "each queue shows log (its used ring is logged: on/off) and log_pages (dirty bits set). "
        "-j gives every counter, and per instance and per queue a \"logging\" object (a field "
        "the module lacks counts as off or 0). With --watch: per queue "
        "the packets per second, Mbit/s and calls per packet over each interval, refreshed in "
        "place on a terminal; -j prints one JSON document per interval with the counters and "
        "their \"rates\". Interrupting --watch (SIGINT) ends it with status 0.");
    return [args](const Output &out) { return stats(out, *args); };
}

} // namespace

const Command &stats_command() {
    static constexpr Command command = {
        "stats", "show the packet counters of the open vhnet instances, once or as rates",
        setup_stats};
    return command;
}

} // namespace vhnet::cli
