// SPDX-License-Identifier: GPL-2.0
/*
 * vhnet device core: the owner, the memory table, the dirty-log settings and the device file's
 * read/write/poll (the IOTLB message channel). It knows queues only as struct vhnet_vq and
 * nothing about sockets: net.c builds the network device on top.
 */
#include <linux/atomic.h>
#include <linux/eventfd.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uio.h>
#include <linux/vhost.h>

#include "debugfs.h"
#include "dev.h"
#include "mem.h"

static ushort max_mem_regions = 64;
module_param(max_mem_regions, ushort, 0444);
MODULE_PARM_DESC(max_mem_regions,
		 "Maximum number of memory regions in memory map. (default: 64)");

static DEFINE_IDA(vhnet_ida);
/* Devices initialised and not yet exited: shown in debugfs so tests can prove nothing leaks. */
static atomic_t vhnet_live = ATOMIC_INIT(0);

int vhnet_dev_live_count(void)
{
	return atomic_read(&vhnet_live);
}

int vhnet_dev_init(struct vhnet_dev *d, struct vhnet_vq **vqs, unsigned int nvqs)
{
	unsigned int i;
	int id;

	id = ida_alloc(&vhnet_ida, GFP_KERNEL);
	if (id < 0)
		return id;
	d->id = id;
	mutex_init(&d->mutex);
	init_waitqueue_head(&d->wait);
	d->vqs = vqs;
	d->nvqs = nvqs;
	for (i = 0; i < nvqs; i++)
		vhnet_vq_init(vqs[i], d, i);
	atomic_inc(&vhnet_live);
	vhnet_debugfs_add_dev(d);
	return 0;
}

/*
 * Drop everything the owner set up: eventfds, ring state, memory table, the owner itself.
 * Backends must be detached already. Caller must hold d->mutex (or be releasing the device).
 */
void vhnet_dev_cleanup(struct vhnet_dev *d)
{
	unsigned int i;

	for (i = 0; i < d->nvqs; i++) {
		mutex_lock(&d->vqs[i]->mutex);
		vhnet_vq_reset(d->vqs[i]);
		mutex_unlock(&d->vqs[i]->mutex);
	}
	if (d->log_ctx)
		eventfd_ctx_put(d->log_ctx);
	d->log_ctx = NULL;
	vhnet_mem_free(d->mem);
	d->mem = NULL;
	d->acked_features = 0;
	d->acked_backend_features = 0;
	d->iotlb_enabled = false;
	/* blocked readers of IOTLB messages see the channel gone */
	wake_up_interruptible_poll(&d->wait, EPOLLIN | EPOLLRDNORM);

	vhnet_worker_stop(&d->worker);
	if (d->mm)
		mmput(d->mm);
	d->mm = NULL;
	d->owner_pid = 0;
	d->owner_comm[0] = '\0';
}

/* The last step of release, after vhnet_dev_cleanup(): nothing may use @d afterwards. */
void vhnet_dev_exit(struct vhnet_dev *d)
{
	unsigned int i;

	vhnet_debugfs_del_dev(d);
	for (i = 0; i < d->nvqs; i++)
		vhnet_vq_destroy(d->vqs[i]);
	mutex_destroy(&d->mutex);
	ida_free(&vhnet_ida, d->id);
	atomic_dec(&vhnet_live);
}

/*
 * Make the calling process the owner: only it (its mm) may configure the device from now on,
 * and guest addresses are translated in its address space.
 * Caller must hold d->mutex.
 */
int vhnet_dev_set_owner(struct vhnet_dev *d)
{
	char name[TASK_COMM_LEN];
	int r;

	if (vhnet_dev_has_owner(d))
		return -EBUSY;
	d->mm = get_task_mm(current);
	if (!d->mm)
		return -EINVAL;
	snprintf(name, sizeof(name), "vhnet-%d", current->pid);
	r = vhnet_worker_start(&d->worker, d->mm, name);
	if (r) {
		mmput(d->mm);
		d->mm = NULL;
		return r;
	}
	d->owner_pid = task_tgid_nr(current);
	get_task_comm(d->owner_comm, current);
	return 0;
}

