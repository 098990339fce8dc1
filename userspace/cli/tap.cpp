// vhnetctl tap COMMAND: persistent tap interfaces to use as vhost-net backends.
#include "command.h"

#include <vhnet/link.h>
#include <vhnet/tap.h>

#include <fmt/format.h>

#include <linux/if_tun.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vhnet::cli {
namespace {

/// One tap as `tap show` prints it: JSON, and text lines.
struct Shown {
    nlohmann::json doc;
    std::vector<std::string> lines;
};

Shown describe(const LinkInfo &link, std::optional<unsigned> tun_flags) {
    std::vector<std::string> addresses;
    for (const auto &address : link.addresses)
        addresses.push_back(address.str());
    const auto state = link.up ? "up" : "down";

    Shown shown;
    shown.doc = {{"name", link.name},        {"ifindex", link.ifindex},     {"mtu", link.mtu},
                 {"state", state},           {"operstate", link.operstate}, {"mac", link.mac},
                 {"flags", link.flag_names}, {"addresses", addresses},      {"tun_flags", nullptr}};
    if (tun_flags)
        shown.doc["tun_flags"] = Tap::flag_names(*tun_flags);

    shown.lines.push_back(fmt::format("{}: ifindex {} mtu {} state {} operstate {} mac {}",
                                      link.name, link.ifindex, link.mtu, state, link.operstate,
                                      link.mac.empty() ? "-" : link.mac));
    shown.lines.push_back(fmt::format("    flags {}", fmt::join(link.flag_names, ",")));
    if (tun_flags)
        shown.lines.push_back(
            fmt::format("    tun_flags {}", fmt::join(Tap::flag_names(*tun_flags), " ")));
    for (const auto &address : link.addresses)
        shown.lines.push_back(
            fmt::format("    {} {}", address.size() == 4 ? "inet" : "inet6", address.str()));
    return shown;
}

/// The tun flags of `name` if sysfs shows them (it shows the mounter's network namespace only).
std::optional<unsigned> tun_flags(const std::string &name) {
    auto flags = Tap::sysfs_flags(name);
    return flags ? std::optional<unsigned>(*flags) : std::nullopt;
}

Result<Shown> show_one(const std::string &name) {
    auto link = Tap::lookup(name);
    if (!link)
        return link.error();
    return describe(*link, tun_flags(name));
}

// tap add

struct AddArgs {
    std::string name;
    bool multi_queue = false;
    unsigned mtu = 0;
    const CLI::Option *mtu_option = nullptr;
    std::string address;
};

/// Configures a freshly created tap as `args` ask.
Result<void> configure(Tap &tap, const AddArgs &args, const std::optional<Cidr> &address) {
    if (auto r = tap.persist(true); !r)
        return r;
    if (args.mtu_option->count() > 0) {
        if (auto r = tap.set_mtu(args.mtu); !r)
            return r;
    }
    if (auto r = tap.set_up(true); !r)
        return r;
    if (address) {
        if (auto r = link_add_address(tap.name(), *address); !r)
            return r;
    }
    return {};
}

/// Creates the persistent tap and closes it; returns its name.
Result<std::string> create(const AddArgs &args, const std::optional<Cidr> &address) {
    TapOptions options;
    options.name = args.name;
    options.multi_queue = args.multi_queue;
    options.exclusive = true;
    auto tap = Tap::open(options);
    if (!tap)
        return tap.error();
    if (auto r = configure(*tap, args, address); !r) {
        // Not persistent, the interface goes away when the Tap closes its file.
        (void)tap->persist(false);
        return r.error();
    }
    return tap->name();
}

Result<void> add(const Output &out, const AddArgs &args) {
    std::optional<Cidr> address;
    if (!args.address.empty()) {
        auto parsed = parse_cidr(args.address);
        if (!parsed)
            return fail(EINVAL, "bad " + parsed.error().context());
        address = *parsed;
    }
    const auto name = create(args, address);
    if (!name)
        return name.error();
    // Shown as `tap show` shows it, with no file attached.
    auto shown = show_one(*name);
    if (!shown)
        return shown.error();
    out.result(shown->doc, shown->lines);
    return {};
}

Action setup_add(CLI::App &app) {
    auto args = std::make_shared<AddArgs>();
    app.add_option("NAME", args->name,
                   "interface name (a pattern such as vh%d lets the kernel "
                   "pick the number)")
        ->required();
    app.add_flag("--mq", args->multi_queue, "multiqueue tap (IFF_MULTI_QUEUE)");
    args->mtu_option =
        app.add_option("--mtu", args->mtu, "MTU")->type_name("N")->check(CLI::Range(1, 65535));
    app.add_option("--addr", args->address, "add an IPv4 or IPv6 address, e.g. 198.18.0.1/24")
        ->type_name("CIDR");
    app.footer("Creates a persistent tap (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR) and sets it up. "
               "Fails if NAME exists.");
    return [args](const Output &out) { return add(out, *args); };
}

// tap del

Result<void> del(const Output &out, const std::string &name) {
    if (auto r = Tap::remove(name); !r)
        return r;
    out.result({{"deleted", name}}, std::vector<std::string>{});
    return {};
}

Action setup_del(CLI::App &app) {
    auto name = std::make_shared<std::string>();
    app.add_option("NAME", *name, "tap interface to delete")->required();
    return [name](const Output &out) { return del(out, *name); };
}

// tap show

Result<void> show(const Output &out, const std::string &name) {
    if (!name.empty()) {
        auto shown = show_one(name);
        if (!shown)
            return shown.error();
        out.result(shown->doc, shown->lines);
        return {};
    }

    auto links = link_list();
    if (!links)
        return links.error();
    auto doc = nlohmann::json::array();
    std::vector<std::string> lines;
    for (const auto &link : *links) {
        if (link.kind != "tun")
            continue;
        const auto flags = tun_flags(link.name);
        if (flags && !(*flags & IFF_TAP)) // a tun (layer 3) device
            continue;
        auto shown = describe(link, flags);
        doc.push_back(std::move(shown.doc));
        lines.insert(lines.end(), shown.lines.begin(), shown.lines.end());
    }
    out.result(doc, lines);
    return {};
}

Action setup_show(CLI::App &app) {
    auto name = std::make_shared<std::string>();
    app.add_option("NAME", *name, "tap interface (default: every tap)");
    app.footer("Shows name, ifindex, MTU, state, MAC, addresses and, where sysfs has them, the "
               "tun flags. Without NAME, -j prints an array.");
    return [name](const Output &out) { return show(out, *name); };
}

constexpr Command kTapCommands[] = {
    {"add", "create a persistent tap and set it up", setup_add},
    {"del", "delete a tap", setup_del},
    {"show", "show one tap or all of them", setup_show},
};

} // namespace

std::span<const Command> tap_commands() {
    return kTapCommands;
}

} // namespace vhnet::cli
