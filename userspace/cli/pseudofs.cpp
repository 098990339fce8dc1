#include "pseudofs.h"

#include <fmt/format.h>

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string_view>

namespace vhnet::cli {

namespace fs = std::filesystem;

fs::path path_from_env(const char *variable, const char *fallback) {
    const char *value = std::getenv(variable);
    return value && *value ? value : fallback;
}

fs::path module_sysfs() {
    return path_from_env("VHNET_SYSFS_MODULE", "/sys/module/vhnet");
}

fs::path module_debugfs() {
    return path_from_env("VHNET_DEBUGFS", "/sys/kernel/debug/vhnet");
}

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

nlohmann::json json_value(const std::string &text) {
    if (const auto number = parse_number<std::uint64_t>(text))
        return *number;
    if (const auto number = parse_number<long long>(text))
        return *number;
    return text;
}

Fields parse_fields(const std::string &text) {
    Fields fields;
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

Result<void> require_module(const fs::path &sysfs) {
    std::error_code ec;
    if (!fs::is_directory(sysfs, ec))
        return fail(0, fmt::format("vhnet module not loaded (no {})", sysfs.string()));
    return {};
}

std::optional<std::string> debugfs_problem(const fs::path &debugfs) {
    std::error_code ec;
    if (fs::is_directory(debugfs, ec))
        return std::nullopt;
    // Missing is the common case (debugfs not mounted); anything else is worth its errno.
    const bool missing =
        !ec || ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory;
    return missing ? fmt::format("no {}; is debugfs mounted?", debugfs.string())
                   : fmt::format("{}: {}", debugfs.string(), ec.message());
}

Result<std::vector<std::string>> list_instances(const fs::path &debugfs) {
    std::error_code ec;
    auto ids = list_dir(
        debugfs, [](const auto &e) { return e.is_directory() && fs::exists(e.path() / "info"); },
        ec);
    if (ec)
        return fail(ec.value(), "list " + debugfs.string());
    return ids;
}

} // namespace vhnet::cli
