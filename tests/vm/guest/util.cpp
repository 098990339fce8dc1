// SPDX-License-Identifier: GPL-2.0
#include "util.h"

#include <cstdio>
#include <cstdlib>
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

uint64_t env_u64(const char *name, uint64_t def) {
    const char *v = std::getenv(name);
    return v && *v ? std::strtoull(v, nullptr, 0) : def;
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

Fields debugfs_fields(const std::string &path) {
    Fields fields;
    std::istringstream in(read_text(path));
    for (std::string line; std::getline(in, line);)
        if (const auto space = line.find(' '); space != std::string::npos)
            fields[line.substr(0, space)] = line.substr(space + 1);
    return fields;
}

uint64_t field_num(const Fields &fields, const std::string &key) {
    const auto it = fields.find(key);
    char *end = nullptr;
    const uint64_t value = it == fields.end() ? 0 : std::strtoull(it->second.c_str(), &end, 0);
    if (it == fields.end() || it->second.empty() || *end != '\0')
        fail(fmt::format("debugfs has no number '{}'", key));
    return value;
}

std::string vhnet_instance_of(pid_t pid) {
    std::string mine;
    for (const auto &id : vhnet_folders()) {
        const auto info = debugfs_fields(fmt::format("{}/{}/info", kDebugfs, id));
        if (const auto it = info.find("owner_pid");
            it == info.end() || it->second != std::to_string(pid))
            continue;
        if (!mine.empty())
            fail(fmt::format("process {} owns more than one vhnet device", pid));
        mine = id;
    }
    return mine;
}

Cmd sh(const std::string &command) {
    Cmd c;
    std::fflush(stdout);
    FILE *p = ::popen((command + " 2>&1").c_str(), "r");
    if (!p)
        fail(fmt::format("popen {}: {}", command, errname(errno)));
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;)
        c.out.append(buf, n);
    const int st = ::pclose(p);
    c.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return c;
}

std::string must_sh(const std::string &command) {
    auto c = sh(command);
    if (c.status != 0)
        fail(fmt::format("'{}' exited {}: {}", command, c.status, c.out));
    return c.out;
}

ChildReply reply_from_child(unsigned timeout_s, const std::function<std::string()> &fn) {
    int p[2];
    SYS(pipe2(p, O_CLOEXEC));
    std::fflush(stdout);
    const pid_t pid = SYS(fork());
    if (pid == 0) {
        close(p[0]);
        alarm(timeout_s);
        std::string reply;
        try {
            reply = fn();
        } catch (...) {
            _exit(1);
        }
        std::fflush(stdout);
        for (std::size_t off = 0; off < reply.size();) {
            const ssize_t w = write(p[1], reply.data() + off, reply.size() - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                _exit(1);
            off += static_cast<std::size_t>(w);
        }
        _exit(0);
    }
    close(p[1]);
    ChildReply r;
    char buf[4096];
    for (;;) {
        const ssize_t n = read(p[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r.reply.append(buf, static_cast<std::size_t>(n));
    }
    close(p[0]);
    while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
    }
    return r;
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
