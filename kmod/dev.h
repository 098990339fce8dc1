/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VHNET_DEV_H
#define VHNET_DEV_H

#include <linux/mutex.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/types.h>
#include <linux/wait.h>

#include "vq.h"
#include "worker.h"

struct dentry;
struct eventfd_ctx;
struct iov_iter;
struct mm_struct;
struct vhnet_mem;

/**
 * struct vhnet_dev - the generic half of a vhost device: owner, memory, rings; no networking
 *
 * @mutex:	serialises configuration; taken before any vq mutex
 * @mm:		the owner's address space, pinned by VHOST_SET_OWNER; protected by @mutex
 * @owner_pid:	thread group id of the owner, for debugfs; protected by @mutex
 * @owner_comm:	command name of the owner, for debugfs; protected by @mutex
 * @mem:	memory table; NULL until the first VHOST_SET_MEM_TABLE; protected by @mutex
 *		(each vq has its own copy of the pointer, switched under the vq mutex)
 * @log_ctx:	eventfd signalled after dirty-log writes; protected by @mutex
 * @acked_features: features set by VHOST_SET_FEATURES; protected by @mutex
 * @acked_backend_features: set by VHOST_SET_BACKEND_FEATURES; protected by @mutex
 * @iotlb_enabled: VIRTIO_F_ACCESS_PLATFORM was acked since open or reset; protected by @mutex
 * @worker:	runs the queues; started by VHOST_SET_OWNER, stopped with the owner
 * @wait:	readers of IOTLB messages on the device file
 * @vqs:	the device's queues
 * @nvqs:	number of entries in @vqs
 * @id:		instance number, the name of its debugfs folder
 * @debugfs:	the instance's debugfs folder, or an error pointer
 */
struct vhnet_dev {
	struct mutex mutex;
	struct mm_struct *mm;
	pid_t owner_pid;
	char owner_comm[TASK_COMM_LEN];
	struct vhnet_mem *mem;
	struct eventfd_ctx *log_ctx;
	u64 acked_features;
	u64 acked_backend_features;
	bool iotlb_enabled;
	struct vhnet_worker worker;
	wait_queue_head_t wait;
	struct vhnet_vq **vqs;
	unsigned int nvqs;
	int id;
	struct dentry *debugfs;
};

int vhnet_dev_init(struct vhnet_dev *d, struct vhnet_vq **vqs, unsigned int nvqs);
void vhnet_dev_cleanup(struct vhnet_dev *d);
void vhnet_dev_exit(struct vhnet_dev *d);
void vhnet_dev_flush(struct vhnet_dev *d);

int vhnet_dev_set_owner(struct vhnet_dev *d);
int vhnet_dev_check_owner(struct vhnet_dev *d);
void vhnet_dev_reset_owner(struct vhnet_dev *d, struct vhnet_mem *empty);
bool vhnet_dev_mem_access_ok(struct vhnet_dev *d, struct vhnet_mem *mem, bool log_all);
long vhnet_dev_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp);

ssize_t vhnet_dev_read(struct vhnet_dev *d, struct iov_iter *to, bool nonblock);
ssize_t vhnet_dev_write(struct vhnet_dev *d, struct iov_iter *from);
__poll_t vhnet_dev_poll(struct vhnet_dev *d, struct file *file, poll_table *wait);

/* Caller must hold d->mutex. */
static inline bool vhnet_dev_has_owner(struct vhnet_dev *d)
{
	return d->mm;
}

int vhnet_dev_live_count(void);

#endif /* VHNET_DEV_H */
