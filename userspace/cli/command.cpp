#include "command.h"

namespace vhnet::cli {

std::span<const Object> objects() {
    static const Object table[] = {
        {"dev", "a vhost-net style device (/dev/vhnet or /dev/vhost-net)", dev_commands()},
        {"tap", "a tap interface, the backend of a vhost-net device", tap_commands()},
    };
    return table;
}

std::span<const Command> top_commands() {
    static const Command table[] = {
        qemu_command(),
        stats_command(),
    };
    return table;
}

std::span<const Shortcut> shortcuts() {
    static constexpr Shortcut table[] = {
        {"features", "dev", "features"},
    };
    return table;
}

} // namespace vhnet::cli
