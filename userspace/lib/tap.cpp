// The tun ioctls of Tap. Link configuration is in link.cpp.
#include <vhnet/tap.h>

#include <fmt/format.h>

#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <fstream>

// Newer than the uapi headers of Debian 12 (Linux 6.2).
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

namespace vhnet {
namespace {

// A tun request named after its <linux/if_tun.h> macro, for Tap::call().
#define TUN_REQUEST(request) (request), #request

constexpr unsigned kTapFlags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;

struct FlagName {
    unsigned flag;
    const char *name;
};

// The flags /sys/class/net/NAME/tun_flags and TUNGETIFF report.
constexpr FlagName kTunFlagNames[] = {
    {IFF_TUN, "tun"},
    {IFF_TAP, "tap"},
    {IFF_NO_PI, "no_pi"},
    {IFF_VNET_HDR, "vnet_hdr"},
    {IFF_MULTI_QUEUE, "multi_queue"},
    {IFF_PERSIST, "persist"},
    {IFF_ONE_QUEUE, "one_queue"},
    {IFF_TUN_EXCL, "tun_excl"},
    {IFF_NAPI, "napi"},
    {IFF_NAPI_FRAGS, "napi_frags"},
    {IFF_NO_CARRIER, "no_carrier"},
};

} // namespace

Result<void> Tap::call(unsigned long request, const char *request_name, void *arg) const {
    if (::ioctl(fd_.get(), request, arg) < 0)
        return fail(errno, fmt::format("{} {}", request_name, name_));
    return {};
}

Result<Tap> Tap::open(const TapOptions &options) {
    const std::string &label = options.name.empty() ? options.tun_path : options.name;
    if (options.name.size() >= IFNAMSIZ)
        return fail(EINVAL,
                    fmt::format("tap name '{}' longer than {} bytes", options.name, IFNAMSIZ - 1));
    if (options.vnet_hdr_size != 10 && options.vnet_hdr_size != 12)
        return fail(EINVAL, fmt::format("vnet header size {} for {} (10 or 12)",
                                        options.vnet_hdr_size, label));

    Fd fd(::open(options.tun_path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd)
        return fail(errno, "open " + options.tun_path);
    Tap tap(std::move(fd), options.name.empty() ? options.tun_path : options.name, 0);

    if (auto r = tap.call(TUN_REQUEST(TUNGETFEATURES), &tap.features_); !r)
        return r.error();
    if (!(tap.features_ & IFF_VNET_HDR))
        return fail(EOPNOTSUPP,
                    fmt::format("tap {}: {} lacks IFF_VNET_HDR", label, options.tun_path));
    if (options.multi_queue && !(tap.features_ & IFF_MULTI_QUEUE))
        return fail(EOPNOTSUPP,
                    fmt::format("tap {}: {} lacks IFF_MULTI_QUEUE", label, options.tun_path));

    ifreq ifr{};
    std::memcpy(ifr.ifr_name, options.name.data(), options.name.size());
    unsigned flags = kTapFlags;
    if (options.multi_queue)
        flags |= IFF_MULTI_QUEUE;
    if (options.exclusive)
        flags |= IFF_TUN_EXCL;
    ifr.ifr_flags = static_cast<short>(flags);
    if (auto r = tap.call(TUN_REQUEST(TUNSETIFF), &ifr); !r)
        return r.error();
    tap.name_.assign(ifr.ifr_name, ::strnlen(ifr.ifr_name, IFNAMSIZ));

    if (auto r = tap.set_vnet_hdr_size(options.vnet_hdr_size); !r)
        return r.error();
    if (options.offloads) {
        if (auto r = tap.set_offload(*options.offloads); !r)
            return r.error();
    }
    return tap;
}

Result<LinkInfo> Tap::lookup(const std::string &name) {
    auto link = link_info(name);
    if (!link)
        return link.error();
    if (link->kind != "tun")
        return fail(EINVAL, link->kind.empty()
                                ? fmt::format("{} is not a tap", name)
                                : fmt::format("{} is a {} link, not a tap", name, link->kind));
    return link;
}

Result<void> Tap::remove(const std::string &name) {
    if (auto link = lookup(name); !link)
        return link.error();
    return link_delete(name);
}

Result<unsigned> Tap::sysfs_flags(const std::string &name) {
    const std::string path = "/sys/class/net/" + name + "/tun_flags";
    std::ifstream in(path);
    if (!in)
        return fail(errno ? errno : ENOENT, "read " + path);
    std::string text;
    in >> text;
    unsigned long value = 0;
    try {
        std::size_t used = 0;
        value = std::stoul(text, &used, 16);
        if (used != text.size())
            return fail(EINVAL, "parse " + path);
    } catch (const std::exception &) {
        return fail(EINVAL, "parse " + path);
    }
    return static_cast<unsigned>(value);
}

std::vector<std::string> Tap::flag_names(unsigned tun_flags) {
    std::vector<std::string> names;
    for (const auto &[flag, name] : kTunFlagNames) {
        if (tun_flags & flag) {
            names.emplace_back(name);
            tun_flags &= ~flag;
        }
    }
    if (tun_flags)
        names.push_back(fmt::format("{:#x}", tun_flags));
    return names;
}

Result<unsigned> Tap::flags() const {
    ifreq ifr{};
    if (auto r = call(TUN_REQUEST(TUNGETIFF), &ifr); !r)
        return r.error();
    return static_cast<unsigned>(static_cast<unsigned short>(ifr.ifr_flags));
}

Result<int> Tap::vnet_hdr_size() const {
    int size = 0;
    if (auto r = call(TUN_REQUEST(TUNGETVNETHDRSZ), &size); !r)
        return r.error();
    return size;
}

Result<void> Tap::set_vnet_hdr_size(int size) {
    if (size != 10 && size != 12)
        return fail(EINVAL, fmt::format("vnet header size {} for {} (10 or 12)", size, name_));
    return call(TUN_REQUEST(TUNSETVNETHDRSZ), &size);
}

Result<unsigned> Tap::set_offload(unsigned offloads) {
    // Each step drops what some kernels refuse: USO (only since 6.2), then UFO (refused from 4.14
    // until 6.2 brought it back for virtio-net's sake).
    constexpr unsigned kDroppable[] = {TUN_F_USO4 | TUN_F_USO6, TUN_F_UFO};
    unsigned wanted = offloads;
    auto r = call(TUN_REQUEST(TUNSETOFFLOAD), reinterpret_cast<void *>(std::uintptr_t{wanted}));
    for (const unsigned drop : kDroppable) {
        if (r || r.error().code() != EINVAL || !(wanted & drop))
            continue;
        wanted &= ~drop;
        r = call(TUN_REQUEST(TUNSETOFFLOAD), reinterpret_cast<void *>(std::uintptr_t{wanted}));
    }
    if (!r)
        return r.error();
    offloads_ = wanted;
    return wanted;
}

Result<void> Tap::persist(bool on) {
    return call(TUN_REQUEST(TUNSETPERSIST), reinterpret_cast<void *>(std::uintptr_t{on}));
}

Result<void> Tap::add_address(std::string_view cidr) {
    auto address = parse_cidr(cidr);
    if (!address)
        return address.error();
    return link_add_address(name_, *address);
}

} // namespace vhnet
