// The arithmetic of `vhnetctl stats`: counters out of debugfs "name value" fields, and the rates
// between two samples of them.
#pragma once

#include "pseudofs.h"

#include <cstdint>
#include <optional>
#include <string_view>

namespace vhnet::cli {

/// The counter `name` of `fields`; nullopt if it is missing or not a decimal number.
std::optional<std::uint64_t> counter(const Fields &fields, std::string_view name);

/// The sum of the error_<kind> counters of `fields`, whatever kinds there are.
std::uint64_t errors_total(const Fields &fields);

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
