// Running the built vhnetctl (VHNETCTL_PATH) and checking how it failed, for the CLI tests.
#pragma once

#include "netns.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <spawn.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

extern char **environ;

namespace vhnet::test {

/// One finished run of vhnetctl.
struct Run {
    int status = -1; ///< exit status; -1 if it did not exit (killed, or never started)
    std::string out;
    std::string err;
};

inline std::string read_all(int fd) {
    std::string text;
    char buf[4096];
    ::lseek(fd, 0, SEEK_SET);
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;)
        text.append(buf, static_cast<std::size_t>(n));
    return text;
}

/// A vhnetctl started by start_vhnetctl(), to be waited for with wait_vhnetctl().
struct Started {
    pid_t pid = -1; ///< -1 if it did not start
    int out = -1;   ///< memfds that receive its stdout and stderr
    int err = -1;
    std::string error; ///< why it did not start
};

/// Starts vhnetctl with `args` and `env` added to the environment, stdout and stderr captured.
/// Uses no Catch2 assertion, so a forked child may call it.
inline Started start_vhnetctl(std::vector<std::string> args, std::vector<std::string> env = {}) {
    Started started;
    started.out = ::memfd_create("vhnetctl-stdout", MFD_CLOEXEC);
    started.err = ::memfd_create("vhnetctl-stderr", MFD_CLOEXEC);
    if (started.out < 0 || started.err < 0) {
        started.error = "memfd_create failed";
        return started;
    }

    args.insert(args.begin(), VHNETCTL_PATH);
    std::vector<char *> argv;
    for (auto &arg : args)
        argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<char *> envp;
    for (auto &var : env)
        envp.push_back(var.data());
    for (char **var = environ; *var; ++var)
        envp.push_back(*var);
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, started.out, STDOUT_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, started.err, STDERR_FILENO);
    if (::posix_spawn(&started.pid, VHNETCTL_PATH, &actions, nullptr, argv.data(), envp.data()) !=
        0) {
        started.pid = -1;
        started.error = "posix_spawn failed";
    }
    ::posix_spawn_file_actions_destroy(&actions);
    return started;
}

/// Waits for a vhnetctl from start_vhnetctl() to end; a run that could not start or did not exit
/// has status -1 and the reason in `err`. Uses no Catch2 assertion.
inline Run wait_vhnetctl(const Started &started) {
    Run run;
    int wstatus = 0;
    if (started.pid < 0) {
        run.err = started.error;
    } else if (::waitpid(started.pid, &wstatus, 0) != started.pid) {
        run.err = "waitpid failed";
    } else if (!WIFEXITED(wstatus)) { // killed by a signal (abort, uncaught exception)
        run.err = "killed by signal " + std::to_string(WTERMSIG(wstatus));
    } else {
        run = {WEXITSTATUS(wstatus), read_all(started.out), read_all(started.err)};
    }
    if (started.out >= 0)
        ::close(started.out);
    if (started.err >= 0)
        ::close(started.err);
    return run;
}

/// Runs vhnetctl with `args` and `env` added to the environment, stdout and stderr captured.
/// Uses no Catch2 assertion, so a forked child may call it: a run that could not start or did not
/// exit has status -1 and the reason in `err`.
inline Run spawn_vhnetctl(std::vector<std::string> args, std::vector<std::string> env = {}) {
    return wait_vhnetctl(start_vhnetctl(std::move(args), std::move(env)));
}

/// spawn_vhnetctl(), requiring that vhnetctl ran and exited.
inline Run vhnetctl(std::vector<std::string> args, std::vector<std::string> env = {}) {
    Run run = spawn_vhnetctl(std::move(args), std::move(env));
    INFO("stderr: " << run.err);
    REQUIRE(run.status >= 0);
    return run;
}

/// Checks that `run` failed the way every vhnetctl failure must: status 1, nothing on stdout and
/// exactly one line "vhnetctl: ..." on stderr. Returns the message.
inline std::string text_error(const Run &run) {
    INFO("stdout: " << run.out << "\nstderr: " << run.err);
    CHECK(run.status == 1);
    CHECK(run.out.empty());
    CHECK(run.err.starts_with("vhnetctl: "));
    CHECK(run.err.ends_with("\n"));
    CHECK(run.err.find('\n') == run.err.size() - 1);
    return run.err.substr(0, run.err.size() - 1);
}

/// The JSON form: status 1, nothing on stderr, {"error": "..."} on stdout. Returns the message.
inline std::string json_error(const Run &run) {
    INFO("stdout: " << run.out << "\nstderr: " << run.err);
    CHECK(run.status == 1);
    CHECK(run.err.empty());
    const auto doc = nlohmann::json::parse(run.out);
    REQUIRE(doc.is_object());
    CHECK(doc.size() == 1);
    REQUIRE(doc.contains("error"));
    return doc["error"].get<std::string>();
}

/// Checks that `run` succeeded quietly (status 0, nothing on stderr) and returns its stdout.
inline std::string success(const Run &run) {
    INFO("stdout: " << run.out << "\nstderr: " << run.err);
    CHECK(run.status == 0);
    CHECK(run.err.empty());
    return run.out;
}

/// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
public:
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "vhnet-unit-XXXXXX").string();
        REQUIRE(::mkdtemp(pattern.data()) != nullptr);
        path_ = pattern;
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path &path() const { return path_; }

private:
    std::filesystem::path path_;
};

/// Writes `text` to `path`, creating the folders on the way.
inline void write_file(const std::filesystem::path &path, const std::string &text) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path) << text;
}

/// A Run as JSON and back, to carry runs out of a forked child.
inline nlohmann::json to_json(const Run &run) {
    return {{"status", run.status}, {"out", run.out}, {"err", run.err}};
}
inline Run run_from_json(const nlohmann::json &doc) {
    return {doc.at("status").get<int>(), doc.at("out").get<std::string>(),
            doc.at("err").get<std::string>()};
}

/// One vhnetctl command line, with variables added to its environment.
struct Call {
    std::vector<std::string> args;
    std::vector<std::string> env = {};
};

/// Runs each call in order in one private network namespace; their runs, or nullopt if the host
/// allows no such namespace (the test is then skipped). `sysfs` as in in_private_netns().
inline std::optional<std::vector<Run>> run_in_netns(const std::vector<Call> &calls,
                                                    bool *sysfs = nullptr) {
    const auto report = in_private_netns(
        [&calls] {
            nlohmann::json runs = nlohmann::json::array();
            for (const auto &call : calls)
                runs.push_back(to_json(spawn_vhnetctl(call.args, call.env)));
            return runs;
        },
        sysfs);
    if (!report)
        return std::nullopt;
    std::vector<Run> runs;
    for (const auto &run : *report)
        runs.push_back(run_from_json(run));
    REQUIRE(runs.size() == calls.size());
    return runs;
}

/// The same for command lines without environment.
inline std::optional<std::vector<Run>>
run_in_netns(const std::vector<std::vector<std::string>> &commands, bool *sysfs = nullptr) {
    std::vector<Call> calls;
    for (const auto &args : commands)
        calls.push_back({args});
    return run_in_netns(calls, sysfs);
}

} // namespace vhnet::test
