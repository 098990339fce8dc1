// SPDX-License-Identifier: GPL-2.0
// Suite "module": loading and unloading vhnet.ko.
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

using namespace vmtest;

namespace {

const char *ko_path() {
    const char *p = std::getenv("VHNET_KO");
    return p ? p : "/vm/vhnet.ko";
}

bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

// Waits up to two seconds for path to (dis)appear.
bool wait_exists(const char *path, bool want) {
    for (int i = 0; i < 200; i++) {
        if (exists(path) == want)
            return true;
        usleep(10000);
    }
    return false;
}

long delete_module(const char *name) {
    return syscall(SYS_delete_module, name, O_NONBLOCK);
}

void load_vhnet() {
    int fd = SYS(open(ko_path(), O_RDONLY | O_CLOEXEC));
    long r = syscall(SYS_finit_module, fd, "", 0);
    int err = errno;
    close(fd);
    if (r < 0)
        fail(fmt::format("finit_module {}: {}", ko_path(), errname(err)));
}

// The "key=value" strings of the module's .modinfo section, read straight from the file (busybox
// modinfo wants a modules.dep, which the test VM has no reason to carry for vhnet).
std::string modinfo(const std::string &ko, const std::string &key) {
    std::string data = read_text(ko);
    std::string needle = std::string(1, '\0') + key + "=";
    auto pos = data.find(needle);
    if (pos == std::string::npos)
        fail(fmt::format("{} has no modinfo '{}'", ko, key));
    pos += needle.size();
    return data.substr(pos, data.find('\0', pos) - pos);
}

} // namespace

VMTEST(module, load_unload_20_times) {
    for (int i = 0; i < 20; i++) {
        SYS(delete_module("vhnet"));
        if (!wait_exists(kVhnet, false))
            fail(fmt::format("cycle {}: /dev/vhnet still present after unload", i));
        EXPECT(!exists("/sys/kernel/debug/vhnet"));
        load_vhnet();
        if (!wait_exists(kVhnet, true))
            fail(fmt::format("cycle {}: /dev/vhnet missing after load", i));
        close(open_dev(kVhnet));
        EXPECT_EQ(vhnet_instances(), 0);
    }
}

// The open file pins the module: unloading is refused with the errno vhost_net gets, and the
// open device keeps working.
VMTEST(module, unload_refused_while_open) {
    int ref = open_dev(kVhostNet);
    errno = 0;
    Outcome vhost_net{delete_module("vhost_net"), errno};
    close(ref);

    int fd = open_dev(kVhnet);
    errno = 0;
    Outcome vhnet{delete_module("vhnet"), errno};
    EXPECT(exists("/sys/module/vhnet"));
    EXPECT_EQ(ioctl_outcome(fd, 0xdeadbeefUL, 0UL).err != 0, true);
    expect_same("delete_module while open", vhnet, vhost_net);
    EXPECT(vhnet.ret < 0);
    close(fd);

    SYS(delete_module("vhnet"));
    load_vhnet();
    EXPECT(wait_exists(kVhnet, true));
}

VMTEST(module, modinfo_license_description_version) {
    std::string license = modinfo(ko_path(), "license");
    std::string version = modinfo(ko_path(), "version");
    std::string depends = modinfo(ko_path(), "depends");
    note("license {}, version {}, depends '{}'", license, version, depends);
    EXPECT_EQ(license, std::string("GPL"));
    EXPECT(!modinfo(ko_path(), "description").empty());
    EXPECT(!version.empty());
    EXPECT_EQ(read_text("/sys/module/vhnet/version"), version + "\n");
}
