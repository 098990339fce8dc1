#include <vhnet/features.h>

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

using Names = std::vector<std::string>;

namespace {

constexpr std::uint64_t bit(unsigned n) {
    return std::uint64_t{1} << n;
}

} // namespace

TEST_CASE("feature_names of no features is empty", "[features]") {
    CHECK(vhnet::feature_names(0).empty());
}

TEST_CASE("feature_names decodes known bits lowest first", "[features]") {
    CHECK(vhnet::feature_names(bit(32) | bit(15)) == Names{"mrg_rxbuf", "version_1"});
    CHECK(vhnet::feature_names(bit(0) | bit(1) | bit(17)) ==
          Names{"csum", "guest_csum", "ctrl_vq"});
    CHECK(vhnet::feature_names(bit(34) | bit(35) | bit(40)) ==
          Names{"ring_packed", "in_order", "ring_reset"});
}

TEST_CASE("feature_names shows unknown bits as bit<N>", "[features]") {
    CHECK(vhnet::feature_names(bit(4) | bit(25) | bit(15)) == Names{"bit4", "mrg_rxbuf", "bit25"});
    CHECK(vhnet::feature_names(~std::uint64_t{0}).size() == 64);
}

TEST_CASE("feature_names decodes what in-tree vhost-net offers", "[features]") {
    // VHOST_NET_FEATURES of drivers/vhost/net.c: VHOST_FEATURES plus the net bits.
    const std::uint64_t vhost_net =
        bit(24) | bit(26) | bit(27) | bit(28) | bit(29) | bit(15) | bit(32) | bit(33) | bit(40);
    CHECK(vhnet::feature_names(vhost_net) ==
          Names{"mrg_rxbuf", "notify_on_empty", "log_all", "any_layout/net_hdr", "indirect_desc",
                "event_idx", "version_1", "access_platform", "ring_reset"});
}

TEST_CASE("feature_name looks up one bit", "[features]") {
    CHECK(vhnet::feature_name(15) == "mrg_rxbuf");
    CHECK(vhnet::feature_name(63) == "speed_duplex");
    CHECK_FALSE(vhnet::feature_name(4));
    CHECK_FALSE(vhnet::feature_name(64));
    for (const auto &info : vhnet::known_features())
        CHECK(vhnet::feature_name(info.bit) == info.name);
}

TEST_CASE("known_features is in strictly ascending bit order below 64", "[features]") {
    const auto known = vhnet::known_features();
    REQUIRE(known.size() > 30);
    for (std::size_t i = 1; i < known.size(); ++i)
        CHECK(known[i - 1].bit < known[i].bit);
    CHECK(known.back().bit < 64);
}
