#include "qemu_args.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <iterator>

namespace vhnet::cli {
namespace {

/// The keys of a tap netdev that vhnetctl's files replace: they name, create or open the tap or
/// the vhost device, or QEMU refuses them next to fd=.
constexpr std::string_view kReplacedKeys[] = {
    "ifname", "script", "downscript", "helper",  "br",       "vnet_hdr",   "queues",
    "fd",     "fds",    "vhost",      "vhostfd", "vhostfds", "vhostforce",
};

/// `arg` with "--" read as "-", as QEMU reads it: "--netdev" is "-netdev".
std::string_view option_name(std::string_view arg) {
    if (arg.starts_with("--") && arg.size() > 2)
        arg.remove_prefix(1);
    return arg;
}

/// A part's key: what comes before '=', or the whole part (an implied type, or a flag "vhost" or
/// "novhost").
std::string_view key_of(std::string_view part) {
    return part.substr(0, part.find('='));
}

bool replaced(std::string_view part) {
    const auto is_replaced = [](std::string_view key) {
        return std::ranges::find(kReplacedKeys, key) != std::end(kReplacedKeys);
    };
    const auto key = key_of(part);
    if (is_replaced(key))
        return true;
    // QemuOpts reads a bare "noKEY" as KEY=off.
    return key.size() == part.size() && key.starts_with("no") && is_replaced(key.substr(2));
}

/// The network backend type a -netdev, -nic or -net value names: its first part if that has no
/// '=' (QEMU's implied type), else its type= part; "" if neither.
std::string backend_type(const std::vector<std::string> &parts) {
    if (!parts.empty() && parts.front().find('=') == std::string::npos)
        return parts.front();
    for (const auto &part : parts) {
        if (part.starts_with("type="))
            return part.substr(5);
    }
    return "";
}

/// Whether a -netdev value is QEMU's JSON form ({"type": "tap", ...}) of a tap.
bool json_tap(const std::string &value) {
    if (!value.starts_with('{'))
        return false;
    const auto doc = nlohmann::json::parse(value, nullptr, false);
    return doc.is_object() && doc.contains("type") && doc["type"] == "tap";
}

/// What to write instead of a tap vhnetctl cannot hand its files to.
constexpr std::string_view kNetdevHint = "-netdev tap,id=ID -device virtio-net-pci,netdev=ID";

} // namespace

std::vector<std::string> split_qemu_opts(std::string_view value) {
    std::vector<std::string> parts;
    std::string part;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] != ',') {
            part += value[i];
        } else if (i + 1 < value.size() && value[i + 1] == ',') {
            part += ",,";
            ++i;
        } else {
            if (!part.empty())
                parts.push_back(std::move(part));
            part.clear();
        }
    }
    if (!part.empty())
        parts.push_back(std::move(part));
    return parts;
}

Result<QemuTap> find_qemu_tap(std::span<const std::string> argv) {
    if (argv.empty())
        return fail(0, "no QEMU command line");
    QemuTap tap;
    for (std::size_t i = 1; i < argv.size(); ++i) {
        const auto name = option_name(argv[i]);
        for (const std::string_view option : {"-netdev", "-nic", "-net"}) {
            if (name.starts_with(option) && name.substr(option.size()).starts_with('='))
                return fail(0, fmt::format("QEMU does not take '{}=VALUE': write '{} VALUE'",
                                           argv[i].substr(0, argv[i].find('=')), option));
        }
        if ((name != "-netdev" && name != "-nic" && name != "-net") || i + 1 == argv.size())
            continue;
        const auto &value = argv[++i];
        if (name == "-netdev" && json_tap(value))
            return fail(0,
                        fmt::format("a JSON -netdev tap is not supported: write {}", kNetdevHint));
        if (backend_type(split_qemu_opts(value)) != "tap")
            continue;
        if (name != "-netdev")
            return fail(0, fmt::format("{} tap is not supported: write {}", name, kNetdevHint));
        if (tap.netdev)
            return fail(0, "more than one -netdev tap: vhnetctl qemu gives QEMU one tap");
        tap.netdev = i;
    }
    return tap;
}

std::vector<std::string> attach_qemu_tap(std::span<const std::string> argv, const QemuTap &tap,
                                         const TapFds &fds) {
    const auto files = fds.vhost ? fmt::format("fd={},vhost=on,vhostfd={}", fds.tap, *fds.vhost)
                                 : fmt::format("fd={},vhost=off", fds.tap);
    std::vector<std::string> out(argv.begin(), argv.end());
    if (!tap.netdev) {
        out.push_back("-netdev");
        out.push_back(fmt::format("tap,id={},{}", kQemuNetdevId, files));
        out.push_back("-device");
        out.push_back(fmt::format("virtio-net-pci,netdev={}", kQemuNetdevId));
        return out;
    }
    std::vector<std::string> kept;
    for (auto &part : split_qemu_opts(out.at(*tap.netdev))) {
        if (!replaced(part))
            kept.push_back(std::move(part));
    }
    kept.push_back(files);
    out[*tap.netdev] = fmt::format("{}", fmt::join(kept, ","));
    return out;
}

std::string shell_quote(std::string_view word) {
    const auto plain = [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::string_view("%+,-./:=@_").find(c) != std::string_view::npos;
    };
    if (!word.empty() && std::ranges::all_of(word, plain))
        return std::string(word);
    std::string quoted = "'";
    for (const char c : word) {
        if (c == '\'')
            quoted += "'\\''";
        else
            quoted += c;
    }
    return quoted + "'";
}

} // namespace vhnet::cli
