// SPDX-License-Identifier: GPL-2.0
// Helpers shared by the in-guest suites: the two devices, raw ioctl outcomes to compare them,
// and vhnet's debugfs.
#pragma once

#include <string>
#include <vector>

#include "harness.h"

namespace vmtest {

inline constexpr const char *kVhnet = "/dev/vhnet";
inline constexpr const char *kVhostNet = "/dev/vhost-net";
// The device under test and the in-tree reference, in the order differential tests run them.
inline constexpr const char *kDevices[] = {kVhnet, kVhostNet};

// What a system call returned: the value and errno (0 on success).
struct Outcome {
    long ret = 0;
    int err = 0;
    bool operator==(const Outcome &) const = default;
};
std::string to_string(const Outcome &o);

Outcome ioctl_outcome(int fd, unsigned long req, void *arg);
Outcome ioctl_outcome(int fd, unsigned long req, unsigned long arg);

// Fails unless vhnet's outcome equals vhost-net's; what names the case in the message.
void expect_same(const std::string &what, const Outcome &vhnet, const Outcome &vhost_net);

// open(path, O_RDWR | O_CLOEXEC), failing the test on error.
int open_dev(const char *path);

std::string read_text(const std::string &path);
inline const std::string kDebugfs = "/sys/kernel/debug/vhnet";
// The live device count from debugfs, and the per-device folders there.
int vhnet_instances();
std::vector<std::string> vhnet_folders();

// Runs fn in a forked child and returns its exit status; fn's return value is the status.
int in_child(const std::function<int()> &fn);

} // namespace vmtest
