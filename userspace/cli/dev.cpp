// vhnetctl dev COMMAND: commands on one device node.
#include "command.h"

#include <vhnet/device.h>
#include <vhnet/features.h>

#include <fmt/format.h>

#include <memory>
#include <string>

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

constexpr Command kDevCommands[] = {
    {"features", "show the feature bits the device offers (VHOST_GET_FEATURES)", setup_features},
};

} // namespace

std::span<const Command> dev_commands() {
    return kDevCommands;
}

} // namespace vhnet::cli
