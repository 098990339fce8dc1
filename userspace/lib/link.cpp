// Link configuration through libnl-route-3.
#include <vhnet/link.h>

#include <fmt/format.h>

#include <arpa/inet.h>
#include <linux/if.h>
#include <netlink/errno.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <memory>

namespace vhnet {
namespace {

// libnl objects, released by their own put/free functions.
struct SockDeleter {
    void operator()(nl_sock *sock) const { nl_socket_free(sock); }
};
struct CacheDeleter {
    void operator()(nl_cache *cache) const { nl_cache_free(cache); }
};
struct LinkDeleter {
    void operator()(rtnl_link *link) const { rtnl_link_put(link); }
};
struct AddrDeleter {
    void operator()(rtnl_addr *addr) const { rtnl_addr_put(addr); }
};
struct NlAddrDeleter {
    void operator()(nl_addr *addr) const { nl_addr_put(addr); }
};
using Sock = std::unique_ptr<nl_sock, SockDeleter>;
using Cache = std::unique_ptr<nl_cache, CacheDeleter>;
using Link = std::unique_ptr<rtnl_link, LinkDeleter>;
using Addr = std::unique_ptr<rtnl_addr, AddrDeleter>;
using NlAddr = std::unique_ptr<nl_addr, NlAddrDeleter>;

/// The errno behind a (negative) libnl error: libnl folds the kernel's errno into its own NLE_*
/// codes (nl_syserr2nlerr()); this undoes that for the codes it produces.
int to_errno(int nl_error) {
    switch (nl_error < 0 ? -nl_error : nl_error) {
    case NLE_INTR:
        return EINTR;
    case NLE_BAD_SOCK:
        return EBADF;
    case NLE_AGAIN:
        return EAGAIN;
    case NLE_NOMEM:
        return ENOMEM;
    case NLE_EXIST:
        return EEXIST;
    case NLE_INVAL:
        return EINVAL;
    case NLE_RANGE:
        return ERANGE;
    case NLE_MSGSIZE:
        return EMSGSIZE;
    case NLE_OPNOTSUPP:
        return EOPNOTSUPP;
    case NLE_AF_NOSUPPORT:
        return EAFNOSUPPORT;
    case NLE_OBJ_NOTFOUND:
        return ENOENT;
    case NLE_NOADDR:
        return EADDRNOTAVAIL;
    case NLE_BUSY:
        return EBUSY;
    case NLE_PROTO_MISMATCH:
        return EPROTONOSUPPORT;
    case NLE_NOACCESS:
        return EACCES;
    case NLE_PERM:
        return EPERM;
    case NLE_NODEV:
        return ENODEV;
    default:
        return EIO;
    }
}

Error nl_fail(int nl_error, std::string context) {
    return fail(to_errno(nl_error), std::move(context));
}

Result<Sock> connect() {
    Sock sock(nl_socket_alloc());
    if (!sock)
        return fail(ENOMEM, "netlink socket");
    if (const int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0)
        return nl_fail(err, "connect rtnetlink");
    return sock;
}

/// The link named `name` as the kernel has it now.
Result<Link> get_link(nl_sock *sock, const std::string &name) {
    rtnl_link *link = nullptr;
    if (const int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &link); err < 0)
        return nl_fail(err, "get link " + name);
    return Link(link);
}

std::string format_mac(nl_addr *addr) {
    if (!addr)
        return {};
    const auto *bytes = static_cast<const unsigned char *>(nl_addr_get_binary_addr(addr));
    const unsigned len = nl_addr_get_len(addr);
    std::string mac;
    for (unsigned i = 0; i < len; ++i)
        mac += fmt::format("{}{:02x}", i ? ":" : "", bytes[i]);
    return mac;
}

std::vector<std::string> split_flags(unsigned flags) {
    char buf[512] = {};
    rtnl_link_flags2str(static_cast<int>(flags), buf, sizeof buf);
    std::vector<std::string> names;
    std::string_view rest(buf);
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        if (comma != 0)
            names.emplace_back(rest.substr(0, comma));
        if (comma == std::string_view::npos)
            break;
        rest.remove_prefix(comma + 1);
    }
    return names;
}

LinkInfo to_info(rtnl_link *link) {
    LinkInfo info;
    if (const char *name = rtnl_link_get_name(link))
        info.name = name;
    info.ifindex = rtnl_link_get_ifindex(link);
    info.mtu = rtnl_link_get_mtu(link);
    info.flags = rtnl_link_get_flags(link);
    info.flag_names = split_flags(info.flags);
    info.up = (info.flags & IFF_UP) != 0;
    char state[32] = {};
    rtnl_link_operstate2str(rtnl_link_get_operstate(link), state, sizeof state);
    info.operstate = state;
    if (const char *kind = rtnl_link_get_type(link))
        info.kind = kind;
    info.mac = format_mac(rtnl_link_get_addr(link));
    return info;
}

/// Fills in the addresses of every link in `links` from one address dump.
Result<void> add_addresses(nl_sock *sock, std::vector<LinkInfo> &links) {
    nl_cache *raw = nullptr;
    if (const int err = rtnl_addr_alloc_cache(sock, &raw); err < 0)
        return nl_fail(err, "list addresses");
    const Cache cache(raw);
    for (nl_object *obj = nl_cache_get_first(raw); obj; obj = nl_cache_get_next(obj)) {
        auto *addr = reinterpret_cast<rtnl_addr *>(obj);
        const int ifindex = rtnl_addr_get_ifindex(addr);
        const auto link = std::ranges::find(links, ifindex, &LinkInfo::ifindex);
        nl_addr *local = rtnl_addr_get_local(addr);
        const int family = rtnl_addr_get_family(addr);
        if (link == links.end() || !local || (family != AF_INET && family != AF_INET6))
            continue;
        Cidr cidr;
        cidr.family = family;
        cidr.prefix = static_cast<unsigned>(rtnl_addr_get_prefixlen(addr));
        const unsigned len = std::min<unsigned>(nl_addr_get_len(local), sizeof cidr.addr);
        std::memcpy(cidr.addr.data(), nl_addr_get_binary_addr(local), len);
        link->addresses.push_back(cidr);
    }
    for (auto &link : links) {
        std::ranges::stable_sort(link.addresses, [](const Cidr &a, const Cidr &b) {
            return (a.family == AF_INET) > (b.family == AF_INET);
        });
    }
    return {};
}