/* Wait until the worker has run everything queued so far. */
void vhnet_dev_flush(struct vhnet_dev *d)
{
	vhnet_worker_flush(&d->worker);
}

/*
 * Threads of the owner share its mm and so may configure the device; a forked child or the
 * owner after execve() may not. Caller must hold d->mutex.
 */
int vhnet_dev_check_owner(struct vhnet_dev *d)
{
	return d->mm == current->mm ? 0 : -EPERM;
}

/*
 * Back to a freshly opened device, except that the memory table is @empty rather than unset
 * (as in vhost). Backends must be detached already. Caller must hold d->mutex.
 */
void vhnet_dev_reset_owner(struct vhnet_dev *d, struct vhnet_mem *empty)
{
	unsigned int i;

	vhnet_dev_cleanup(d);
	d->mem = empty;
	for (i = 0; i < d->nvqs; i++) {
		mutex_lock(&d->vqs[i]->mutex);
		d->vqs[i]->mem = empty;
		mutex_unlock(&d->vqs[i]->mutex);
	}
}

/*
 * @mem (and with @log_all or VHOST_F_LOG_ALL, its dirty bitmap) is accessible for every running
 * queue; stopped queues are checked when started. Caller must hold d->mutex.
 */
bool vhnet_dev_mem_access_ok(struct vhnet_dev *d, struct vhnet_mem *mem, bool log_all)
{
	unsigned int i;
	bool ok = true;

	for (i = 0; i < d->nvqs && ok; i++) {
		struct vhnet_vq *vq = d->vqs[i];

		mutex_lock(&vq->mutex);
		if (vq->private_data)
			ok = vhnet_mem_access_ok(mem, vq->log_base,
						 log_all || vhnet_vq_has_feature(vq, VHOST_F_LOG_ALL));
		mutex_unlock(&vq->mutex);
	}
	return ok;
}

static long vhnet_dev_set_mem_table(struct vhnet_dev *d, struct vhost_memory __user *m)
{
	struct vhnet_mem *mem, *old;
	unsigned int i;

	mem = vhnet_mem_from_user(m, max_mem_regions);
	if (IS_ERR(mem))
		return PTR_ERR(mem);
	if (!vhnet_dev_mem_access_ok(d, mem, false)) {
		vhnet_mem_free(mem);
		return -EFAULT;
	}

	old = d->mem;
	d->mem = mem;
	for (i = 0; i < d->nvqs; i++) {
		mutex_lock(&d->vqs[i]->mutex);
		d->vqs[i]->mem = mem;
		mutex_unlock(&d->vqs[i]->mutex);
	}
	/* no queue can see the old table any more */
	vhnet_mem_free(old);
	return 0;
}

/* A running queue keeps its old base if the new one does not cover it, as vhost does. */
static long vhnet_dev_set_log_base(struct vhnet_dev *d, u64 __user *argp)
{
	void __user *base;
	unsigned int i;
	long r = 0;
	u64 p;

	if (copy_from_user(&p, argp, sizeof(p)))
		return -EFAULT;
	base = u64_to_user_ptr(p);
	for (i = 0; i < d->nvqs; i++) {
		struct vhnet_vq *vq = d->vqs[i];

		mutex_lock(&vq->mutex);
		if (vq->private_data && !vhnet_vq_log_access_ok(vq, base))
			r = -EFAULT;
		else
			vq->log_base = base;
		mutex_unlock(&vq->mutex);
	}
	return r;
}

