// Reading sysfs and debugfs: directories of small text files, most of them "name value" lines.
// Shared by `dev show` and `stats`.
#pragma once

#include <vhnet/result.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace vhnet::cli {

/// "name value" lines in file order.
using Fields = std::vector<std::pair<std::string, std::string>>;

/// $`variable` if set and not empty, else `fallback`.
std::filesystem::path path_from_env(const char *variable, const char *fallback);

/// The module's sysfs folder: $VHNET_SYSFS_MODULE, else /sys/module/vhnet.
std::filesystem::path module_sysfs();
/// The module's debugfs folder: $VHNET_DEBUGFS, else /sys/kernel/debug/vhnet.
std::filesystem::path module_debugfs();

/// A file's text, trailing whitespace removed; nullopt if it cannot be read.
std::optional<std::string> read_text(const std::filesystem::path &path);

/// `text` as a T if it is one decimal number that fits in a T ("12", not "0x10", " 1" or "").
template <typename T>
std::optional<T> parse_number(std::string_view text) {
    T number{};
    const auto *end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, number);
    if (text.empty() || ec != std::errc() || ptr != end)
        return std::nullopt;
    return number;
}

/// A value from sysfs or debugfs for JSON: a decimal integer becomes a number (64-bit counters
/// included), anything else (hex, Y/N, names) stays a string.
nlohmann::json json_value(const std::string &text);

/// "name value" lines as ordered pairs (a line without a value gets "").
Fields parse_fields(const std::string &text);

/// The names in `dir` (sorted numerically where they are numbers, e.g. instance ids) for which
/// `keep` holds.
template <typename Keep>
std::vector<std::string> list_dir(const std::filesystem::path &dir, Keep keep,
                                  std::error_code &ec) {
    std::vector<std::string> names;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (keep(*it))
            names.push_back(it->path().filename());
    }
    std::ranges::sort(names, [](const std::string &a, const std::string &b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    return names;
}

/// Fails with "vhnet module not loaded (no /sys/module/vhnet)" unless `sysfs` is a folder.
Result<void> require_module(const std::filesystem::path &sysfs);

/// Why the debugfs folder `debugfs` cannot be listed ("no /sys/kernel/debug/vhnet; is debugfs
/// mounted?", or the errno text, e.g. for a user who may not enter debugfs); nullopt if it can.
std::optional<std::string> debugfs_problem(const std::filesystem::path &debugfs);

/// The instance ids in `debugfs`: its folders that hold an info file.
Result<std::vector<std::string>> list_instances(const std::filesystem::path &debugfs);

} // namespace vhnet::cli
