#include "output.h"

#include <fmt/core.h>

#include <algorithm>
#include <cstdio>
#include <string>

namespace vhnet::cli {

void Output::result(const nlohmann::json &doc, std::string_view text) const {
    if (json_)
        print_json(doc);
    else
        fmt::print("{}\n", text);
}

void Output::result(const nlohmann::json &doc, const std::vector<std::string> &lines) const {
    if (json_) {
        print_json(doc);
        return;
    }
    for (const auto &line : lines)
        fmt::print("{}\n", line);
}

void Output::error(std::string_view message) const {
    std::string line(message);
    std::ranges::replace(line, '\n', ' ');
    if (json_)
        print_json({{"error", line}});
    else
        fmt::print(stderr, "vhnetctl: {}\n", line);
}

void Output::print_json(const nlohmann::json &doc) const {
    // Paths come from the user and need not be UTF-8: replace bad bytes rather than throw.
    const int indent = pretty_ ? 4 : -1;
    fmt::print("{}\n", doc.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace));
}

} // namespace vhnet::cli
