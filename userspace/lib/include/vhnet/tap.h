// Tap: a tap interface from /dev/net/tun, set up to be a vhost-net backend.
//
//     vhnet::TapOptions options;
//     options.name = "tap0";
//     auto tap = vhnet::Tap::open(options);
//     if (!tap)
//         return tap.error();        // e.g. "TUNSETIFF tap0: Operation not permitted"
//     tap->set_up(true);
//     dev.set_backend(0, tap->fd());
#pragma once

#include <vhnet/fd.h>
#include <vhnet/link.h>
#include <vhnet/result.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vhnet {

/// The tun/tap character device.
inline constexpr std::string_view kTunPath = "/dev/net/tun";

/// How Tap::open() creates or attaches to a tap.
struct TapOptions {
    /// Interface name; "" (or a pattern such as "vh%d") lets the kernel choose.
    std::string name;
    /// IFF_MULTI_QUEUE: the tap can have one file per queue pair.
    bool multi_queue = false;
    /// IFF_TUN_EXCL: fail with EBUSY rather than attach if the interface exists.
    bool exclusive = false;
    /// TUNSETVNETHDRSZ: 10 (struct virtio_net_hdr) or 12 (with num_buffers, for VERSION_1 or
    /// MRG_RXBUF).
    int vnet_hdr_size = 12;
    /// TUNSETOFFLOAD (TUN_F_*) to request, if any; see Tap::set_offload() for the fallback.
    std::optional<unsigned> offloads;
    /// The tun character device.
    std::string tun_path = std::string(kTunPath);
};

/// One open queue of a tap interface: IFF_TAP | IFF_NO_PI | IFF_VNET_HDR, so the fd reads and
/// writes Ethernet frames each led by a virtio-net header, which is what VHOST_NET_SET_BACKEND
/// expects. Setup failures name the request and the interface, e.g.
/// "TUNSETIFF tap0: Operation not permitted". Move-only; closing the last file of a tap that is
/// not persistent deletes the interface.
class Tap {
public:
    /// Opens options.tun_path, probes TUNGETFEATURES (IFF_VNET_HDR required, IFF_MULTI_QUEUE too
    /// if asked for), creates the interface or attaches to it (TUNSETIFF), then sets the vnet
    /// header size and, if given, the offloads.
    static Result<Tap> open(const TapOptions &options = {});

    /// The link of the tun/tap interface `name`: ENODEV if there is no such link, EINVAL if it is
    /// not a tun/tap ("eth0 is not a tap").
    static Result<LinkInfo> lookup(const std::string &name);
    /// Deletes the tun/tap interface `name`, persistent or not (a process attached to it keeps a
    /// dead file); errors as lookup().
    static Result<void> remove(const std::string &name);

    /// The IFF_* flags the kernel reports in /sys/class/net/NAME/tun_flags (IFF_TAP, IFF_NO_PI,
    /// IFF_VNET_HDR, IFF_MULTI_QUEUE, IFF_PERSIST, ...); needs a sysfs mounted in the caller's
    /// network namespace.
    static Result<unsigned> sysfs_flags(const std::string &name);
    /// Names of tun flags, e.g. {"tap", "no_pi", "vnet_hdr", "persist"}; unknown bits as "0x...".
    static std::vector<std::string> flag_names(unsigned tun_flags);

    int fd() const noexcept { return fd_.get(); }
    /// The interface name the kernel settled on.
    const std::string &name() const noexcept { return name_; }
    /// What TUNGETFEATURES reported: the IFF_* flags this kernel's tun supports.
    unsigned tun_features() const noexcept { return features_; }
    /// The TUN_F_* offloads in effect (after Tap::open() or set_offload()); nullopt if never set.
    std::optional<unsigned> offloads() const noexcept { return offloads_; }

    /// TUNGETIFF: the IFF_* flags of this file's interface.
    Result<unsigned> flags() const;
    /// TUNGETVNETHDRSZ.
    Result<int> vnet_hdr_size() const;
    /// TUNSETVNETHDRSZ: 10 or 12 (EINVAL otherwise).
    Result<void> set_vnet_hdr_size(int size);
    /// TUNSETOFFLOAD with `offloads` (TUN_F_*). If the kernel refuses with EINVAL, retries
    /// without the bits an older or newer kernel may not take (USO4/USO6, then UFO). Returns what
    /// was accepted.
    Result<unsigned> set_offload(unsigned offloads);
    /// TUNSETPERSIST: whether the interface outlives its last open file.
    Result<void> persist(bool on);

    /// Link configuration, through rtnetlink (see link.h).
    Result<void> set_up(bool up) { return link_set_up(name_, up); }
    Result<void> set_mtu(unsigned mtu) { return link_set_mtu(name_, mtu); }
    /// Adds an address written as a CIDR string ("198.18.0.1/24").
    Result<void> add_address(std::string_view cidr);
    Result<LinkInfo> info() const { return link_info(name_); }

private:
    Tap(Fd fd, std::string name, unsigned features) noexcept
        : fd_(std::move(fd)), name_(std::move(name)), features_(features) {}

    /// The one place a tun ioctl is issued; a failure reads "<request> <name>: <errno text>".
    Result<void> call(unsigned long request, const char *request_name, void *arg) const;

    Fd fd_;
    std::string name_;
    unsigned features_ = 0;
    std::optional<unsigned> offloads_;
};

} // namespace vhnet
