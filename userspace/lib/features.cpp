#include <vhnet/features.h>

#include "feature_table.h"

#include <algorithm>
#include <string>

namespace vhnet {

std::span<const FeatureInfo> known_features() {
    static const std::vector<FeatureInfo> table = [] {
        std::vector<FeatureInfo> v;
        for (const auto &entry : std::span(vhnet_feature_table, vhnet_feature_table_len))
            v.push_back({entry.bit, entry.name});
        return v;
    }();
    return table;
}

std::optional<std::string_view> feature_name(unsigned bit) {
    const auto table = known_features();
    const auto it = std::ranges::find(table, bit, &FeatureInfo::bit);
    if (it == table.end())
        return std::nullopt;
    return it->name;
}

std::vector<std::string> feature_names(std::uint64_t features) {
    std::vector<std::string> names;
    for (unsigned bit = 0; bit < 64; ++bit) {
        if (!(features & (std::uint64_t{1} << bit)))
            continue;
        if (const auto name = feature_name(bit))
            names.emplace_back(*name);
        else
            names.push_back("bit" + std::to_string(bit));
    }
    return names;
}

} // namespace vhnet
