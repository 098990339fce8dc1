/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VHNET_VQ_H
#define VHNET_VQ_H

#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/virtio_ring.h>

struct eventfd_ctx;
struct file;
struct vhnet_dev;
struct vhnet_mem;

/**
 * struct vhnet_vq - one virtqueue: ring layout, indices and eventfds; nothing about networking
 *
 * All fields but @dev and @index are protected by @mutex, which is taken after the device mutex.
 *
 * @dev:	the device this queue belongs to
 * @index:	the queue's number in its device
 * @num:	ring size (VHOST_SET_VRING_NUM); 1 until set, as in vhost
 * @desc:	descriptor table in the owner's mm
 * @avail:	driver (available) ring
 * @used:	device (used) ring
 * @log_used:	log writes to the used ring (VHOST_VRING_F_LOG)
 * @log_addr:	guest address of the used ring, for the dirty log
 * @last_avail_idx: next avail entry the device will take
 * @avail_idx:	last avail->idx read from the driver
 * @last_used_idx: next used entry the device will fill
 * @used_flags:	what the device last wrote to used->flags
 * @kick:	eventfd the driver signals (VHOST_SET_VRING_KICK)
 * @call_ctx:	eventfd the device signals for an interrupt (VHOST_SET_VRING_CALL)
 * @error_ctx:	eventfd the device signals on a ring error (VHOST_SET_VRING_ERR)
 * @busyloop_timeout: busy-poll budget in about microseconds; 0 = off
 * @acked_features: the device's negotiated features, copied here for the datapath
 * @mem:	the device's memory table, switched under @mutex
 * @log_base:	dirty bitmap in the owner's mm (VHOST_SET_LOG_BASE)
 * @private_data: the backend (a struct socket for vhnet-net); NULL when stopped
 */
struct vhnet_vq {
	struct mutex mutex;
	struct vhnet_dev *dev;
	unsigned int index;

	unsigned int num;
	struct vring_desc __user *desc;
	struct vring_avail __user *avail;
	struct vring_used __user *used;
	bool log_used;
	u64 log_addr;

	u16 last_avail_idx;
	u16 avail_idx;
	u16 last_used_idx;
	u16 used_flags;

	struct file *kick;
	struct eventfd_ctx *call_ctx;
	struct eventfd_ctx *error_ctx;
	u32 busyloop_timeout;

	u64 acked_features;
	struct vhnet_mem *mem;
	void __user *log_base;
	void *private_data;
};

void vhnet_vq_init(struct vhnet_vq *vq, struct vhnet_dev *dev, unsigned int index);
void vhnet_vq_reset(struct vhnet_vq *vq);
void vhnet_vq_destroy(struct vhnet_vq *vq);
long vhnet_vq_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp);

bool vhnet_vq_access_ok(struct vhnet_vq *vq);
bool vhnet_vq_log_access_ok(struct vhnet_vq *vq, void __user *log_base);
int vhnet_vq_init_access(struct vhnet_vq *vq);
void vhnet_vq_error(struct vhnet_vq *vq);

static inline bool vhnet_vq_has_feature(const struct vhnet_vq *vq, unsigned int bit)
{
	return vq->acked_features & (1ULL << bit);
}

#endif /* VHNET_VQ_H */
