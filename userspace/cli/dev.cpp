// vhnetctl dev COMMAND: commands on one device node.
#include "command.h"
#include "pseudofs.h"
#include "stats.h"

#include <vhnet/device.h>
#include <vhnet/features.h>

#include <fmt/format.h>

#include <cerrno>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace vhnet::cli {

std::shared_ptr<std::string> add_dev_option(CLI::App &app) {
    auto path = std::make_shared<std::string>(default_device_path());
    app.add_option("--dev", *path, "device node, e.g. /dev/vhnet or /dev/vhost-net")
        ->type_name("PATH")
        ->capture_default_str();
    return path;
}

namespace {

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

Result<void> show_module(const Output &out) {
    const fs::path sysfs = module_sysfs();
    const fs::path debugfs = module_debugfs();
    if (auto r = require_module(sysfs); !r)
        return r;

    // Every module parameter: /sys/module/vhnet/parameters/<name>.
    nlohmann::json doc = {{"module", "vhnet"}, {"sysfs", sysfs.string()}};
    auto &params = doc["parameters"] = nlohmann::json::object();
    std::vector<std::string> words;
    std::error_code ec;
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
    if (const auto why = debugfs_problem(debugfs)) {
        doc["instances"] = nullptr;
        doc["debugfs_error"] = *why;
        lines.push_back(fmt::format("instances unknown ({})", *why));
        out.result(doc, lines);
        return {};
    }
    const auto ids = list_instances(debugfs);
    if (!ids)
        return ids.error();
    auto &instances = doc["instances"] = nlohmann::json::array();
    std::string count = std::to_string(ids->size());
    if (const auto live = read_text(debugfs / "instances")) {
        doc["live"] = json_value(*live);
        if (*live != count)
            count += fmt::format(" (live {})", *live);
    }
    lines.push_back("instances " + count);
    for (const auto &id : *ids) {
        const auto info = debugfs / id / "info";
        const auto text = read_text(info);
        if (!text)
            return fail(errno ? errno : EIO, "read " + info.string());
        nlohmann::json instance = {{"instance", id}};
        std::vector<std::string> fields;
        const auto parsed = parse_fields(*text);
        for (const auto &[name, value] : parsed) {
            instance[name] = json_value(value);
            fields.push_back(fmt::format("{} {}", name, value));
        }
        // Dirty logging (VHOST_F_LOG_ALL acked): false where the module has no log_all field,
        // and then not named in the text.
        const auto log = logging(parsed, {});
        instance["logging"] = log.log_all;
        instances.push_back(std::move(instance));
        lines.push_back(fmt::format("instance {}{}: {}", id,
                                    !log.reported ? ""
                                    : log.log_all ? " (logging on)"
                                                  : " (logging off)",
                                    fmt::join(fields, " ")));
    }
    out.result(doc, lines);
    return {};
}

Action setup_show(CLI::App &app) {
    app.footer("Reads /sys/module/vhnet/parameters and /sys/kernel/debug/vhnet/<id>/info "
               "($VHNET_SYSFS_MODULE and $VHNET_DEBUGFS override the two directories). Each "
               "instance line says \"(logging on)\" or \"(logging off)\" where the module "
               "logs dirty pages (VHOST_F_LOG_ALL acked or not); -j gives \"logging\": true or "
               "false per instance.");
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
