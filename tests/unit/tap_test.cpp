// Tap and the link functions. Whatever creates an interface runs in a private network namespace
// (netns.h) and uses addresses from 198.18.0.0/15 only.
#include "netns.h"

#include <vhnet/link.h>
#include <vhnet/tap.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <linux/if_tun.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <type_traits>
#include <vector>

using vhnet::Tap;
using vhnet::TapOptions;
using Names = std::vector<std::string>;
using Json = nlohmann::json;

namespace {

/// A Result as JSON, for reporting from the child: the value (or true for a void, Tap or LinkInfo),
/// or {"error", "code"}.
template <typename T>
Json outcome(const vhnet::Result<T> &r) {
    if (!r)
        return {{"error", r.error().message()}, {"code", r.error().code()}};
    if constexpr (std::is_void_v<T> || std::is_same_v<T, Tap> || std::is_same_v<T, vhnet::LinkInfo>)
        return true;
    else
        return *r;
}

Json link_json(const vhnet::LinkInfo &link) {
    Names addresses;
    for (const auto &address : link.addresses)
        addresses.push_back(address.str());
    return {{"name", link.name}, {"ifindex", link.ifindex},  {"mtu", link.mtu},
            {"up", link.up},     {"flags", link.flag_names}, {"kind", link.kind},
            {"mac", link.mac},   {"addresses", addresses},   {"operstate", link.operstate}};
}

bool contains(const Json &list, const std::string &item) {
    return std::ranges::find(list, Json(item)) != list.end();
}

} // namespace

TEST_CASE("parse_cidr reads IPv4 and IPv6 with a prefix", "[tap][link]") {
    const auto v4 = vhnet::parse_cidr("198.18.0.1/24");
    REQUIRE(v4);
    CHECK(v4->family == AF_INET);
    CHECK(v4->prefix == 24);
    CHECK(v4->size() == 4);
    CHECK(v4->addr[0] == 198);
    CHECK(v4->addr[1] == 18);
    CHECK(v4->addr[3] == 1);
    CHECK(v4->str() == "198.18.0.1/24");

    const auto v6 = vhnet::parse_cidr("2001:db8::1/64");
    REQUIRE(v6);
    CHECK(v6->family == AF_INET6);
    CHECK(v6->prefix == 64);
    CHECK(v6->size() == 16);
    CHECK(v6->addr[0] == 0x20);
    CHECK(v6->addr[15] == 1);
    CHECK(v6->str() == "2001:db8::1/64");

    CHECK(vhnet::parse_cidr("198.19.255.254")->str() == "198.19.255.254/32");
    CHECK(vhnet::parse_cidr("2001:db8::2")->prefix == 128);
    CHECK(vhnet::parse_cidr("198.18.0.0/0")->prefix == 0);
    CHECK(*vhnet::parse_cidr("198.18.0.1/24") == *vhnet::parse_cidr("198.18.0.1/24"));
}

TEST_CASE("parse_cidr refuses what is not ADDRESS/PREFIX with EINVAL", "[tap][link]") {
    for (const char *bad : {"", "/24", "bogus", "198.18.0.300/24", "198.18.0.1/33", "198.18.0.1/",
                            "198.18.0.1/24x", "198.18.0.1/-1", "198.18.0.1/+8", "198.18.0/24",
                            "2001:db8::1/129", "2001:db8:::1/64", " 198.18.0.1/24"}) {
        INFO("'" << bad << "'");
        const auto r = vhnet::parse_cidr(bad);
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == EINVAL);
        CHECK(r.error().message() ==
              std::string("address '") + bad +
                  "' (want ADDRESS/PREFIX, e.g. 198.18.0.1/24): Invalid argument");
    }
}

TEST_CASE("Tap::flag_names names the tun flags", "[tap]") {
    CHECK(Tap::flag_names(0).empty());
    CHECK(Tap::flag_names(IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_PERSIST) ==
          Names{"tap", "no_pi", "vnet_hdr", "persist"});
    CHECK(Tap::flag_names(0x5902) == Names{"tap", "no_pi", "vnet_hdr", "multi_queue", "persist"});
    CHECK(Tap::flag_names(IFF_TUN | 0x10000) == Names{"tun", "0x10000"});
}

