// vhnetctl dev show against fake sysfs and debugfs trees ($VHNET_SYSFS_MODULE, $VHNET_DEBUGFS).
#include "cli_util.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

using vhnet::test::json_error;
using vhnet::test::Run;
using vhnet::test::success;
using vhnet::test::TempDir;
using vhnet::test::text_error;
using vhnet::test::vhnetctl;
using vhnet::test::write_file;
namespace fs = std::filesystem;

namespace {

/// A loaded vhnet with two parameters and two open instances (one with an owner).
struct FakeModule {
    TempDir dir;
    fs::path sysfs = dir.path() / "sys/module/vhnet";
    fs::path debugfs = dir.path() / "debug/vhnet";

    FakeModule() {
        write_file(sysfs / "parameters/max_mem_regions", "64\n");
        write_file(sysfs / "parameters/experimental", "N\n");
        write_file(sysfs / "refcnt", "2\n"); // not a parameter
        write_file(debugfs / "instances", "2\n");
        write_file(debugfs / "0/info", "id 0\nowner_pid 0\nowner_comm -\nfeatures 0x0\n");
        write_file(debugfs / "10/info",
                   "id 10\nowner_pid 4242\nowner_comm qemu-system-x86\nfeatures 0x100008000\n");
        fs::create_directories(debugfs / "10/vq0"); // per-queue folders are not instances
        fs::create_directories(debugfs / "stray");  // a folder without info is not one either
    }

    std::vector<std::string> env() const {
        return {"VHNET_SYSFS_MODULE=" + sysfs.string(), "VHNET_DEBUGFS=" + debugfs.string()};
    }
};

} // namespace

TEST_CASE("vhnetctl dev show prints parameters and instances", "[cli][dev]") {
    const FakeModule module;
    const auto out = success(vhnetctl({"dev", "show"}, module.env()));
    CHECK(out == "module vhnet: experimental N max_mem_regions 64\n"
                 "instances 2\n"
                 "instance 0: id 0 owner_pid 0 owner_comm - features 0x0\n"
                 "instance 10: id 10 owner_pid 4242 owner_comm qemu-system-x86 "
                 "features 0x100008000\n");
    // Abbreviated, as every command can be.
    CHECK(success(vhnetctl({"d", "s"}, module.env())) == out);
}

TEST_CASE("vhnetctl -j dev show prints one JSON object", "[cli][dev]") {
    const FakeModule module;
    const auto run = vhnetctl({"-j", "dev", "show"}, module.env());
    const auto out = success(run);
    CHECK(out.find('\n') == out.size() - 1);
    const auto doc = nlohmann::json::parse(out);
    CHECK(doc == nlohmann::json{
                     {"module", "vhnet"},
                     {"sysfs", module.sysfs.string()},
                     {"parameters", {{"max_mem_regions", 64}, {"experimental", "N"}}},
                     {"debugfs", module.debugfs.string()},
                     {"live", 2},
                     {"instances",
                      {{{"instance", "0"},
                        {"id", 0},
                        {"owner_pid", 0},
                        {"owner_comm", "-"},
                        {"features", "0x0"},
                        {"logging", false}},
                       {{"instance", "10"},
                        {"id", 10},
                        {"owner_pid", 4242},
                        {"owner_comm", "qemu-system-x86"},
                        {"features", "0x100008000"},
                        {"logging", false}}}},
                 });
    CHECK(nlohmann::json::parse(success(vhnetctl({"dev", "show", "-p"}, module.env()))) == doc);
}

