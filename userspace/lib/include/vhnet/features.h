// Names of the virtio / vhost feature bits a vhost-net device can offer.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace vhnet {

/// One known feature bit.
struct FeatureInfo {
    unsigned bit;          ///< bit number in the 64-bit feature word
    std::string_view name; ///< short lower-case name, e.g. "mrg_rxbuf"
};

/// Every feature bit vhnet knows a name for, in ascending bit order.
std::span<const FeatureInfo> known_features();

/// The name of feature `bit`, if known.
std::optional<std::string_view> feature_name(unsigned bit);

/// The names of the bits set in `features`, lowest bit first; an unknown bit N is "bit<N>".
std::vector<std::string> feature_names(std::uint64_t features);

} // namespace vhnet