TEST_CASE("Tap::open fails with a clear error before creating anything", "[tap]") {
    TapOptions options;
    options.name = "vhnet-test0";
    options.tun_path = "/nonexistent/tun";
    auto missing = Tap::open(options);
    REQUIRE_FALSE(missing);
    CHECK(missing.error().message() == "open /nonexistent/tun: No such file or directory");

    options.tun_path = "/dev/null";
    auto not_tun = Tap::open(options);
    REQUIRE_FALSE(not_tun);
    CHECK(not_tun.error().code() == ENOTTY);
    CHECK(not_tun.error().message() ==
          "TUNGETFEATURES vhnet-test0: Inappropriate ioctl for device");

    options.name = "a-name-too-long-for-linux";
    CHECK(Tap::open(options).error().message() ==
          "tap name 'a-name-too-long-for-linux' longer than 15 bytes: Invalid argument");

    options.name = "vhnet-test0";
    options.vnet_hdr_size = 11;
    CHECK(Tap::open(options).error().message() ==
          "vnet header size 11 for vhnet-test0 (10 or 12): Invalid argument");
}

TEST_CASE("Tap in a private network namespace: create, configure, show, delete", "[tap][netns]") {
    bool sysfs = false;
    const auto report = vhnet::test::in_private_netns(
        [] {
            Json r;
            TapOptions options;
            options.name = "vht0";
            options.multi_queue = true;
            auto tap = Tap::open(options);
            r["open"] = tap ? Json(tap->name()) : outcome(tap);
            if (!tap)
                return r;
            r["fd"] = tap->fd();
            r["tun_features"] = tap->tun_features();
            r["hdr_size"] = outcome(tap->vnet_hdr_size());
            r["set_hdr_10"] = outcome(tap->set_vnet_hdr_size(10));
            r["hdr_size_10"] = outcome(tap->vnet_hdr_size());
            r["set_hdr_11"] = outcome(tap->set_vnet_hdr_size(11));
            r["flags"] = outcome(tap->flags());
            r["offload"] = outcome(tap->set_offload(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6));
            r["offload_ufo"] = outcome(tap->set_offload(TUN_F_CSUM | TUN_F_UFO | 0x20 | 0x40));
            // Without CSUM the kernel refuses every other bit: UFO and USO are dropped, TSO not.
            r["offload_fallback"] = outcome(tap->set_offload(TUN_F_UFO | 0x20));
            r["offload_after_fallback"] = tap->offloads().value_or(99);
            r["offload_refused"] = outcome(tap->set_offload(TUN_F_TSO4 | TUN_F_UFO));
            r["persist"] = outcome(tap->persist(true));
            r["mtu"] = outcome(tap->set_mtu(1400));
            r["bad_mtu"] = outcome(tap->set_mtu(10));
            r["up"] = outcome(tap->set_up(true));
            r["addr"] = outcome(tap->add_address("198.18.0.1/24"));
            r["addr_again"] = outcome(tap->add_address("198.18.0.1/24"));
            r["addr_bad"] = outcome(tap->add_address("198.18.0.1/99"));
            if (auto info = tap->info())
                r["info"] = link_json(*info);
            else
                r["info"] = outcome(info);
            r["sysfs_flags"] = outcome(Tap::sysfs_flags("vht0"));

            TapOptions exclusive = options;
            exclusive.exclusive = true;
            r["exclusive"] = outcome(Tap::open(exclusive));
            r["down"] = outcome(vhnet::link_set_up("vht0", false));
            r["down_info"] = link_json(*vhnet::link_info("vht0"));

            // Persistent: the interface outlives its file.
            tap = vhnet::fail(0, "closed"); // closes the file
            r["after_close"] = vhnet::link_info("vht0").ok();
            std::vector<std::string> names;
            const auto links = vhnet::link_list();
            for (const auto &link : links ? *links : std::vector<vhnet::LinkInfo>{})
                names.push_back(link.name);
            r["list"] = names;
            r["lookup_lo"] = outcome(Tap::lookup("lo"));
            r["remove_lo"] = outcome(Tap::remove("lo"));
            r["remove"] = outcome(Tap::remove("vht0"));
            r["after_remove"] = outcome(vhnet::link_info("vht0"));
            r["remove_again"] = outcome(Tap::remove("vht0"));

            // Not persistent: the interface goes with its file. The kernel picks the number.
            TapOptions pattern;
            pattern.name = "vhp%d";
            pattern.vnet_hdr_size = 10;
            pattern.offloads = TUN_F_CSUM;
            if (auto temp = Tap::open(pattern)) {
                r["pattern"] = temp->name();
                r["pattern_offloads"] = *temp->offloads();
                r["pattern_hdr"] = outcome(temp->vnet_hdr_size());
            }
            r["pattern_gone"] = outcome(vhnet::link_info("vhp0"));
            return r;
        },
        &sysfs);
    if (!report)
        return;
    const Json &r = *report;
    INFO(r.dump(2));

    REQUIRE(r["open"] == "vht0");
    CHECK(r["fd"].get<int>() >= 0);
    CHECK((r["tun_features"].get<unsigned>() & IFF_VNET_HDR) != 0);
    CHECK(r["hdr_size"] == 12);
    CHECK(r["set_hdr_10"] == true);
    CHECK(r["hdr_size_10"] == 10);
    CHECK(r["set_hdr_11"]["error"] == "vnet header size 11 for vht0 (10 or 12): Invalid argument");
    const unsigned flags = r["flags"].get<unsigned>();
    CHECK((flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)) ==
          (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE));
    CHECK(r["offload"] == (TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6));
    // Whatever this kernel refuses of UFO/USO is dropped; CSUM always stays.
    CHECK((r["offload_ufo"].get<unsigned>() & TUN_F_CSUM) != 0);
    CHECK(r["offload_fallback"] == 0);
    CHECK(r["offload_after_fallback"] == 0);
    CHECK(r["offload_refused"]["error"] == "TUNSETOFFLOAD vht0: Invalid argument");
    CHECK(r["persist"] == true);
    CHECK(r["mtu"] == true);
    CHECK(r["bad_mtu"]["error"] == "set vht0 mtu 10: Invalid argument");
    CHECK(r["up"] == true);
    CHECK(r["addr"] == true);
    CHECK(r["addr_again"]["error"] == "add address 198.18.0.1/24 to vht0: File exists");
    CHECK(r["addr_bad"]["code"] == EINVAL);

    const Json &info = r["info"];
    CHECK(info["name"] == "vht0");
    CHECK(info["ifindex"].get<int>() > 0);
    CHECK(info["mtu"] == 1400);
    CHECK(info["up"] == true);
    CHECK(contains(info["flags"], "up"));
    CHECK(info["kind"] == "tun");
    CHECK(info["mac"].get<std::string>().size() == 17);
    CHECK(contains(info["addresses"], "198.18.0.1/24"));
    CHECK(info["addresses"][0] == "198.18.0.1/24"); // IPv4 first

    if (sysfs) {
        const unsigned sysfs_flags = r["sysfs_flags"].get<unsigned>();
        CHECK((sysfs_flags & (IFF_TAP | IFF_PERSIST | IFF_MULTI_QUEUE | IFF_VNET_HDR)) ==
              (IFF_TAP | IFF_PERSIST | IFF_MULTI_QUEUE | IFF_VNET_HDR));
    }

    CHECK(r["exclusive"]["error"] == "TUNSETIFF vht0: Device or resource busy");
    CHECK(r["down"] == true);
    CHECK(r["down_info"]["up"] == false);
    CHECK(r["after_close"] == true);
    CHECK(contains(r["list"], "lo"));
    CHECK(contains(r["list"], "vht0"));
    CHECK(r["lookup_lo"]["error"] == "lo is not a tap: Invalid argument");
    CHECK(r["remove_lo"]["error"] == "lo is not a tap: Invalid argument");
    CHECK(r["remove"] == true);
    CHECK(r["after_remove"]["error"] == "get link vht0: No such device");
    CHECK(r["after_remove"]["code"] == ENODEV);
    CHECK(r["remove_again"]["error"] == "get link vht0: No such device");

    CHECK(r["pattern"] == "vhp0");
    CHECK(r["pattern_offloads"] == TUN_F_CSUM);
    CHECK(r["pattern_hdr"] == 10);
    CHECK(r["pattern_gone"]["code"] == ENODEV);
}
