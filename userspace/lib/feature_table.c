/*
 * The names of the feature bits, in C because <linux/virtio_net.h> is not valid C++ (struct
 * virtio_net_ctrl_hdr has a member named "class") and the bit numbers should come from the kernel's
 * uapi headers rather than be typed again.
 */
#include "feature_table.h"

#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

/*
 * Bit 27 means two things: to a virtio driver it is VIRTIO_F_ANY_LAYOUT; to a vhost-net backend,
 * acked through VHOST_SET_FEATURES, it is VHOST_NET_F_VIRTIO_NET_HDR ("vhost adds and strips the
 * virtio-net header, the tap does not"). The in-tree vhost-net offers it for both reasons.
 */
_Static_assert(VIRTIO_F_ANY_LAYOUT == VHOST_NET_F_VIRTIO_NET_HDR, "bit 27 has two names");

/* In ascending bit order. */
const struct vhnet_feature_entry vhnet_feature_table[] = {
    /* virtio-net device features */
    {VIRTIO_NET_F_CSUM, "csum"},
    {VIRTIO_NET_F_GUEST_CSUM, "guest_csum"},
    {VIRTIO_NET_F_CTRL_GUEST_OFFLOADS, "ctrl_guest_offloads"},
    {VIRTIO_NET_F_MTU, "mtu"},
    {VIRTIO_NET_F_MAC, "mac"},
    {VIRTIO_NET_F_GSO, "gso"},
    {VIRTIO_NET_F_GUEST_TSO4, "guest_tso4"},
    {VIRTIO_NET_F_GUEST_TSO6, "guest_tso6"},
    {VIRTIO_NET_F_GUEST_ECN, "guest_ecn"},
    {VIRTIO_NET_F_GUEST_UFO, "guest_ufo"},
    {VIRTIO_NET_F_HOST_TSO4, "host_tso4"},
    {VIRTIO_NET_F_HOST_TSO6, "host_tso6"},
    {VIRTIO_NET_F_HOST_ECN, "host_ecn"},
    {VIRTIO_NET_F_HOST_UFO, "host_ufo"},
    {VIRTIO_NET_F_MRG_RXBUF, "mrg_rxbuf"},
    {VIRTIO_NET_F_STATUS, "status"},
    {VIRTIO_NET_F_CTRL_VQ, "ctrl_vq"},
    {VIRTIO_NET_F_CTRL_RX, "ctrl_rx"},
    {VIRTIO_NET_F_CTRL_VLAN, "ctrl_vlan"},
    {VIRTIO_NET_F_CTRL_RX_EXTRA, "ctrl_rx_extra"},
    {VIRTIO_NET_F_GUEST_ANNOUNCE, "guest_announce"},
    {VIRTIO_NET_F_MQ, "mq"},
    {VIRTIO_NET_F_CTRL_MAC_ADDR, "ctrl_mac_addr"},
    /* transport and vhost features */
    {VIRTIO_F_NOTIFY_ON_EMPTY, "notify_on_empty"},
    {VHOST_F_LOG_ALL, "log_all"},
    {VHOST_NET_F_VIRTIO_NET_HDR, "any_layout/net_hdr"},
    {VIRTIO_RING_F_INDIRECT_DESC, "indirect_desc"},
    {VIRTIO_RING_F_EVENT_IDX, "event_idx"},
    {VIRTIO_F_VERSION_1, "version_1"},
    {VIRTIO_F_ACCESS_PLATFORM, "access_platform"},
    {VIRTIO_F_RING_PACKED, "ring_packed"},
    {VIRTIO_F_IN_ORDER, "in_order"},
    {VIRTIO_F_ORDER_PLATFORM, "order_platform"},
    {VIRTIO_F_SR_IOV, "sr_iov"},
    {VIRTIO_F_RING_RESET, "ring_reset"},
    /* virtio-net device features above the transport range */
    {VIRTIO_NET_F_NOTF_COAL, "notf_coal"},
    {VIRTIO_NET_F_HASH_REPORT, "hash_report"},
    {VIRTIO_NET_F_RSS, "rss"},
    {VIRTIO_NET_F_RSC_EXT, "rsc_ext"},
    {VIRTIO_NET_F_STANDBY, "standby"},
    {VIRTIO_NET_F_SPEED_DUPLEX, "speed_duplex"},
};

const unsigned vhnet_feature_table_len =
    sizeof(vhnet_feature_table) / sizeof(vhnet_feature_table[0]);
