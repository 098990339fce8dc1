// Network links through rtnetlink (libnl-route-3): read a link, set it up, set its MTU, add an
// address, delete it. Each call opens its own netlink socket, in the calling thread's network
// namespace.
#pragma once

#include <vhnet/result.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vhnet {

/// An IP address with a prefix length, e.g. 198.18.0.1/24 or 2001:db8::1/64.
struct Cidr {
    int family = 0;                      ///< AF_INET or AF_INET6
    std::array<std::uint8_t, 16> addr{}; ///< network byte order; AF_INET uses the first 4
    unsigned prefix = 0;                 ///< 0..32 or 0..128

    /// Bytes of `addr` in use: 4 or 16.
    std::size_t size() const noexcept;
    /// "198.18.0.1/24".
    std::string str() const;

    bool operator==(const Cidr &) const = default;
};

/// Parses "ADDRESS/PREFIX" (IPv4 dotted quad or IPv6); without "/PREFIX" the prefix is the full
/// length (/32, /128). EINVAL, naming the text, for anything else.
Result<Cidr> parse_cidr(std::string_view text);

/// What rtnetlink says about one link.
struct LinkInfo {
    std::string name;
    int ifindex = 0;
    unsigned mtu = 0;
    unsigned flags = 0;                  ///< IFF_* (IFF_UP, IFF_BROADCAST, ...)
    std::vector<std::string> flag_names; ///< `flags` as names: "broadcast", "multicast", "up"...
    bool up = false;                     ///< administratively up (IFF_UP)
    std::string operstate;               ///< RFC 2863 state: "up", "down", "unknown", ...
    std::string kind;                    ///< IFLA_INFO_KIND: "tun" for tun/tap, "" if none
    std::string mac;                     ///< "aa:bb:cc:dd:ee:ff"; "" for a link without one
    std::vector<Cidr> addresses;         ///< IPv4 then IPv6, in the kernel's order
};

/// The link named `name`; ENODEV if there is none.
Result<LinkInfo> link_info(const std::string &name);
/// Every link, by ascending ifindex.
Result<std::vector<LinkInfo>> link_list();
/// Sets the link administratively up or down.
Result<void> link_set_up(const std::string &name, bool up);
/// Sets the link's MTU; the driver's bounds apply (EINVAL).
Result<void> link_set_mtu(const std::string &name, unsigned mtu);
/// Adds `address` to the link (EEXIST if it has it already).
Result<void> link_add_address(const std::string &name, const Cidr &address);
/// Deletes the link (RTM_DELLINK).
Result<void> link_delete(const std::string &name);

} // namespace vhnet
