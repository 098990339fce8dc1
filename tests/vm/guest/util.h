// SPDX-License-Identifier: GPL-2.0
// Helpers shared by the in-guest suites: the two devices, raw ioctl outcomes to compare them,
// and vhnet's debugfs.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
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
// A number from the environment (strtoull, any base), or `def` when unset or empty.
uint64_t env_u64(const char *name, uint64_t def);
int vhnet_instances();
std::vector<std::string> vhnet_folders();

// "name value" lines of a debugfs file, the value being the rest of the line.
using Fields = std::map<std::string, std::string>;
Fields debugfs_fields(const std::string &path);
// The field `key` as a number (decimal or 0x hex); fails the test if it is missing or not one.
uint64_t field_num(const Fields &fields, const std::string &key);
// The vhnet instance (its debugfs folder's name) process `pid` owns; "" if none. Fails the test
// if it owns more than one.
std::string vhnet_instance_of(pid_t pid);

// A shell command's exit status and output (stdout and stderr together).
struct Cmd {
    int status = -1;
    std::string out;
};
// Runs `command` with /bin/sh.
Cmd sh(const std::string &command);
// The same, failing the test unless it exits 0; returns its output.
std::string must_sh(const std::string &command);

// What a forked child sent back (empty if it died first) and its waitpid() status.
struct ChildReply {
    std::string reply;
    int status = 0;
};
// Runs fn in a forked child under alarm(timeout_s); what fn returns comes back through a pipe.
// An exception out of fn ends the child without a reply.
ChildReply reply_from_child(unsigned timeout_s, const std::function<std::string()> &fn);

// Runs fn in a forked child and returns its exit status; fn's return value is the status.
int in_child(const std::function<int()> &fn);

} // namespace vmtest
