// The QEMU command line of `vhnetctl qemu`: finding its tap netdev and rewriting it to use the tap
// and vhost files vhnetctl opened. Pure functions of the argument list, so they are tested
// without QEMU, a tap or root.
#pragma once

#include <vhnet/result.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vhnet::cli {

/// The netdev id vhnetctl gives the tap it adds to a command line that has none.
inline constexpr std::string_view kQemuNetdevId = "vhnet0";

/// Where a QEMU command line's tap is.
struct QemuTap {
    /// The index in argv of the value of its one `-netdev tap,...`; nullopt if it has none.
    std::optional<std::size_t> netdev;
};

/// The files QEMU's tap netdev is given.
struct TapFds {
    /// The tap (tun) file: fd=.
    int tap = -1;
    /// The vhost device: vhost=on,vhostfd=; nullopt for vhost=off.
    std::optional<int> vhost;
};

/// The parts of a QEMU option value ("tap,id=n0,script=no"), split at single commas. A doubled
/// comma is QEMU's escape for a comma inside a value and stays as is ("a=x,,y" is one part); empty
/// parts are dropped.
std::vector<std::string> split_qemu_opts(std::string_view value);

/// Finds the tap of the QEMU command line `argv` (argv[0] is the program): its one
/// `-netdev tap,...` (or `--netdev`, or `type=tap`), or none. Fails on a second tap netdev, on
/// `-nic tap` and `-net tap` (whose tap QEMU would open itself), on a JSON `-netdev` of type tap
/// and on `-netdev=...`, which QEMU does not take.
Result<QemuTap> find_qemu_tap(std::span<const std::string> argv);

/// `argv` with its tap given `fds`. The `-netdev tap` value found by find_qemu_tap() keeps its
/// keys (id=, sndbuf=, ...) except those that choose or open the tap or vhost themselves, or that
/// QEMU refuses next to fd= (ifname, script, downscript, helper, br, vnet_hdr, queues, fd, fds,
/// vhost, vhostfd, vhostfds, vhostforce), and gets `fd=N,vhost=on,vhostfd=M` (or
/// `fd=N,vhost=off`) instead. Without a tap netdev, `-netdev tap,id=vhnet0,... -device
/// virtio-net-pci,netdev=vhnet0` is appended.
std::vector<std::string> attach_qemu_tap(std::span<const std::string> argv, const QemuTap &tap,
                                         const TapFds &fds);

/// `word` as a POSIX shell reads it back: as is if it has no special characters, else in single
/// quotes.
std::string shell_quote(std::string_view word);

} // namespace vhnet::cli
