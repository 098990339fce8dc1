// SPDX-License-Identifier: GPL-2.0
/*
 * vhnet networking: the ioctls of the net device (features, owner, backend) and, with the
 * datapath, TX and RX between the virtqueues and the tap socket.
 */
#include <linux/uaccess.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "dev.h"
#include "net.h"

/*
 * The feature bits offered by VHOST_GET_FEATURES: every bit the in-tree vhost-net offers, so
 * that a client sees the same device. Bits vhnet adds later are offered here as well, and stay
 * off unless the driver negotiates them.
 */
#define VHNET_FEATURES                                                         \
	((1ULL << VIRTIO_F_NOTIFY_ON_EMPTY) |                                  \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |                               \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VHOST_F_LOG_ALL) |       \
	 (1ULL << VIRTIO_F_ANY_LAYOUT) | (1ULL << VIRTIO_F_VERSION_1) |        \
	 (1ULL << VHOST_NET_F_VIRTIO_NET_HDR) |                                \
	 (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_F_ACCESS_PLATFORM))

static long vhnet_net_set_owner(struct vhnet_dev *d)
{
	long r;

	mutex_lock(&d->mutex);
	r = vhnet_dev_set_owner(d);
	mutex_unlock(&d->mutex);
	return r;
}

/* The net device's own ioctls; -ENOIOCTLCMD for anything else. */
long vhnet_net_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp)
{
	u64 __user *featurep = argp;
	u64 features;

	switch (cmd) {
	case VHOST_GET_FEATURES:
		features = VHNET_FEATURES;
		if (copy_to_user(featurep, &features, sizeof(features)))
			return -EFAULT;
		return 0;
	case VHOST_SET_OWNER:
		return vhnet_net_set_owner(d);
	default:
		return -ENOIOCTLCMD;
	}
}
