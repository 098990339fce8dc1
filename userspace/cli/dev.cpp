// vhnetctl dev COMMAND: commands on one device node.
#include "command.h"

#include <vhnet/device.h>
#include <vhnet/features.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace vhnet::cli {
namespace {

/// Adds --dev PATH (default /dev/vhnet) to `app`; the string lives as long as the Action holding
/// the returned pointer.
std::shared_ptr<std::string> add_dev_option(CLI::App &app) {
    auto path = std::make_shared<std::string>(default_device_path());
    app.add_option("--dev", *path, "device node, e.g. /dev/vhnet or /dev/vhost-net")
        ->type_name("PATH")
        ->capture_default_str();
    return path;
}

Result<void> show_features(const Output &out, const std::string &path) {
    auto dev = Device::open(path);
    if (!dev)
        return dev.error();
    const auto features = dev->features();
    if (!features)
        return features.error();

    const auto names = feature_names(*features);
    const auto hex = fmt::format("{:#x}", *features);
    out.result(
        {{"device", path}, {"features", *features}, {"features_hex", hex}, {"names", names}},
        fmt::format("features {}{}{}", hex, names.empty() ? "" : " ", fmt::join(names, " ")));
    return {};
}

Action setup_features(CLI::App &app) {
    auto path = add_dev_option(app);
    return [path](const Output &out) { return show_features(out, *path); };
}

// dev show

namespace fs = std::filesystem;

/// $`variable` if set and not empty, else `fallback`.
fs::path path_from_env(const char *variable, const char *fallback) {
    const char *value = std::getenv(variable);
    return value && *value ? value : fallback;
}

/// A file's text, trailing whitespace removed; nullopt if it cannot be read.
std::optional<std::string> read_text(const fs::path &path) {
    std::ifstream in(path);
    if (!in)
        return std::nullopt;
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad())
        return std::nullopt;
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
        text.pop_back();
    return text;
}

/// A value from sysfs or debugfs for JSON: a decimal integer becomes a number, anything else
/// (hex, Y/N, names) stays a string.
nlohmann::json json_value(const std::string &text) {
    long long number = 0;
    const auto *end = text.data() + text.size();
    if (const auto [ptr, ec] = std::from_chars(text.data(), end, number);
        !text.empty() && ec == std::errc() && ptr == end)
        return number;
    return text;
}

/// The names in `dir` (sorted numerically where they are numbers, e.g. instance ids) for which
/// `keep` holds.
template <typename Keep>
std::vector<std::string> list_dir(const fs::path &dir, Keep keep, std::error_code &ec) {
    std::vector<std::string> names;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        if (keep(*it))
            names.push_back(it->path().filename());
    }
    std::ranges::sort(names, [](const std::string &a, const std::string &b) {
        return a.size() != b.size() ? a.size() < b.size() : a < b;
    });
    return names;
}

/// "name value" lines as ordered pairs (a line without a value gets "").
std::vector<std::pair<std::string, std::string>> parse_fields(const std::string &text) {
    std::vector<std::pair<std::string, std::string>> fields;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        if (end == std::string::npos)
            end = text.size();
        const std::string_view line(text.data() + start, end - start);
        start = end + 1;
        if (line.empty())
            continue;
        const auto space = line.find(' ');
        if (space == std::string_view::npos)
            fields.emplace_back(line, "");
        else
            fields.emplace_back(line.substr(0, space), line.substr(space + 1));
    }
    return fields;
}

Result<void> show_module(const Output &out) {
    const fs::path sysfs = path_from_env("VHNET_SYSFS_MODULE", "/sys/module/vhnet");
    const fs::path debugfs = path_from_env("VHNET_DEBUGFS", "/sys/kernel/debug/vhnet");
    std::error_code ec;
    if (!fs::is_directory(sysfs, ec))
        return fail(0, fmt::format("vhnet module not loaded (no {})", sysfs.string()));

    // Every module parameter: /sys/module/vhnet/parameters/<name>.
    nlohmann::json doc = {{"module", "vhnet"}, {"sysfs", sysfs.string()}};
    auto &params = doc["parameters"] = nlohmann::json::object();
    std::vector<std::string> words;
    const auto param_names = list_dir(
        sysfs / "parameters", [](const auto &e) { return e.is_regular_file(); }, ec);
    for (const auto &name : param_names) {
        const auto value = read_text(sysfs / "parameters" / name);
        params[name] = value ? json_value(*value) : nlohmann::json(nullptr);
        words.push_back(fmt::format("{} {}", name, value ? *value : "?"));
    }
    const auto summary = words.empty() ? "no parameters" : fmt::format("{}", fmt::join(words, " "));
    std::vector<std::string> lines{"module vhnet: " + summary};

    // The open instances: debugfs <root>/<id>/info.
    doc["debugfs"] = debugfs.string();
    ec.clear();
    if (!fs::is_directory(debugfs, ec)) {
        // Missing is the common case (debugfs not mounted); anything else is worth its errno.
        const bool missing =
            !ec || ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
        const auto why = missing ? fmt::format("no {}; is debugfs mounted?", debugfs.string())
                                 : fmt::format("{}: {}", debugfs.string(), ec.message());
        doc["instances"] = nullptr;
        doc["debugfs_error"] = why;
        lines.push_back(fmt::format("instances unknown ({})", why));
        out.result(doc, lines);
        return {};
    }
    const auto ids = list_dir(
        debugfs, [](const auto &e) { return e.is_directory() && fs::exists(e.path() / "info"); },
        ec);
    if (ec)
        return fail(ec.value(), "list " + debugfs.string());
    auto &instances = doc["instances"] = nlohmann::json::array();
    std::string count = std::to_string(ids.size());
    if (const auto live = read_text(debugfs / "instances")) {
        doc["live"] = json_value(*live);
        if (*live != count)
            count += fmt::format(" (live {})", *live);
    }
    lines.push_back("instances " + count);
    for (const auto &id : ids) {
        const auto info = debugfs / id / "info";
        const auto text = read_text(info);
        if (!text)
            return fail(errno ? errno : EIO, "read " + info.string());
        nlohmann::json instance = {{"instance", id}};
        std::vector<std::string> fields;
        for (const auto &[name, value] : parse_fields(*text)) {
            instance[name] = json_value(value);
            fields.push_back(fmt::format("{} {}", name, value));
        }
        instances.push_back(std::move(instance));
        lines.push_back(fmt::format("instance {}: {}", id, fmt::join(fields, " ")));
    }
    out.result(doc, lines);
    return {};
}

Action setup_show(CLI::App &app) {
    app.footer("Reads /sys/module/vhnet/parameters and /sys/kernel/debug/vhnet/<id>/info "
               "($VHNET_SYSFS_MODULE and $VHNET_DEBUGFS override the two directories).");
    return [](const Output &out) { return show_module(out); };
}

constexpr Command kDevCommands[] = {
    {"features", "show the feature bits the device offers (VHOST_GET_FEATURES)", setup_features},
    {"show", "show the vhnet module's parameters and open instances", setup_show},
};

} // namespace

std::span<const Command> dev_commands() {
    return kDevCommands;
}

} // namespace vhnet::cli
