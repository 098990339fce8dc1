// vhnetctl: control vhnet and vhost-net devices. Grammar: vhnetctl [OPTIONS] OBJECT COMMAND [ARGS].
#include "command.h"
#include "output.h"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vhnet::cli {
namespace {

bool is_option(std::string_view arg) {
    return arg.size() > 1 && arg.front() == '-';
}

/// The first word at or after `it` that is not an option; `end` at "--" or when there is none.
/// Global options take no value, so every option before OBJECT and COMMAND can be skipped.
std::vector<std::string>::iterator next_word(std::vector<std::string>::iterator it,
                                             std::vector<std::string>::iterator end) {
    for (; it != end; ++it) {
        if (*it == "--")
            return end;
        if (!is_option(*it))
            return it;
    }
    return end;
}

/// `word` as one of `names`: an exact match, else the one name it is a prefix of. `what` names the
/// kind of word for errors ("object"), `help` says where the choices are listed.
std::string_view resolve(std::string_view word, const std::vector<std::string_view> &names,
                         std::string_view what, std::string_view help) {
    std::vector<std::string_view> matches;
    for (const auto name : names) {
        if (name == word)
            return name;
        if (!word.empty() && name.starts_with(word))
            matches.push_back(name);
    }
    if (matches.size() == 1)
        return matches.front();
    if (matches.empty())
        throw UsageError(fmt::format("unknown {} '{}' (see {})", what, word, help));
    throw UsageError(fmt::format("ambiguous {} '{}': {}", what, word, fmt::join(matches, ", ")));
}

const Object *find_object(std::string_view name) {
    const auto all = objects();
    const auto it = std::ranges::find(all, name, &Object::name);
    return it == all.end() ? nullptr : &*it;
}

const Command *find_command(const Object &object, std::string_view name) {
    const auto it = std::ranges::find(object.commands, name, &Command::name);
    return it == object.commands.end() ? nullptr : &*it;
}

/// bpftool-style abbreviations: replaces the OBJECT and COMMAND words of `args` by the names they
/// stand for ("vhnetctl d f" is "vhnetctl dev features").
void expand_abbreviations(std::vector<std::string> &args) {
    std::vector<std::string_view> top;
    for (const auto &object : objects())
        top.push_back(object.name);
    for (const auto &command : top_commands())
        top.push_back(command.name);
    for (const auto &shortcut : shortcuts())
        top.push_back(shortcut.name);

    auto word = next_word(args.begin(), args.end());
    if (word == args.end())
        return;
    *word = resolve(*word, top, "object", "vhnetctl --help");
    const Object *object = find_object(*word);
    if (!object) // a top-level command or a shortcut: no COMMAND follows
        return;

    std::vector<std::string_view> commands;
    for (const auto &command : object->commands)
        commands.push_back(command.name);
    word = next_word(word + 1, args.end());
    if (word != args.end())
        *word = resolve(*word, commands, fmt::format("{} command", object->name),
                        fmt::format("vhnetctl {} --help", object->name));
}

/// Whether `args` ask for JSON (-j/-p in any spelling), known before they are fully parsed so that
/// errors found while parsing are reported in the requested format too.
Output output_for(const std::vector<std::string> &args) {
    bool json = false;
    bool pretty = false;
    for (const auto &arg : args) {
        if (arg == "--")
            break;
        if (arg == "--json") {
            json = true;
        } else if (arg == "--pretty") {
            pretty = true;
        } else if (is_option(arg) && arg[1] != '-') { // a cluster of short flags, e.g. -jp
            json = json || arg.find('j') != std::string::npos;
            pretty = pretty || arg.find('p') != std::string::npos;
        }
    }
    return Output(json, pretty);
}

int run(std::vector<std::string> args, Output out) {
    CLI::App app("vhnetctl: control vhnet and vhost-net devices", "vhnetctl");
    app.fallthrough(); // global options are accepted after OBJECT and COMMAND too
    app.require_subcommand(1);
    bool json = false;
    bool pretty = false;
    app.add_flag("-j,--json", json, "print JSON");
    app.add_flag("-p,--pretty", pretty, "print pretty-printed JSON (implies -j)");

    std::map<const CLI::App *, Action> actions;
    for (const auto &object : objects()) {
        auto *object_app = app.add_subcommand(std::string(object.name), std::string(object.help));
        object_app->require_subcommand(1);
        for (const auto &command : object.commands) {
            auto *command_app =
                object_app->add_subcommand(std::string(command.name), std::string(command.help));
            actions[command_app] = command.setup(*command_app);
        }
    }
    for (const auto &command : top_commands()) {
        auto *command_app =
            app.add_subcommand(std::string(command.name), std::string(command.help));
        actions[command_app] = command.setup(*command_app);
    }
    for (const auto &shortcut : shortcuts()) {
        const Command *command = find_command(*find_object(shortcut.object), shortcut.command);
        auto *command_app = app.add_subcommand(
            std::string(shortcut.name),
            fmt::format("{} (same as '{} {}')", command->help, shortcut.object, command->name));
        actions[command_app] = command->setup(*command_app);
    }

    try {
        expand_abbreviations(args);
        std::ranges::reverse(args); // CLI::App::parse(vector) takes the arguments last first
        app.parse(args);
    } catch (const CLI::CallForHelp &e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp &e) {
        return app.exit(e);
    } catch (const CLI::ParseError &e) {
        out.error(e.what());
        return 1;
    } catch (const UsageError &e) {
        out.error(e.what());
        return 1;
    }

    out = Output(json, pretty);
    const CLI::App *chosen = &app;
    while (!chosen->get_subcommands().empty())
        chosen = chosen->get_subcommands().front();
    if (auto result = actions.at(chosen)(out); !result) {
        out.error(result.error().message());
        return 1;
    }
    if (std::fflush(stdout) != 0) {
        fmt::print(stderr, "vhnetctl: stdout: {}\n", std::strerror(errno));
        return 1;
    }
    return 0;
}

} // namespace

/// The whole program; anything thrown ends as one error line and status 1, never a trace.
int vhnetctl(std::vector<std::string> args) {
    const Output out = output_for(args);
    try {
        return run(std::move(args), out);
    } catch (const std::exception &e) {
        out.error(e.what());
        return 1;
    }
}

} // namespace vhnet::cli

int main(int argc, char **argv) {
    return vhnet::cli::vhnetctl({argv + 1, argv + argc});
}
