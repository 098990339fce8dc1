// SPDX-License-Identifier: GPL-2.0
/*
 * Virtqueue configuration: the per-ring ioctls. Every per-ring command starts with the ring index
 * as its first u32, which is read and bounded before the command itself is looked at, as vhost
 * does: a bad pointer is -EFAULT and an index past the last queue -ENOBUFS, whatever the command.
 */
#include <linux/nospec.h>
#include <linux/uaccess.h>

#include "dev.h"
#include "vq.h"

void vhnet_vq_init(struct vhnet_vq *vq, struct vhnet_dev *dev, unsigned int index)
{
	mutex_init(&vq->mutex);
	vq->dev = dev;
	vq->index = index;
}

void vhnet_vq_cleanup(struct vhnet_vq *vq)
{
	mutex_destroy(&vq->mutex);
}

/* Caller must hold d->mutex and have checked the owner. */
long vhnet_vq_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp)
{
	u32 __user *idxp = argp;
	struct vhnet_vq *vq;
	u32 idx;
	long r;

	r = get_user(idx, idxp);
	if (r < 0)
		return r;
	if (idx >= VHNET_NVQS)
		return -ENOBUFS;
	idx = array_index_nospec(idx, VHNET_NVQS);
	vq = &d->vqs[idx];

	mutex_lock(&vq->mutex);
	switch (cmd) {
	default:
		r = -ENOIOCTLCMD;
		break;
	}
	mutex_unlock(&vq->mutex);
	return r;
}
