// Running the built vhnetctl (VHNETCTL_PATH) and checking how it failed, for the CLI tests.
#pragma once

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
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

/// Runs vhnetctl with `args` and `env` added to the environment, stdout and stderr captured.
/// Uses no Catch2 assertion, so a forked child may call it: a run that could not start or did not
/// exit has status -1 and the reason in `err`.
inline Run spawn_vhnetctl(std::vector<std::string> args, std::vector<std::string> env = {}) {
    const int out = ::memfd_create("vhnetctl-stdout", MFD_CLOEXEC);
    const int err = ::memfd_create("vhnetctl-stderr", MFD_CLOEXEC);
    if (out < 0 || err < 0)
        return {-1, "", "memfd_create failed"};

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
    ::posix_spawn_file_actions_adddup2(&actions, out, STDOUT_FILENO);
    ::posix_spawn_file_actions_adddup2(&actions, err, STDERR_FILENO);
    pid_t pid = -1;
    const int spawned =
        ::posix_spawn(&pid, VHNETCTL_PATH, &actions, nullptr, argv.data(), envp.data());
    ::posix_spawn_file_actions_destroy(&actions);

    Run run;
    int wstatus = 0;
    if (spawned != 0) {
        run.err = "posix_spawn failed";
    } else if (::waitpid(pid, &wstatus, 0) != pid) {
        run.err = "waitpid failed";
    } else if (!WIFEXITED(wstatus)) { // killed by a signal (abort, uncaught exception)
        run.err = "killed by signal " + std::to_string(WTERMSIG(wstatus));
    } else {
        run = {WEXITSTATUS(wstatus), read_all(out), read_all(err)};
    }
    ::close(out);
    ::close(err);
    return run;
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

/// A Run as JSON and back, to carry runs out of a forked child.
inline nlohmann::json to_json(const Run &run) {
    return {{"status", run.status}, {"out", run.out}, {"err", run.err}};
}
inline Run run_from_json(const nlohmann::json &doc) {
    return {doc.at("status").get<int>(), doc.at("out").get<std::string>(),
            doc.at("err").get<std::string>()};
}

} // namespace vhnet::test
