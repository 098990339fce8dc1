// SPDX-License-Identifier: GPL-2.0
// Suite "dev": the device node, per-open state, debugfs, and the first ioctls, each compared
// with the in-tree vhost-net in the same boot.
#include <fcntl.h>
#include <linux/vhost.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>

#include "util.h"

using namespace vmtest;

namespace {

constexpr unsigned kMiscMajor = 10;
// A vhost ioctl number that no vhost device knows.
const unsigned long kUnknownVhostIoctl = _IO(VHOST_VIRTIO, 0x7e);

unsigned long slab_kib() {
    std::string m = read_text("/proc/meminfo");
    auto pos = m.find("\nSlab:");
    return pos == std::string::npos ? 0 : std::stoul(m.substr(pos + 6));
}

} // namespace

VMTEST(dev, node_is_misc_char_device_0600) {
    struct stat st;
    SYS(stat(kVhnet, &st));
    EXPECT(S_ISCHR(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(major(st.st_rdev), kMiscMajor);
}

// Every open allocates a device and every close frees it: after 1000 cycles, with and without an
// owner, the instance counter and debugfs are back where they started.
VMTEST(dev, open_close_1000_leaves_nothing) {
    int before = vhnet_instances();
    unsigned long slab_before = slab_kib();
    for (int i = 0; i < 1000; i++) {
        int fd = open_dev(kVhnet);
        if (i % 2)
            SYS(ioctl(fd, VHOST_SET_OWNER));
        close(fd);
    }
    EXPECT_EQ(vhnet_instances(), before);
    EXPECT(vhnet_folders().empty());
    note("Slab: {} KiB before, {} KiB after", slab_before, slab_kib());
}

VMTEST(dev, debugfs_folder_per_open_device) {
    int fds[3];
    for (int &fd : fds)
        fd = open_dev(kVhnet);
    auto folders = vhnet_folders();
    EXPECT_EQ(folders.size(), 3u);
    EXPECT_EQ(vhnet_instances(), 3);

    SYS(ioctl(fds[1], VHOST_SET_OWNER));
    int owned = 0;
    for (const auto &f : folders) {
        std::string info = read_text(kDebugfs + "/" + f + "/info");
        EXPECT(info.find("id " + f + "\n") != std::string::npos);
        if (info.find(fmt::format("owner_pid {}\n", getpid())) != std::string::npos)
            owned++;
    }
    EXPECT_EQ(owned, 1);

    for (int fd : fds)
        close(fd);
    EXPECT(vhnet_folders().empty());
    EXPECT_EQ(vhnet_instances(), 0);
}

// vhnet offers every feature bit vhost-net offers; it may offer more, named here.
VMTEST(dev, features_cover_vhost_net) {
    uint64_t f[2] = {};
    for (int i = 0; i < 2; i++) {
        int fd = open_dev(kDevices[i]);
        SYS(ioctl(fd, VHOST_GET_FEATURES, &f[i]));
        close(fd);
    }
    note("features: vhnet {:#x}, vhost-net {:#x}", f[0], f[1]);
    EXPECT_EQ(f[0] & f[1], f[1]);
    EXPECT_EQ(f[0] & ~f[1], uint64_t{0}); // no additional bit is offered yet
}

VMTEST(dev, set_owner_twice_matches) {
    Outcome first[2], second[2];
    for (int i = 0; i < 2; i++) {
        int fd = open_dev(kDevices[i]);
        first[i] = ioctl_outcome(fd, VHOST_SET_OWNER, 0UL);
        second[i] = ioctl_outcome(fd, VHOST_SET_OWNER, 0UL);
        close(fd);
    }
    expect_same("first SET_OWNER", first[0], first[1]);
    expect_same("second SET_OWNER", second[0], second[1]);
    EXPECT_EQ(second[0].err, EBUSY);
}

// An ioctl no vhost device knows. vhost checks the owner first, then reads a ring index through
// the argument before it looks at the command: so the answer depends on the owner and on the
// argument (a bad pointer, a valid ring index, an index past the last ring). vhnet must give the
// same answer in every case.
VMTEST(dev, unknown_ioctl_matches) {
    uint32_t ring0 = 0, ring5 = 5;
    struct Case {
        const char *what;
        unsigned long req;
        void *arg;
        bool owned;
        int want;
    } cases[] = {
        {"before SET_OWNER", kUnknownVhostIoctl, &ring0, false, EPERM},
        {"NULL argument", kUnknownVhostIoctl, nullptr, true, EFAULT},
        {"ring 0", kUnknownVhostIoctl, &ring0, true, ENOTTY},
        {"ring 5", kUnknownVhostIoctl, &ring5, true, ENOBUFS},
        {"TCGETS", 0x5401, &ring0, true, ENOTTY},
    };
    for (const auto &c : cases) {
        Outcome o[2];
        for (int i = 0; i < 2; i++) {
            int fd = open_dev(kDevices[i]);
            if (c.owned)
                SYS(ioctl(fd, VHOST_SET_OWNER));
            o[i] = ioctl_outcome(fd, c.req, c.arg);
            close(fd);
        }
        expect_same(c.what, o[0], o[1]);
        EXPECT_EQ(o[0].err, c.want);
    }
}

// A process other than the owner (a forked child has its own mm) may not configure the device.
VMTEST(dev, non_owner_matches) {
    int errs[2][2];
    for (int i = 0; i < 2; i++) {
        int fd = open_dev(kDevices[i]);
        SYS(ioctl(fd, VHOST_SET_OWNER));
        errs[i][0] = in_child([&] { return ioctl_outcome(fd, VHOST_SET_OWNER, 0UL).err; });
        errs[i][1] = in_child([&] { return ioctl_outcome(fd, kUnknownVhostIoctl, 0UL).err; });
        close(fd);
    }
    note("non-owner: SET_OWNER {}, unknown ioctl {}", errname(errs[1][0]), errname(errs[1][1]));
    EXPECT_EQ(errs[0][0], errs[1][0]);
    EXPECT_EQ(errs[0][1], errs[1][1]);
    EXPECT_EQ(errs[0][1], EPERM);
}

// Features can be read by anyone holding the fd, before and after SET_OWNER, on both devices.
VMTEST(dev, get_features_needs_no_owner) {
    for (const char *path : kDevices) {
        int fd = open_dev(path);
        uint64_t f = 0;
        Outcome o = ioctl_outcome(fd, VHOST_GET_FEATURES, &f);
        EXPECT_EQ(to_string(o), std::string("0"));
        EXPECT(f != 0);
        Outcome bad = ioctl_outcome(fd, VHOST_GET_FEATURES, 1UL);
        EXPECT_EQ(bad.err, EFAULT);
        close(fd);
    }
}
