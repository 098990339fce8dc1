/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VHNET_DEV_H
#define VHNET_DEV_H

#include <linux/mutex.h>
#include <linux/types.h>

#include "vq.h"

/* One queue pair: receive (guest RX) and transmit (guest TX), numbered as virtio-net does. */
enum {
	VHNET_VQ_RX = 0,
	VHNET_VQ_TX = 1,
	VHNET_NVQS = 2,
};

struct dentry;
struct mm_struct;

/**
 * struct vhnet_dev - one open file of /dev/vhnet: one vhost device, one queue pair
 * @mutex:	serialises every configuration change; taken before any vq mutex
 * @mm:		the owner's address space, pinned by VHOST_SET_OWNER; protected by @mutex
 * @owner_pid:	thread group id of the owner, for debugfs; protected by @mutex
 * @owner_comm:	command name of the owner, for debugfs; protected by @mutex
 * @acked_features: features set by VHOST_SET_FEATURES; protected by @mutex
 * @vqs:	the virtqueues, indexed by VHNET_VQ_RX and VHNET_VQ_TX
 * @id:		instance number, the name of its debugfs folder
 * @debugfs:	the instance's debugfs folder, or an error pointer
 */
struct vhnet_dev {
	struct mutex mutex;
	struct mm_struct *mm;
	pid_t owner_pid;
	char owner_comm[16];
	u64 acked_features;
	struct vhnet_vq vqs[VHNET_NVQS];
	int id;
	struct dentry *debugfs;
};

struct vhnet_dev *vhnet_dev_alloc(void);
void vhnet_dev_free(struct vhnet_dev *d);
int vhnet_dev_set_owner(struct vhnet_dev *d);
/* Caller must hold d->mutex. */
long vhnet_dev_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp);

/* Caller must hold d->mutex. */
static inline bool vhnet_dev_has_owner(struct vhnet_dev *d)
{
	return d->mm;
}

int vhnet_dev_live_count(void);

#endif /* VHNET_DEV_H */
