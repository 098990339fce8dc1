// Runs the built vhnetctl (VHNETCTL_PATH) and checks its exit status and output.
#include "cli_util.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

using vhnet::test::json_error;
using vhnet::test::Run;
using vhnet::test::text_error;
using vhnet::test::vhnetctl;

namespace {

/// Runs vhnetctl with VHOST_GET_FEATURES faked to return `features`.
Run vhnetctl_faking(std::uint64_t features, std::vector<std::string> args) {
    // ASAN_OPTIONS: a sanitizer build of vhnetctl would refuse to start with a preload before it.
    return vhnetctl(std::move(args), {"LD_PRELOAD=" FAKE_VHOST_PRELOAD,
                                      "VHNET_FAKE_FEATURES=" + std::to_string(features),
                                      "ASAN_OPTIONS=verify_asan_link_order=0"});
}

/// What in-tree vhost-net offers; see features_test.cpp.
constexpr std::uint64_t kVhostNetFeatures = 0x1033d008000;

const std::string kMissing = "vhnetctl: open /nonexistent: No such file or directory";
const std::string kNotVhost =
    "vhnetctl: VHOST_GET_FEATURES on /dev/null: Inappropriate ioctl for device";

} // namespace

TEST_CASE("vhnetctl features on a missing device: one error line, status 1", "[cli]") {
    CHECK(text_error(vhnetctl({"features", "--dev", "/nonexistent"})) == kMissing);
    CHECK(text_error(vhnetctl({"dev", "features", "--dev", "/nonexistent"})) == kMissing);
}

TEST_CASE("vhnetctl features on a non-vhost node names the ioctl", "[cli]") {
    CHECK(text_error(vhnetctl({"features", "--dev", "/dev/null"})) == kNotVhost);
    CHECK(text_error(vhnetctl({"dev", "features", "--dev", "/dev/null"})) == kNotVhost);
}

TEST_CASE("vhnetctl -j reports errors as JSON on stdout", "[cli]") {
    const auto prefix = std::string("vhnetctl: ").size();
    CHECK(json_error(vhnetctl({"-j", "features", "--dev", "/nonexistent"})) ==
          kMissing.substr(prefix));
    CHECK(json_error(vhnetctl({"--json", "dev", "features", "--dev", "/dev/null"})) ==
          kNotVhost.substr(prefix));
    // global options also after the command, and -p implies -j
    CHECK(json_error(vhnetctl({"features", "--dev", "/dev/null", "-j"})) ==
          kNotVhost.substr(prefix));
    CHECK(json_error(vhnetctl({"-p", "features", "--dev", "/dev/null"})) ==
          kNotVhost.substr(prefix));
}

TEST_CASE("vhnetctl defaults to /dev/vhnet", "[cli]") {
    const auto run = vhnetctl({"features"});
    if (::access("/dev/vhnet", F_OK) != 0)
        CHECK(text_error(run) == "vhnetctl: open /dev/vhnet: No such file or directory");
}

TEST_CASE("vhnetctl accepts unique prefixes of objects and commands", "[cli]") {
    CHECK(text_error(vhnetctl({"d", "f", "--dev", "/dev/null"})) == kNotVhost);
    CHECK(json_error(vhnetctl({"-j", "fea", "--dev", "/dev/null", "-p"})) ==
          kNotVhost.substr(std::string("vhnetctl: ").size()));
}

TEST_CASE("vhnetctl rejects bad command lines with one error line", "[cli]") {
    CHECK(text_error(vhnetctl({})).find("subcommand") != std::string::npos);
    CHECK(text_error(vhnetctl({"bogus"})) ==
          "vhnetctl: unknown object 'bogus' (see vhnetctl --help)");
    CHECK(text_error(vhnetctl({"dev", "bogus"})) ==
          "vhnetctl: unknown dev command 'bogus' (see vhnetctl dev --help)");
    CHECK(text_error(vhnetctl({"dev"})).find("subcommand") != std::string::npos);
    CHECK(text_error(vhnetctl({"features", "--bogus"})).find("--bogus") != std::string::npos);
    CHECK(text_error(vhnetctl({"features", "--dev"})).find("--dev") != std::string::npos);
    CHECK(json_error(vhnetctl({"-j", "bogus"})) == "unknown object 'bogus' (see vhnetctl --help)");
}

TEST_CASE("vhnetctl --help prints usage and succeeds", "[cli]") {
    const auto run = vhnetctl({"--help"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    CHECK(run.out.find("features") != std::string::npos);
    CHECK(run.out.find("dev") != std::string::npos);

    const auto command = vhnetctl({"dev", "features", "--help"});
    CHECK(command.status == 0);
    CHECK(command.out.find("--dev") != std::string::npos);
}

TEST_CASE("vhnetctl features prints one text line", "[cli]") {
    const auto run = vhnetctl_faking(kVhostNetFeatures, {"features", "--dev", "/dev/null"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    CHECK(run.out == "features 0x1033d008000 mrg_rxbuf notify_on_empty log_all any_layout/net_hdr "
                     "indirect_desc event_idx version_1 access_platform ring_reset\n");

    CHECK(vhnetctl_faking(0, {"dev", "features", "--dev", "/dev/null"}).out == "features 0x0\n");
    CHECK(vhnetctl_faking(0x8000000000000010, {"f", "--dev", "/dev/null"}).out ==
          "features 0x8000000000000010 bit4 speed_duplex\n");
}

TEST_CASE("vhnetctl -j features prints one JSON object", "[cli]") {
    const auto run = vhnetctl_faking(kVhostNetFeatures, {"-j", "features", "--dev", "/dev/null"});
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    CHECK(run.out.find('\n') == run.out.size() - 1); // compact: one line
    const auto doc = nlohmann::json::parse(run.out);
    CHECK(doc == nlohmann::json{{"device", "/dev/null"},
                                {"features", kVhostNetFeatures},
                                {"features_hex", "0x1033d008000"},
                                {"names",
                                 {"mrg_rxbuf", "notify_on_empty", "log_all", "any_layout/net_hdr",
                                  "indirect_desc", "event_idx", "version_1", "access_platform",
                                  "ring_reset"}}});

    const auto pretty =
        vhnetctl_faking(kVhostNetFeatures, {"features", "--dev", "/dev/null", "-p"});
    CHECK(pretty.status == 0);
    CHECK(pretty.out.find("\n    \"device\": \"/dev/null\"") != std::string::npos);
    CHECK(nlohmann::json::parse(pretty.out) == doc);

    const auto top = vhnetctl_faking(0x8000000000000000, {"-j", "features", "--dev", "/dev/null"});
    CHECK(nlohmann::json::parse(top.out)["features"].get<std::uint64_t>() == 0x8000000000000000);
}
