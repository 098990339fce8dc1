// The arithmetic of `vhnetctl stats`: counters out of debugfs "name value" fields, and the rates
// between two samples of them.
#pragma once

#include "pseudofs.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace vhnet::cli {

/// The counter `name` of `fields`; nullopt if it is missing or not a decimal number.
std::optional<std::uint64_t> counter(const Fields &fields, std::string_view name);

/// The sum of the error_<kind> counters of `fields`, whatever kinds there are.
std::uint64_t errors_total(const Fields &fields);

/// Whether `fields` has the field `name` at all (a kernel without a feature lacks its fields).
bool has_field(const Fields &fields, std::string_view name);

/// The 0|1 field `name` of `fields` as a flag: true if it is a number other than 0; false if it is
/// 0, missing or not a number.
bool flag(const Fields &fields, std::string_view name);

/// Dirty-page logging as one instance's debugfs shows it. A vhnet without dirty logging has none
/// of its fields: then `reported` is false and the rest is off and 0.
struct Logging {
    /// the kernel reports dirty logging: info has log_all, or a queue has log_used or log_pages
    bool reported = false;
    /// VHOST_F_LOG_ALL is acked (info log_all)
    bool log_all = false;
    /// a log eventfd is set (info log_fd)
    bool log_fd = false;
    /// dirty bits set over all queues (the sum of their log_pages)
    std::uint64_t pages = 0;
};

/// The dirty logging of an instance with the info fields `info` and the queue stats `queues`.
Logging logging(const Fields &info, std::span<const Fields> queues);

/// What one queue did per second between two samples.
struct Rates {
    /// packets per second
    double pps = 0;
    /// megabits per second: bytes * 8 / 1e6 per second
    double mbps = 0;
    /// interrupts per packet; nullopt if no packet moved
    std::optional<double> calls_per_packet;
};

/// The rates of a queue whose counters were `before`, then `after` `seconds` (> 0) later. A counter
/// that went down (the owner reset the device, which zeroes them) counts from 0; a missing one
/// counts as 0.
Rates rates(const Fields &before, const Fields &after, double seconds);

} // namespace vhnet::cli
