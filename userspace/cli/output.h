// Output: how vhnetctl prints results and errors, as text or as JSON (-j, -p).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace vhnet::cli {

/// Where every command's result and every error goes. In JSON mode both go to stdout as one
/// JSON document (an error as {"error": "..."}), as bpftool does.
class Output {
public:
    Output(bool json, bool pretty) : json_(json || pretty), pretty_(pretty) {}

    bool json() const noexcept { return json_; }

    /// Prints a command's result: `doc` in JSON mode, else the line `text`.
    void result(const nlohmann::json &doc, std::string_view text) const;
    /// The same for a result of any number of text lines (none prints nothing).
    void result(const nlohmann::json &doc, const std::vector<std::string> &lines) const;

    /// Reports a failure: "vhnetctl: <message>" on stderr, or {"error": "<message>"} on stdout in
    /// JSON mode. Newlines in `message` are flattened, so it is always one line.
    void error(std::string_view message) const;

private:
    void print_json(const nlohmann::json &doc) const;

    bool json_;
    bool pretty_;
};

} // namespace vhnet::cli
