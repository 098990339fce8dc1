// vhnetctl tap add/show/del. Every run that could create or delete an interface happens in a
// forked child with a private network namespace (netns.h); addresses are from 198.18.0.0/15.
#include "cli_util.h"
#include "netns.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

using vhnet::test::json_error;
using vhnet::test::Run;
using vhnet::test::run_in_netns;
using vhnet::test::success;
using vhnet::test::text_error;
using vhnet::test::vhnetctl;
using Json = nlohmann::json;

namespace {

bool contains(const Json &list, const std::string &item) {
    return std::ranges::find(list, Json(item)) != list.end();
}

} // namespace

TEST_CASE("vhnetctl tap add, show and del in a private netns (text)", "[cli][tap][netns]") {
    bool sysfs = false;
    const auto runs = run_in_netns(
        {
            {"tap", "add", "vht0", "--mtu", "1400", "--addr", "198.18.0.1/24"},
            {"tap", "show", "vht0"},
            {"tap", "add", "vht1", "--mq"},
            {"tap", "show"},
            {"tap", "del", "vht0"},
            {"t", "s"},
            {"tap", "del", "vht1"},
            {"tap", "show"},
        },
        &sysfs);
    if (!runs)
        return;
    const auto &r = *runs;

    const std::string added = success(r[0]);
    INFO(added);
    CHECK(added.starts_with("vht0: ifindex "));
    CHECK(added.find(" mtu 1400 state up operstate ") != std::string::npos);
    CHECK(added.find("\n    flags ") != std::string::npos);
    CHECK(added.find("\n    inet 198.18.0.1/24\n") != std::string::npos);
    if (sysfs)
        CHECK(added.find("\n    tun_flags tap no_pi vnet_hdr persist\n") != std::string::npos);
    CHECK(success(r[1]) == added);

    const std::string mq = success(r[2]);
    CHECK(mq.starts_with("vht1: ifindex "));
    CHECK(mq.find(" mtu 1500 state up ") != std::string::npos);
    if (sysfs)
        CHECK(mq.find("tun_flags tap no_pi vnet_hdr multi_queue persist") != std::string::npos);

    const std::string both = success(r[3]);
    CHECK(both.starts_with(added)); // by ifindex: vht0 first
    CHECK(both.find("vht1: ifindex ") != std::string::npos);
    CHECK(both.find("lo:") == std::string::npos);

    CHECK(success(r[4]).empty());
    CHECK(success(r[5]) == mq);
    CHECK(success(r[6]).empty());
    CHECK(success(r[7]).empty());
}

TEST_CASE("vhnetctl -j tap add, show and del in a private netns", "[cli][tap][netns]") {
    bool sysfs = false;
    const auto runs = run_in_netns(
        {
            {"-j", "tap", "add", "vht0", "--mtu", "9000", "--addr", "198.19.0.1/16"},
            {"tap", "show", "vht0", "-j"},
            {"-p", "tap", "show"},
            {"-j", "tap", "del", "vht0"},
            {"-j", "tap", "show"},
        },
        &sysfs);
    if (!runs)
        return;
    const auto &r = *runs;

    const auto added = Json::parse(success(r[0]));
    INFO(added.dump(2));
    CHECK(added["name"] == "vht0");
    CHECK(added["ifindex"].get<int>() > 0);
    CHECK(added["mtu"] == 9000);
    CHECK(added["state"] == "up");
    CHECK(added["operstate"].is_string());
    CHECK(added["mac"].get<std::string>().size() == 17);
    CHECK(contains(added["flags"], "up"));
    CHECK(added["addresses"][0] == "198.19.0.1/16");
    if (sysfs)
        CHECK(added["tun_flags"] == Json{"tap", "no_pi", "vnet_hdr", "persist"});
    else
        CHECK(added["tun_flags"].is_null());

    CHECK(Json::parse(success(r[1])) == added);
    const auto list = Json::parse(success(r[2]));
    CHECK(r[2].out.find("\n    ") != std::string::npos); // pretty
    CHECK(list == Json::array({added}));
    CHECK(Json::parse(success(r[3])) == Json{{"deleted", "vht0"}});
    CHECK(Json::parse(success(r[4])) == Json::array());
}