/// Changes the link `name` by what `edit(change, value)` sets in an empty rtnl_link.
Result<void> change_link(const std::string &name, void (*edit)(rtnl_link *, unsigned),
                         unsigned value, const std::string &what) {
    auto sock = connect();
    if (!sock)
        return sock.error();
    auto link = get_link(sock->get(), name);
    if (!link)
        return link.error();
    const Link change(rtnl_link_alloc());
    if (!change)
        return fail(ENOMEM, what);
    edit(change.get(), value);
    if (const int err = rtnl_link_change(sock->get(), link->get(), change.get(), 0); err < 0)
        return nl_fail(err, what);
    return {};
}

} // namespace

std::size_t Cidr::size() const noexcept {
    return family == AF_INET6 ? 16 : 4;
}

std::string Cidr::str() const {
    char text[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(family, addr.data(), text, sizeof text);
    return fmt::format("{}/{}", text, prefix);
}

Result<Cidr> parse_cidr(std::string_view text) {
    const auto bad = [&] {
        return fail(EINVAL,
                    fmt::format("address '{}' (want ADDRESS/PREFIX, e.g. 198.18.0.1/24)", text));
    };
    const auto slash = text.find('/');
    const std::string address(text.substr(0, slash));
    Cidr cidr;
    cidr.family = address.find(':') == std::string::npos ? AF_INET : AF_INET6;
    if (::inet_pton(cidr.family, address.c_str(), cidr.addr.data()) != 1)
        return bad();
    const unsigned max = cidr.family == AF_INET ? 32 : 128;
    cidr.prefix = max;
    if (slash != std::string_view::npos) {
        const auto digits = text.substr(slash + 1);
        const auto *end = digits.data() + digits.size();
        const auto [ptr, ec] = std::from_chars(digits.data(), end, cidr.prefix);
        if (ec != std::errc() || ptr != end || cidr.prefix > max)
            return bad();
    }
    return cidr;
}

Result<LinkInfo> link_info(const std::string &name) {
    auto sock = connect();
    if (!sock)
        return sock.error();
    auto link = get_link(sock->get(), name);
    if (!link)
        return link.error();
    std::vector<LinkInfo> links{to_info(link->get())};
    if (auto r = add_addresses(sock->get(), links); !r)
        return r.error();
    return std::move(links.front());
}

Result<std::vector<LinkInfo>> link_list() {
    auto sock = connect();
    if (!sock)
        return sock.error();
    nl_cache *raw = nullptr;
    if (const int err = rtnl_link_alloc_cache(sock->get(), AF_UNSPEC, &raw); err < 0)
        return nl_fail(err, "list links");
    const Cache cache(raw);
    std::vector<LinkInfo> links;
    for (nl_object *obj = nl_cache_get_first(raw); obj; obj = nl_cache_get_next(obj))
        links.push_back(to_info(reinterpret_cast<rtnl_link *>(obj)));
    std::ranges::sort(links, {}, &LinkInfo::ifindex);
    if (auto r = add_addresses(sock->get(), links); !r)
        return r.error();
    return links;
}

Result<void> link_set_up(const std::string &name, bool up) {
    const auto edit = [](rtnl_link *change, unsigned on) {
        if (on)
            rtnl_link_set_flags(change, IFF_UP);
        else
            rtnl_link_unset_flags(change, IFF_UP);
    };
    return change_link(name, edit, up, fmt::format("set {} {}", name, up ? "up" : "down"));
}

Result<void> link_set_mtu(const std::string &name, unsigned mtu) {
    const auto edit = [](rtnl_link *change, unsigned value) { rtnl_link_set_mtu(change, value); };
    return change_link(name, edit, mtu, fmt::format("set {} mtu {}", name, mtu));
}

Result<void> link_add_address(const std::string &name, const Cidr &address) {
    const auto what = fmt::format("add address {} to {}", address.str(), name);
    auto sock = connect();
    if (!sock)
        return sock.error();
    auto link = get_link(sock->get(), name);
    if (!link)
        return link.error();
    const NlAddr local(nl_addr_build(address.family, address.addr.data(), address.size()));
    const Addr addr(rtnl_addr_alloc());
    if (!local || !addr)
        return fail(ENOMEM, what);
    nl_addr_set_prefixlen(local.get(), static_cast<int>(address.prefix));
    rtnl_addr_set_ifindex(addr.get(), rtnl_link_get_ifindex(link->get()));
    if (const int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0)
        return nl_fail(err, what);
    rtnl_addr_set_prefixlen(addr.get(), static_cast<int>(address.prefix));
    if (const int err = rtnl_addr_add(sock->get(), addr.get(), 0); err < 0)
        return nl_fail(err, what);
    return {};
}

Result<void> link_delete(const std::string &name) {
    auto sock = connect();
    if (!sock)
        return sock.error();
    auto link = get_link(sock->get(), name);
    if (!link)
        return link.error();
    if (const int err = rtnl_link_delete(sock->get(), link->get()); err < 0)
        return nl_fail(err, "delete link " + name);
    return {};
}

} // namespace vhnet