TEST_CASE("vhnetctl dev show says whether each instance logs dirty pages", "[cli][dev]") {
    const FakeModule module;
    // A module with dirty logging: instance 10 migrating (LOG_ALL acked), 11 not.
    write_file(module.debugfs / "10/info",
               "id 10\nowner_pid 4242\nowner_comm qemu-system-x86\nfeatures 0x104008000\n"
               "log_all 1\nlog_fd 0\n");
    write_file(module.debugfs / "11/info",
               "id 11\nowner_pid 4243\nowner_comm qemu-system-x86\nfeatures 0x100008000\n"
               "log_all 0\nlog_fd 0\n");
    const auto out = success(vhnetctl({"dev", "show"}, module.env()));
    CHECK(out == "module vhnet: experimental N max_mem_regions 64\n"
                 "instances 3 (live 2)\n"
                 "instance 0: id 0 owner_pid 0 owner_comm - features 0x0\n"
                 "instance 10 (logging on): id 10 owner_pid 4242 owner_comm qemu-system-x86 "
                 "features 0x104008000 log_all 1 log_fd 0\n"
                 "instance 11 (logging off): id 11 owner_pid 4243 owner_comm qemu-system-x86 "
                 "features 0x100008000 log_all 0 log_fd 0\n");
    const auto doc = nlohmann::json::parse(success(vhnetctl({"-j", "dev", "show"}, module.env())));
    REQUIRE(doc["instances"].size() == 3);
    CHECK(doc["instances"][0]["logging"] == false); // no log_all: an old module
    CHECK(doc["instances"][1]["logging"] == true);
    CHECK(doc["instances"][1]["log_all"] == 1);
    CHECK(doc["instances"][2]["logging"] == false);
    CHECK(doc["instances"][2]["log_all"] == 0);
}

TEST_CASE("vhnetctl dev show with no instances and no parameters", "[cli][dev]") {
    TempDir dir;
    fs::create_directories(dir.path() / "module");
    fs::create_directories(dir.path() / "debug");
    const std::vector<std::string> env = {"VHNET_SYSFS_MODULE=" + (dir.path() / "module").string(),
                                          "VHNET_DEBUGFS=" + (dir.path() / "debug").string()};
    CHECK(success(vhnetctl({"dev", "show"}, env)) == "module vhnet: no parameters\ninstances 0\n");
    const auto doc = nlohmann::json::parse(success(vhnetctl({"-j", "dev", "show"}, env)));
    CHECK(doc["parameters"] == nlohmann::json::object());
    CHECK(doc["instances"] == nlohmann::json::array());
    CHECK_FALSE(doc.contains("live"));
}

TEST_CASE("vhnetctl dev show says when debugfs is absent", "[cli][dev]") {
    const FakeModule module;
    const std::string missing = (module.dir.path() / "no-debugfs").string();
    const std::vector<std::string> env = {"VHNET_SYSFS_MODULE=" + module.sysfs.string(),
                                          "VHNET_DEBUGFS=" + missing};
    CHECK(success(vhnetctl({"dev", "show"}, env)) ==
          "module vhnet: experimental N max_mem_regions 64\n"
          "instances unknown (no " +
              missing + "; is debugfs mounted?)\n");
    const auto doc = nlohmann::json::parse(success(vhnetctl({"-j", "dev", "show"}, env)));
    CHECK(doc["instances"].is_null());
    CHECK(doc["debugfs_error"] == "no " + missing + "; is debugfs mounted?");
}

TEST_CASE("vhnetctl dev show without the module: one error line, status 1", "[cli][dev]") {
    TempDir dir;
    const std::string missing = (dir.path() / "sys/module/vhnet").string();
    const std::vector<std::string> env = {"VHNET_SYSFS_MODULE=" + missing};
    CHECK(text_error(vhnetctl({"dev", "show"}, env)) ==
          "vhnetctl: vhnet module not loaded (no " + missing + ")");
    CHECK(json_error(vhnetctl({"-j", "dev", "show"}, env)) ==
          "vhnet module not loaded (no " + missing + ")");

    // The real default, on a host without the module.
    if (!fs::exists("/sys/module/vhnet")) {
        CHECK(text_error(vhnetctl({"dev", "show"}, {"VHNET_SYSFS_MODULE="})) ==
              "vhnetctl: vhnet module not loaded (no /sys/module/vhnet)");
    }
}

TEST_CASE("vhnetctl dev show --help names the environment overrides", "[cli][dev]") {
    const auto out = success(vhnetctl({"dev", "show", "--help"}));
    CHECK(out.find("VHNET_SYSFS_MODULE") != std::string::npos);
    CHECK(out.find("VHNET_DEBUGFS") != std::string::npos);
}
