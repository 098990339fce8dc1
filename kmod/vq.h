/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VHNET_VQ_H
#define VHNET_VQ_H

#include <linux/mutex.h>
#include <linux/types.h>

struct vhnet_dev;

/**
 * struct vhnet_vq - one virtqueue: ring layout, indices and eventfds; nothing about networking
 * @mutex:	serialises ring changes and ring processing; taken after the device mutex
 * @dev:	the device this queue belongs to
 * @index:	the queue's number in its device
 */
struct vhnet_vq {
	struct mutex mutex;
	struct vhnet_dev *dev;
	unsigned int index;
};

void vhnet_vq_init(struct vhnet_vq *vq, struct vhnet_dev *dev, unsigned int index);
void vhnet_vq_cleanup(struct vhnet_vq *vq);
long vhnet_vq_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp);

#endif /* VHNET_VQ_H */
