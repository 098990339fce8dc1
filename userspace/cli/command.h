// The command table: vhnetctl OBJECT COMMAND [ARGS], and vhnetctl COMMAND [ARGS] for the few
// commands that belong to no object.
//
// To add a command, add a row to its object's table (e.g. kDevCommands in dev.cpp) with a setup
// function that declares the command's options and returns its Action. To add an object, write
// <object>.cpp exporting <object>_commands() and add a row to objects() in command.cpp. A command
// of no object (qemu, stats) is written in <command>.cpp, which exports <command>_command(), a
// row of top_commands() in command.cpp.
#pragma once

#include "output.h"

#include <vhnet/result.h>

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace vhnet::cli {

/// What a command does once the command line is parsed: prints its result through `out`, or
/// returns the error that main() reports.
using Action = std::function<Result<void>(const Output &out)>;

/// One COMMAND of an OBJECT. `setup` declares the command's options on `app` (binding them to
/// storage the returned Action owns) and returns the Action.
struct Command {
    std::string_view name;
    std::string_view help;
    Action (*setup)(CLI::App &app);
};

/// One OBJECT and its COMMANDs.
struct Object {
    std::string_view name;
    std::string_view help;
    std::span<const Command> commands;
};

/// A top-level word that stands for OBJECT COMMAND (`vhnetctl features` = `vhnetctl dev
/// features`).
struct Shortcut {
    std::string_view name;
    std::string_view object;
    std::string_view command;
};

/// A command line that makes no sense, found outside CLI11 (e.g. an ambiguous abbreviation).
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::span<const Object> objects();
/// The commands that are top-level words of their own (`vhnetctl qemu -- ...`).
std::span<const Command> top_commands();
std::span<const Shortcut> shortcuts();

/// The commands of each object, one function per <object>.cpp.
std::span<const Command> dev_commands();
std::span<const Command> tap_commands();

/// The top-level commands, one function per <command>.cpp.
const Command &qemu_command();
const Command &stats_command();

/// Adds --dev PATH (default /dev/vhnet) to `app`; the string lives as long as the Action holding
/// the returned pointer.
std::shared_ptr<std::string> add_dev_option(CLI::App &app);

} // namespace vhnet::cli
