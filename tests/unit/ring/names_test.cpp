// vhnet_vring_error_name(): every ring error has its own name (debugfs and logs show them).
#include "ring_test.h"

#include <map>
#include <set>
#include <string>

TEST_CASE("error names", "[ring][names]") {
    const std::map<vhnet_ring_err, std::string> names = {
        {VHNET_RING_OK, "ok"},
        {VHNET_RING_EFAULT_RING, "ring_fault"},
        {VHNET_RING_BAD_AVAIL_IDX, "bad_avail_idx"},
        {VHNET_RING_BAD_HEAD, "bad_head"},
        {VHNET_RING_BAD_NEXT, "bad_next"},
        {VHNET_RING_LOOP, "desc_loop"},
        {VHNET_RING_BAD_ADDR, "bad_addr"},
        {VHNET_RING_TOO_MANY_SEGS, "too_many_segs"},
        {VHNET_RING_BAD_INDIRECT, "bad_indirect"},
        {VHNET_RING_OUT_AFTER_IN, "out_after_in"},
        {VHNET_RING_BAD_LAYOUT, "bad_layout"},
    };
    // every code, and only those, is in the table above
    REQUIRE(names.size() == VHNET_RING_ERR_MAX);
    std::set<std::string> seen;
    for (unsigned i = 0; i < VHNET_RING_ERR_MAX; i++) {
        const auto err = static_cast<vhnet_ring_err>(i);
        INFO("code " << i);
        const char *name = vhnet_vring_error_name(err);
        REQUIRE(name != nullptr);
        CHECK(name == names.at(err));
        CHECK(seen.insert(name).second);
    }
    CHECK(std::string(vhnet_vring_error_name(VHNET_RING_ERR_MAX)) == "unknown");
    CHECK(std::string(vhnet_vring_error_name(static_cast<vhnet_ring_err>(15))) == "unknown");
}