TEST_CASE("vhnetctl tap errors in a private netns: one line, status 1", "[cli][tap][netns]") {
    const auto runs = run_in_netns({
        {"tap", "add", "vht0"},
        {"tap", "add", "vht0"},
        {"-j", "tap", "add", "vht0"},
        {"tap", "add", "vht1", "--addr", "198.18.0.300/24"},
        {"tap", "add", "vht1", "--mtu", "10"},
        {"tap", "add", "vht1", "--addr", "198.18.0.1/33"},
        {"tap", "show", "vht1"},
        {"tap", "show", "nosuch"},
        {"-j", "tap", "show", "nosuch"},
        {"tap", "del", "nosuch"},
        {"tap", "del", "lo"},
        {"tap", "show", "lo"},
        {"tap", "add", "a-name-too-long-for-linux"},
        {"tap", "show", "vht0"},
    });
    if (!runs)
        return;
    const auto &r = *runs;
    success(r[0]);
    CHECK(text_error(r[1]) == "vhnetctl: TUNSETIFF vht0: Device or resource busy");
    CHECK(json_error(r[2]) == "TUNSETIFF vht0: Device or resource busy");
    CHECK(text_error(r[3]) == "vhnetctl: bad address '198.18.0.300/24' (want ADDRESS/PREFIX, "
                              "e.g. 198.18.0.1/24): Invalid argument");
    CHECK(text_error(r[4]) == "vhnetctl: set vht1 mtu 10: Invalid argument");
    CHECK(text_error(r[5]).starts_with("vhnetctl: bad address '198.18.0.1/33'"));
    // A failed add leaves nothing behind.
    CHECK(text_error(r[6]) == "vhnetctl: get link vht1: No such device");
    CHECK(text_error(r[7]) == "vhnetctl: get link nosuch: No such device");
    CHECK(json_error(r[8]) == "get link nosuch: No such device");
    CHECK(text_error(r[9]) == "vhnetctl: get link nosuch: No such device");
    CHECK(text_error(r[10]) == "vhnetctl: lo is not a tap: Invalid argument");
    CHECK(text_error(r[11]) == "vhnetctl: lo is not a tap: Invalid argument");
    CHECK(text_error(r[12]) == "vhnetctl: tap name 'a-name-too-long-for-linux' longer than 15 "
                               "bytes: Invalid argument");
    // The failures did not disturb the tap that exists.
    CHECK(success(r[13]).starts_with("vht0: ifindex "));
}

TEST_CASE("vhnetctl tap rejects bad command lines before touching any interface", "[cli][tap]") {
    // CLI11 refuses these while parsing, before any action runs: safe on the host.
    CHECK(text_error(vhnetctl({"tap", "add", "vht0", "--mtu", "abc"})).find("--mtu") !=
          std::string::npos);
    CHECK(text_error(vhnetctl({"tap", "add", "vht0", "--mtu", "0"})).find("--mtu") !=
          std::string::npos);
    CHECK(text_error(vhnetctl({"tap", "add", "vht0", "--mtu", "70000"})).find("--mtu") !=
          std::string::npos);
    CHECK(json_error(vhnetctl({"-j", "tap", "add", "vht0", "--mtu", "abc"})).find("--mtu") !=
          std::string::npos);
    CHECK(text_error(vhnetctl({"tap", "add"})).find("NAME") != std::string::npos);
    CHECK(text_error(vhnetctl({"tap", "del"})).find("NAME") != std::string::npos);
    CHECK(text_error(vhnetctl({"tap", "add", "vht0", "--bogus"})).find("--bogus") !=
          std::string::npos);
    CHECK(text_error(vhnetctl({"tap", "bogus"})) ==
          "vhnetctl: unknown tap command 'bogus' (see vhnetctl tap --help)");
}

TEST_CASE("vhnetctl tap --help lists the commands and options", "[cli][tap]") {
    const auto top = success(vhnetctl({"--help"}));
    CHECK(top.find("tap") != std::string::npos);
    const auto tap = success(vhnetctl({"tap", "--help"}));
    for (const char *command : {"add", "del", "show"})
        CHECK(tap.find(command) != std::string::npos);
    const auto add = success(vhnetctl({"tap", "add", "--help"}));
    for (const char *option : {"NAME", "--mq", "--mtu", "--addr"})
        CHECK(add.find(option) != std::string::npos);
}
