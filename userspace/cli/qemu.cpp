// vhnetctl qemu: runs an unmodified QEMU on vhnet, handing it an open tap and vhost device.
#include "command.h"
#include "qemu_args.h"

#include <vhnet/device.h>
#include <vhnet/tap.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace vhnet::cli {
namespace {

struct QemuArgs {
    std::shared_ptr<std::string> dev;
    bool no_vhost = false;
    std::string tap = "vhnet%d";
    bool dry_run = false;
    /// Everything after "--": the QEMU program and its arguments.
    std::vector<std::string> qemu;
    /// The command's parser, which tells whether "--" was given.
    const CLI::App *app = nullptr;
};

/// Attaches to the tap `name` or creates it, not persistent: a tap vhnetctl creates goes away with
/// QEMU, one that was persistent stays so.
Result<Tap> open_tap(const std::string &name) {
    TapOptions options;
    options.name = name;
    auto tap = Tap::open(options);
    if (!tap && tap.error().code() == EINVAL) {
        // An existing multiqueue tap takes only IFF_MULTI_QUEUE files.
        options.multi_queue = true;
        if (auto multi_queue = Tap::open(options))
            return multi_queue;
    }
    return tap;
}

/// Clears FD_CLOEXEC on `fd`, so that QEMU inherits it.
Result<void> keep_across_exec(int fd, const std::string &what) {
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags < 0 || ::fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) < 0)
        return fail(errno, "clear FD_CLOEXEC on " + what);
    return {};
}

Result<void> run_qemu(const Output &out, const QemuArgs &args) {
    constexpr std::string_view usage = "vhnetctl qemu [OPTIONS] -- QEMU [ARGS...]";
    const auto &given = args.app->remaining();
    if (args.qemu.empty())
        return fail(0, fmt::format("no QEMU command line: {}", usage));
    if (std::ranges::find(given, "--") == given.end())
        return fail(0, fmt::format("the QEMU command line goes after '--': {}", usage));
    // The command line is checked before anything is opened or created.
    const auto found = find_qemu_tap(args.qemu);
    if (!found)
        return found.error();

    // No VHOST_SET_OWNER: QEMU issues it. VHOST_GET_FEATURES only proves the node is a vhost
    // device, so that a wrong --dev fails here rather than inside QEMU.
    std::optional<Device> dev;
    if (!args.no_vhost) {
        auto opened = Device::open(*args.dev);
        if (!opened)
            return opened.error();
        if (auto features = opened->features(); !features)
            return features.error();
        dev = std::move(*opened);
    }
    auto tap = open_tap(args.tap);
    if (!tap)
        return tap.error();
    // What QEMU's default script would have done, as it runs no script with fd=.
    if (auto r = tap->set_up(true); !r)
        return r;

    if (auto r = keep_across_exec(tap->fd(), "tap " + tap->name()); !r)
        return r;
    if (dev) {
        if (auto r = keep_across_exec(dev->fd(), dev->path()); !r)
            return r;
    }
    TapFds fds;
    fds.tap = tap->fd();
    if (dev)
        fds.vhost = dev->fd();
    const auto argv = attach_qemu_tap(args.qemu, *found, fds);

    if (args.dry_run) {
        std::vector<std::string> words;
        for (const auto &word : argv)
            words.push_back(shell_quote(word));
        const nlohmann::json doc = {
            {"argv", argv},
            {"tap", tap->name()},
            {"tap_fd", fds.tap},
            {"vhost_fd", fds.vhost ? nlohmann::json(*fds.vhost) : nlohmann::json(nullptr)},
            {"device", dev ? nlohmann::json(dev->path()) : nlohmann::json(nullptr)},
        };
        out.result(doc, fmt::format("{}", fmt::join(words, " ")));
        return {};
    }

    std::vector<char *> c_argv;
    for (const auto &word : argv)
        c_argv.push_back(const_cast<char *>(word.c_str()));
    c_argv.push_back(nullptr);
    std::fflush(nullptr);
    ::execvp(c_argv.front(), c_argv.data());
    return fail(errno, "exec " + argv.front());
}

Action setup_qemu(CLI::App &app) {
    auto args = std::make_shared<QemuArgs>();
    args->app = &app;
    args->dev = add_dev_option(app);
    app.add_flag("--no-vhost", args->no_vhost, "open no vhost device: QEMU moves the packets");
    app.add_option("--tap", args->tap,
                   "tap to attach to, or to create if it does not exist (a pattern such as "
                   "vh%d lets the kernel pick the number)")
        ->type_name("NAME")
        ->capture_default_str();
    app.add_flag("--dry-run", args->dry_run,
                 "print the QEMU command line (shell-quoted; with -j also the files) instead of "
                 "running it");
    app.add_option("QEMU", args->qemu, "the QEMU program and its arguments, after '--'");
    app.footer(
        "Opens the vhost device (without VHOST_SET_OWNER, which QEMU issues) and the tap "
        "(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, not persistent), brings the tap up, and runs QEMU "
        "with both files. The QEMU command line's '-netdev tap,...' is given "
        "fd=N,vhost=on,vhostfd=M (fd=N,vhost=off with --no-vhost) in place of the keys that "
        "choose or open a tap or vhost (ifname, script, downscript, helper, br, vnet_hdr, "
        "queues, fd, fds, vhost, vhostfd, vhostfds, vhostforce); without one, '-netdev "
        "tap,id=vhnet0,... -device virtio-net-pci,netdev=vhnet0' is added. One tap per QEMU: "
        "a second -netdev tap, -nic tap and -net tap are refused.");
    return [args](const Output &out) { return run_qemu(out, *args); };
}

} // namespace

const Command &qemu_command() {
    static constexpr Command command = {
        "qemu", "run QEMU with a vhnet device and a tap it is handed as open files", setup_qemu};
    return command;
}

} // namespace vhnet::cli