static long vhnet_dev_set_log_fd(struct vhnet_dev *d, int __user *argp)
{
	struct eventfd_ctx *ctx = NULL;
	unsigned int i;
	int fd;

	if (get_user(fd, argp))
		return -EFAULT;
	if (fd != VHOST_FILE_UNBIND) {
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
	}
	swap(d->log_ctx, ctx);
	/* the queues use the device's reference, switched under their mutexes */
	for (i = 0; i < d->nvqs; i++) {
		mutex_lock(&d->vqs[i]->mutex);
		d->vqs[i]->log_ctx = d->log_ctx;
		mutex_unlock(&d->vqs[i]->mutex);
	}
	if (ctx)
		eventfd_ctx_put(ctx);
	return 0;
}

/*
 * Device-wide ioctls that need an owner. Returns -ENOIOCTLCMD for a command that is not
 * device-wide, after the owner check, exactly as vhost does: a non-owner gets -EPERM for
 * any command that reaches this point, before its argument is read.
 * Caller must hold d->mutex.
 */
long vhnet_dev_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp)
{
	long r;

	r = vhnet_dev_check_owner(d);
	if (r)
		return r;

	switch (cmd) {
	case VHOST_SET_MEM_TABLE:
		return vhnet_dev_set_mem_table(d, argp);
	case VHOST_SET_LOG_BASE:
		return vhnet_dev_set_log_base(d, argp);
	case VHOST_SET_LOG_FD:
		return vhnet_dev_set_log_fd(d, argp);
	default:
		return -ENOIOCTLCMD;
	}
}

/*
 * The IOTLB message channel. vhnet has no device IOTLB yet, so no message is ever queued: a
 * read returns what vhost's does with an empty queue - nothing for a short buffer, -EAGAIN
 * without blocking, -EBADFD without an IOTLB, and with VIRTIO_F_ACCESS_PLATFORM acked it waits
 * until a signal or a reset.
 */
ssize_t vhnet_dev_read(struct vhnet_dev *d, struct iov_iter *to, bool nonblock)
{
	DEFINE_WAIT(wait);
	ssize_t r;

	if (iov_iter_count(to) < sizeof(struct vhost_msg))
		return 0;
	if (nonblock)
		return -EAGAIN;

	for (;;) {
		prepare_to_wait(&d->wait, &wait, TASK_INTERRUPTIBLE);
		if (signal_pending(current)) {
			r = -ERESTARTSYS;
			break;
		}
		if (!READ_ONCE(d->iotlb_enabled)) {
			r = -EBADFD;
			break;
		}
		schedule();
	}
	finish_wait(&d->wait, &wait);
	return r;
}

/*
 * A message is parsed and refused as vhost refuses it: -EINVAL when malformed, -EFAULT when
 * well formed but not applicable (no IOTLB to update or invalidate).
 */
ssize_t vhnet_dev_write(struct vhnet_dev *d, struct iov_iter *from)
{
	struct vhost_iotlb_msg msg;
	int type;

	if (copy_from_iter(&type, sizeof(type), from) != sizeof(type))
		return -EINVAL;
	switch (type) {
	case VHOST_IOTLB_MSG:
		/* the hole before the v1 message's union */
		iov_iter_advance(from, offsetof(struct vhost_msg, iotlb) - sizeof(int));
		break;
	case VHOST_IOTLB_MSG_V2:
		/* the asid, unused: VHOST_BACKEND_F_IOTLB_ASID is not offered */
		iov_iter_advance(from, sizeof(u32));
		break;
	default:
		return -EINVAL;
	}
	if (copy_from_iter(&msg, sizeof(msg), from) != sizeof(msg))
		return -EINVAL;
	if (msg.type == VHOST_IOTLB_UPDATE && msg.size == 0)
		return -EINVAL;
	return -EFAULT;
}

__poll_t vhnet_dev_poll(struct vhnet_dev *d, struct file *file, poll_table *wait)
{
	poll_wait(file, &d->wait, wait);
	return 0;	/* no IOTLB message is ever queued for reading */
}
