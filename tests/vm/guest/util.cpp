// SPDX-License-Identifier: GPL-2.0
#include "util.h"

#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace vmtest {

std::string to_string(const Outcome &o) {
    return o.err ? fmt::format("-1 {}", errname(o.err)) : fmt::format("{}", o.ret);
}

Outcome ioctl_outcome(int fd, unsigned long req, void *arg) {
    errno = 0;
    long r = ioctl(fd, req, arg);
    return {r, r < 0 ? errno : 0};
}

Outcome ioctl_outcome(int fd, unsigned long req, unsigned long arg) {
    return ioctl_outcome(fd, req, reinterpret_cast<void *>(arg));
}

void expect_same(const std::string &what, const Outcome &vhnet, const Outcome &vhost_net) {
    if (!(vhnet == vhost_net))
        fail(fmt::format("{}: vhnet {} but vhost-net {}", what, to_string(vhnet),
                         to_string(vhost_net)));
}

int open_dev(const char *path) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        fail(fmt::format("open {}: {}", path, errname(errno)));
    return fd;
}

std::string read_text(const std::string &path) {
    std::ifstream in(path);
    if (!in)
        fail(fmt::format("cannot read {}", path));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int vhnet_instances() {
    return std::stoi(read_text(kDebugfs + "/instances"));
}

std::vector<std::string> vhnet_folders() {
    std::vector<std::string> out;
    DIR *d = opendir(kDebugfs.c_str());
    if (!d)
        fail(fmt::format("opendir {}: {}", kDebugfs, errname(errno)));
    while (dirent *e = readdir(d))
        if (e->d_type == DT_DIR && e->d_name[0] != '.')
            out.emplace_back(e->d_name);
    closedir(d);
    return out;
}

int in_child(const std::function<int()> &fn) {
    std::fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        fail(fmt::format("fork: {}", errname(errno)));
    if (pid == 0) {
        int rc = 1;
        try {
            rc = fn();
        } catch (const Failure &f) {
            fmt::print("# child: {}\n", f.message);
        }
        std::fflush(stdout);
        _exit(rc);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

} // namespace vmtest
