// vhnetctl qemu: the rewriting of QEMU command lines (qemu_args.h) as pure functions, and the
// command itself. Runs that create a tap happen in a private network namespace (netns.h); they
// use --dry-run, or a shell in QEMU's place that reports the files it inherited.
#include "cli_util.h"
#include "netns.h"
#include "qemu_args.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using vhnet::cli::attach_qemu_tap;
using vhnet::cli::find_qemu_tap;
using vhnet::cli::shell_quote;
using vhnet::cli::split_qemu_opts;
using vhnet::cli::TapFds;
using vhnet::test::Call;
using vhnet::test::json_error;
using vhnet::test::Run;
using vhnet::test::run_in_netns;
using vhnet::test::success;
using vhnet::test::text_error;
using vhnet::test::vhnetctl;
using Json = nlohmann::json;
using Args = std::vector<std::string>;

namespace {

/// `argv` as vhnetctl qemu rewrites it with tap fd 7 and, unless nullopt, vhost fd 8.
Args rewrite(const Args &argv, std::optional<int> vhost = 8) {
    const auto tap = find_qemu_tap(argv);
    INFO((tap ? "" : tap.error().message()));
    REQUIRE(tap);
    TapFds fds;
    fds.tap = 7;
    fds.vhost = vhost;
    return attach_qemu_tap(argv, *tap, fds);
}

/// Why find_qemu_tap() refuses `argv`.
std::string refusal(const Args &argv) {
    const auto tap = find_qemu_tap(argv);
    REQUIRE_FALSE(tap);
    CHECK(tap.error().code() == 0);
    return tap.error().message();
}

const Args kAppended = {"-netdev", "tap,id=vhnet0,fd=7,vhost=on,vhostfd=8", "-device",
                        "virtio-net-pci,netdev=vhnet0"};

Args concat(Args a, const Args &b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

} // namespace

TEST_CASE("split_qemu_opts splits at single commas and keeps ',,' escapes", "[cli][qemu]") {
    CHECK(split_qemu_opts("tap,id=n0,script=no") == Args{"tap", "id=n0", "script=no"});
    CHECK(split_qemu_opts("tap,id=a,,b,sndbuf=1") == Args{"tap", "id=a,,b", "sndbuf=1"});
    // ",,," is an escaped comma, then a separator.
    CHECK(split_qemu_opts("id=x,,,script=no") == Args{"id=x,,", "script=no"});
    CHECK(split_qemu_opts("id=x,,,,y") == Args{"id=x,,,,y"});
    // Empty parts go: a trailing comma must not turn the next one into an escape.
    CHECK(split_qemu_opts("tap,id=n0,") == Args{"tap", "id=n0"});
    CHECK(split_qemu_opts(",tap") == Args{"tap"});
    CHECK(split_qemu_opts("").empty());
}

TEST_CASE("attach_qemu_tap appends a tap netdev and a virtio-net device if there is none",
          "[cli][qemu]") {
    const Args argv = {"qemu-system-x86_64", "-m", "1G", "-nographic"};
    CHECK(rewrite(argv) == concat(argv, kAppended));
    CHECK(rewrite(argv, std::nullopt) == concat(argv, {"-netdev", "tap,id=vhnet0,fd=7,vhost=off",
                                                       "-device", "virtio-net-pci,netdev=vhnet0"}));
    CHECK(rewrite({"qemu"}) == concat({"qemu"}, kAppended));
    // Netdevs of other types are no taps; neither is -nic user nor -net nic.
    const Args others = {"qemu",
                         "-netdev",
                         "user,id=u0,hostfwd=tcp::2222-:22",
                         "-netdev",
                         "bridge,id=b0,br=br0",
                         "-nic",
                         "user,model=e1000",
                         "-net",
                         "nic",
                         "-netdev",
                         "{\"type\": \"user\", \"id\": \"u1\"}"};
    CHECK(rewrite(others) == concat(others, kAppended));
    // An option without its value is left for QEMU to refuse.
    CHECK(rewrite({"qemu", "-netdev"}) == concat({"qemu", "-netdev"}, kAppended));
}

TEST_CASE("attach_qemu_tap gives the -netdev tap vhnetctl's files and drops the keys they replace",
          "[cli][qemu]") {
    const Args argv = {"qemu-system-x86_64", "-netdev",
                       "tap,id=n0,ifname=tap9,script=/etc/qemu-ifup,downscript=no,fd=3,fds=3:4,"
                       "vhostfd=5,vhostfds=5:6,vhost=off,vhostforce=on,queues=4,sndbuf=1048576,"
                       "helper=/usr/lib/qemu/qemu-bridge-helper,br=br0,vnet_hdr=on,poll-us=50",
                       "-device", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56"};
    Args want = argv;
    want[2] = "tap,id=n0,sndbuf=1048576,poll-us=50,fd=7,vhost=on,vhostfd=8";
    CHECK(rewrite(argv) == want);
    want[2] = "tap,id=n0,sndbuf=1048576,poll-us=50,fd=7,vhost=off";
    CHECK(rewrite(argv, std::nullopt) == want);

    // Only the tap is touched, wherever it is.
    const Args mixed = {"qemu",      "-netdev", "user,id=u0,ipv6=off",     "-m", "512", "-netdev",
                        "tap,id=t0", "-device", "virtio-net-pci,netdev=t0"};
    want = mixed;
    want[6] = "tap,id=t0,fd=7,vhost=on,vhostfd=8";
    CHECK(rewrite(mixed) == want);
}

TEST_CASE("attach_qemu_tap reads ',,' as part of a value, not as a key", "[cli][qemu]") {
    // "ifname=a,,fd=9" is one key, ifname, whose value is "a,fd=9": dropped whole.
    CHECK(rewrite({"q", "-netdev", "tap,id=n0,ifname=a,,fd=9,sndbuf=1"})[2] ==
          "tap,id=n0,sndbuf=1,fd=7,vhost=on,vhostfd=8");
    // An id with a comma keeps its escape; a value ending in one does too.
    CHECK(rewrite({"q", "-netdev", "tap,id=n,,x,script=no"})[2] ==
          "tap,id=n,,x,fd=7,vhost=on,vhostfd=8");
    CHECK(rewrite({"q", "-netdev", "tap,id=n0,sndbuf=1,,,script=no"})[2] ==
          "tap,id=n0,sndbuf=1,,,fd=7,vhost=on,vhostfd=8");
    CHECK(rewrite({"q", "-netdev", "tap,id=n0,"})[2] == "tap,id=n0,fd=7,vhost=on,vhostfd=8");
}

TEST_CASE("attach_qemu_tap takes --netdev, type=tap and bare flags", "[cli][qemu]") {
    CHECK(rewrite({"q", "--netdev", "type=tap,id=n0,ifname=x"}) ==
          Args{"q", "--netdev", "type=tap,id=n0,fd=7,vhost=on,vhostfd=8"});
    CHECK(rewrite({"q", "-netdev", "id=n0,type=tap"}) ==
          Args{"q", "-netdev", "id=n0,type=tap,fd=7,vhost=on,vhostfd=8"});
    // QemuOpts reads "vhost" as vhost=on and "novhostforce" as vhostforce=off.
    CHECK(rewrite({"q", "-netdev", "tap,id=n0,vhost,novhostforce,novnet_hdr,noother"})[2] ==
          "tap,id=n0,noother,fd=7,vhost=on,vhostfd=8");
}

TEST_CASE("find_qemu_tap refuses what it cannot hand one tap to", "[cli][qemu]") {
    const std::string hint = "write -netdev tap,id=ID -device virtio-net-pci,netdev=ID";
    CHECK(refusal({"q", "-netdev", "tap,id=a", "-netdev", "tap,id=b"}) ==
          "more than one -netdev tap: vhnetctl qemu gives QEMU one tap");
    CHECK(refusal({"q", "-netdev", "tap,id=a", "--netdev", "type=tap,id=b"}) ==
          "more than one -netdev tap: vhnetctl qemu gives QEMU one tap");
    CHECK(refusal({"q", "-nic", "tap,model=virtio-net-pci"}) ==
          "-nic tap is not supported: " + hint);
    CHECK(refusal({"q", "--nic", "tap"}) == "-nic tap is not supported: " + hint);
    CHECK(refusal({"q", "-net", "nic", "-net", "tap,ifname=tap0"}) ==
          "-net tap is not supported: " + hint);
    CHECK(refusal({"q", "-netdev", R"({"type": "tap", "id": "n0"})"}) ==
          "a JSON -netdev tap is not supported: " + hint);
    CHECK(refusal({"q", "-netdev=tap,id=n0"}) ==
          "QEMU does not take '-netdev=VALUE': write '-netdev VALUE'");
    CHECK(refusal({"q", "--nic=user"}) == "QEMU does not take '--nic=VALUE': write '-nic VALUE'");
    CHECK(refusal({}) == "no QEMU command line");
}

TEST_CASE("shell_quote quotes only what a shell would change", "[cli][qemu]") {
    CHECK(shell_quote("qemu-system-x86_64") == "qemu-system-x86_64");
    CHECK(shell_quote("tap,id=vhnet0,fd=3") == "tap,id=vhnet0,fd=3");
    CHECK(shell_quote("/usr/bin/qemu+kvm@1:2%") == "/usr/bin/qemu+kvm@1:2%");
    CHECK(shell_quote("a b") == "'a b'");
    CHECK(shell_quote("it's") == R"('it'\''s')");
    CHECK(shell_quote("") == "''");
    CHECK(shell_quote("$HOME") == "'$HOME'");
    CHECK(shell_quote("*") == "'*'");
    CHECK(shell_quote(R"({"type":"user"})") == R"('{"type":"user"}')");
}

// The command

namespace {

const std::string kUsage = "vhnetctl qemu [OPTIONS] -- QEMU [ARGS...]";

/// The environment that makes VHOST_GET_FEATURES succeed on /dev/null (fake_vhost_preload.cpp).
const std::vector<std::string> kFakeVhost = {"LD_PRELOAD=" FAKE_VHOST_PRELOAD,
                                             "VHNET_FAKE_FEATURES=0x100000000",
                                             "ASAN_OPTIONS=verify_asan_link_order=0"};

} // namespace

TEST_CASE("vhnetctl qemu without a QEMU command line: one error line, status 1", "[cli][qemu]") {
    CHECK(text_error(vhnetctl({"qemu"})) == "vhnetctl: no QEMU command line: " + kUsage);
    CHECK(text_error(vhnetctl({"qemu", "--"})) == "vhnetctl: no QEMU command line: " + kUsage);
    CHECK(json_error(vhnetctl({"-j", "qemu", "--dry-run", "--"})) ==
          "no QEMU command line: " + kUsage);
    CHECK(text_error(vhnetctl({"qemu", "qemu-system-x86_64"})) ==
          "vhnetctl: the QEMU command line goes after '--': " + kUsage);
    // QEMU options before "--" are vhnetctl's, and unknown to it.
    CHECK(text_error(vhnetctl({"qemu", "qemu-system-x86_64", "-m", "1G"})).find("-m") !=
          std::string::npos);
}

TEST_CASE("vhnetctl qemu checks the QEMU command line before opening anything", "[cli][qemu]") {
    // No device and no tap: the refusal comes first.
    CHECK(text_error(vhnetctl({"qemu", "--dev", "/nonexistent", "--", "q", "-nic", "tap"})) ==
          "vhnetctl: -nic tap is not supported: write -netdev tap,id=ID -device "
          "virtio-net-pci,netdev=ID");
    CHECK(json_error(vhnetctl({"-j", "qemu", "--dev", "/nonexistent", "--", "q", "-netdev",
                               "tap,id=a", "-netdev", "tap,id=b"})) ==
          "more than one -netdev tap: vhnetctl qemu gives QEMU one tap");
}

TEST_CASE("vhnetctl qemu reports a bad device or tap in one line", "[cli][qemu]") {
    CHECK(text_error(vhnetctl({"qemu", "--dev", "/nonexistent", "--", "qemu-system-x86_64"})) ==
          "vhnetctl: open /nonexistent: No such file or directory");
    CHECK(json_error(vhnetctl({"-j", "qemu", "--dev", "/nonexistent", "--dry-run", "--", "q"})) ==
          "open /nonexistent: No such file or directory");
    // A node that is not a vhost device fails here, not in QEMU.
    CHECK(text_error(vhnetctl({"qemu", "--dev", "/dev/null", "--", "q"})) ==
          "vhnetctl: VHOST_GET_FEATURES on /dev/null: Inappropriate ioctl for device");
    // A name the kernel refuses: nothing is created, safe on the host.
    CHECK(text_error(vhnetctl({"qemu", "--no-vhost", "--tap", "a-name-too-long-for-linux", "--",
                               "q"})) == "vhnetctl: tap name 'a-name-too-long-for-linux' longer "
                                         "than 15 bytes: Invalid argument");
    // -j after "--" is QEMU's: the error stays text.
    CHECK(text_error(vhnetctl({"qemu", "--dev", "/nonexistent", "--", "q", "-j"})) ==
          "vhnetctl: open /nonexistent: No such file or directory");
    // Abbreviated.
    CHECK(text_error(vhnetctl({"q", "--dev", "/nonexistent", "--", "q"})) ==
          "vhnetctl: open /nonexistent: No such file or directory");
}

TEST_CASE("vhnetctl qemu --dry-run in a private netns", "[cli][qemu][netns]") {
    const auto runs = run_in_netns({
        {{"qemu", "--dry-run", "--dev", "/dev/null", "--", "qemu-system-x86_64", "-m", "1G",
          "-append", "console=ttyS0 quiet"},
         kFakeVhost},
        {{"-j", "qemu", "--dry-run", "--dev", "/dev/null", "--", "q", "-netdev",
          "tap,id=n0,ifname=foo,script=no", "-device", "virtio-net-pci,netdev=n0"},
         kFakeVhost},
        {{"-j", "qemu", "--dry-run", "--no-vhost", "--tap", "vhq1", "--", "q"}},
        {{"tap", "show", "vhq1"}},
        {{"tap", "add", "vhp0"}},
        {{"-j", "qemu", "--dry-run", "--no-vhost", "--tap", "vhp0", "--", "q"}},
        {{"-j", "tap", "show", "vhp0"}},
        {{"tap", "add", "vhm0", "--mq"}},
        {{"-j", "qemu", "--dry-run", "--no-vhost", "--tap", "vhm0", "--", "q"}},
        {{"qemu", "--dry-run", "--no-vhost", "--tap", "lo", "--", "q"}},
    });
    if (!runs)
        return;
    const auto &r = *runs;

    // Text: the shell-quoted command line, the default tap added.
    const auto line = success(r[0]);
    INFO(line);
    CHECK(line.starts_with("qemu-system-x86_64 -m 1G -append 'console=ttyS0 quiet' -netdev "
                           "tap,id=vhnet0,fd="));
    CHECK(line.find(",vhost=on,vhostfd=") != std::string::npos);
    CHECK(line.ends_with(" -device virtio-net-pci,netdev=vhnet0\n"));

    // JSON: the files, and the user's -netdev rewritten in place.
    const auto doc = Json::parse(success(r[1]));
    INFO(doc.dump());
    CHECK(doc["tap"] == "vhnet0"); // vhnet%d, the first in a fresh namespace
    CHECK(doc["device"] == "/dev/null");
    const int tap_fd = doc["tap_fd"].get<int>();
    const int vhost_fd = doc["vhost_fd"].get<int>();
    CHECK(tap_fd > 2);
    CHECK(vhost_fd > 2);
    CHECK(tap_fd != vhost_fd);
    CHECK(doc["argv"] == Json{"q", "-netdev",
                              "tap,id=n0,fd=" + std::to_string(tap_fd) +
                                  ",vhost=on,vhostfd=" + std::to_string(vhost_fd),
                              "-device", "virtio-net-pci,netdev=n0"});

    const auto no_vhost = Json::parse(success(r[2]));
    CHECK(no_vhost["tap"] == "vhq1");
    CHECK(no_vhost["device"].is_null());
    CHECK(no_vhost["vhost_fd"].is_null());
    CHECK(no_vhost["argv"][2] ==
          "tap,id=vhnet0,fd=" + std::to_string(no_vhost["tap_fd"].get<int>()) + ",vhost=off");
    // The tap vhnetctl created was not persistent: it went with the dry run.
    CHECK(text_error(r[3]) == "vhnetctl: get link vhq1: No such device");

    // A persistent tap is attached to and stays persistent.
    success(r[4]);
    CHECK(Json::parse(success(r[5]))["tap"] == "vhp0");
    const auto shown = Json::parse(success(r[6]));
    CHECK(shown["name"] == "vhp0");
    if (!shown["tun_flags"].is_null())
        CHECK(shown["tun_flags"] == Json{"tap", "no_pi", "vnet_hdr", "persist"});

    // A multiqueue tap takes only multiqueue files: attached on the retry.
    success(r[7]);
    CHECK(Json::parse(success(r[8]))["tap"] == "vhm0");
    // Not a tap: both attempts fail, the first one is reported.
    CHECK(text_error(r[9]) == "vhnetctl: TUNSETIFF lo: Invalid argument");
}

TEST_CASE("vhnetctl qemu hands QEMU the tap and vhost files and no others", "[cli][qemu][netns]") {
    // A shell stands in for QEMU: it prints its arguments, then every descriptor it inherited,
    // then the tap as vhnetctl shows it while the "QEMU" holds it.
    const std::string script =
        R"sh(echo "$@"; i=3; while [ $i -lt 256 ]; do )sh"
        R"sh(if [ -e /proc/$$/fd/$i ]; then echo "fd $i $(readlink /proc/$$/fd/$i)"; fi; )sh"
        R"sh(i=$((i + 1)); done; )sh" VHNETCTL_PATH " tap show vhx0";
    const auto runs = run_in_netns({
        {{"qemu", "--dev", "/dev/null", "--tap", "vhx0", "--", "/bin/sh", "-c", script, "sh"},
         kFakeVhost},
        {{"tap", "show", "vhx0"}},
        {{"qemu", "--no-vhost", "--tap", "vhy0", "--", "/nonexistent/qemu"}},
        {{"-j", "qemu", "--no-vhost", "--tap", "vhy0", "--", "/nonexistent/qemu"}},
        {{"tap", "show", "vhy0"}},
    });
    if (!runs)
        return;
    const auto &r = *runs;

    const auto out = success(r[0]);
    INFO(out);
    std::istringstream lines(out);
    std::string args;
    std::getline(lines, args);
    int tap_fd = -1;
    int vhost_fd = -1;
    CHECK(std::sscanf(args.c_str(),
                      "-netdev tap,id=vhnet0,fd=%d,vhost=on,vhostfd=%d -device "
                      "virtio-net-pci,netdev=vhnet0",
                      &tap_fd, &vhost_fd) == 2);
    std::map<int, std::string> fds;
    std::string rest;
    for (std::string line; std::getline(lines, line);) {
        int fd = -1;
        char target[256] = "";
        if (std::sscanf(line.c_str(), "fd %d %255s", &fd, target) == 2)
            fds[fd] = target;
        else
            rest += line + "\n";
    }
    CHECK(fds[tap_fd] == "/dev/net/tun");
    CHECK(fds[vhost_fd] == "/dev/null");
    for (const auto &[fd, target] : fds) {
        INFO("fd " << fd << " " << target);
        // No other tun file, and no netlink or other socket of vhnetctl's.
        CHECK((fd == tap_fd || target != "/dev/net/tun"));
        CHECK_FALSE(target.starts_with("socket:"));
    }
    // Up, as QEMU's default script would have left it.
    CHECK(rest.starts_with("vhx0: ifindex "));
    CHECK(rest.find(" state up ") != std::string::npos);

    // Gone with its "QEMU": not persistent.
    CHECK(text_error(r[1]) == "vhnetctl: get link vhx0: No such device");

    CHECK(text_error(r[2]) == "vhnetctl: exec /nonexistent/qemu: No such file or directory");
    CHECK(json_error(r[3]) == "exec /nonexistent/qemu: No such file or directory");
    CHECK(text_error(r[4]) == "vhnetctl: get link vhy0: No such device");
}

TEST_CASE("vhnetctl qemu --help shows the options and the rewriting", "[cli][qemu]") {
    const auto top = success(vhnetctl({"--help"}));
    CHECK(top.find("qemu") != std::string::npos);
    const auto help = success(vhnetctl({"qemu", "--help"}));
    for (const char *word : {"--dev", "--no-vhost", "--tap", "--dry-run", "QEMU", "'--'", "vhostfd",
                             "VHOST_SET_OWNER", "-nic tap"})
        CHECK(help.find(word) != std::string::npos);
}
