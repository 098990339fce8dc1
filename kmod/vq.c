// SPDX-License-Identifier: GPL-2.0
/*
 * Virtqueue configuration: the per-ring ioctls and the checks that a ring lies in the owner's
 * memory. Every per-ring command starts with the ring index as its first u32, which is read and
 * bounded before the command itself is looked at, as vhost does: a bad pointer is -EFAULT and an
 * index past the last queue -ENOBUFS, whatever the command.
 */
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/nospec.h>
#include <linux/overflow.h>
#include <linux/uaccess.h>
#include <linux/vhost.h>
#include <linux/virtio_byteorder.h>
#include <linux/virtio_config.h>

#include "compat.h"
#include "dev.h"
#include "mem.h"
#include "vq.h"

/* Split ring sizes are powers of two up to 32768 (the 16-bit index must wrap evenly). */
#define VHNET_MAX_RING_NUM	32768

void vhnet_vq_init(struct vhnet_vq *vq, struct vhnet_dev *dev, unsigned int index)
{
	mutex_init(&vq->mutex);
	vhnet_poll_init(&vq->kick_poll, vq->handle_kick, EPOLLIN, &dev->worker);
	vq->dev = dev;
	vq->index = index;
	vq->kick = NULL;
	vq->call_ctx = NULL;
	vq->error_ctx = NULL;
	vhnet_vq_reset(vq);
}

/*
 * Back to the state of a new queue, dropping the eventfds. The backend must already be detached.
 * Caller must hold vq->mutex or otherwise own the queue exclusively.
 */
void vhnet_vq_reset(struct vhnet_vq *vq)
{
	vhnet_poll_stop(&vq->kick_poll);
	if (vq->kick)
		fput(vq->kick);
	if (vq->call_ctx)
		eventfd_ctx_put(vq->call_ctx);
	if (vq->error_ctx)
		eventfd_ctx_put(vq->error_ctx);
	vq->kick = NULL;
	vq->call_ctx = NULL;
	vq->error_ctx = NULL;

	memset(&vq->ring, 0, sizeof(vq->ring));
	vq->ring.num = 1;
	vq->ring.io = vq;
	vq->log_addr = -1ULL;
	vq->busyloop_timeout = 0;
	vhnet_vq_set_features(vq, 0);
	vq->mem = NULL;
	vq->log_base = NULL;
	vq->log_ctx = NULL;
	vq->logged = false;
	vq->private_data = NULL;
	vq->broken = false;
	memset(&vq->stats, 0, sizeof(vq->stats));
}

void vhnet_vq_destroy(struct vhnet_vq *vq)
{
	vhnet_vq_reset(vq);
	mutex_destroy(&vq->mutex);
}

/* Caller must hold vq->mutex. */
void vhnet_vq_set_features(struct vhnet_vq *vq, u64 features)
{
	vq->acked_features = features;
	vq->ring.event_idx = features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
	vq->ring.indirect = features & (1ULL << VIRTIO_RING_F_INDIRECT_DESC);
	vq->ring.notify_on_empty = features & (1ULL << VIRTIO_F_NOTIFY_ON_EMPTY);
}

/* Signal the driver that the ring is broken. Caller must hold vq->mutex. */
void vhnet_vq_error(struct vhnet_vq *vq)
{
	if (vq->error_ctx)
		vhnet_eventfd_signal(vq->error_ctx);
}

/*
 * The driver broke the ring: stop this queue (only this one) until it is configured again,
 * count why (debugfs error_*), and tell the driver through the err eventfd. A guest must not
 * be able to make the host print: only pr_debug, as vhost.
 * Caller must hold vq->mutex.
 */
void vhnet_vq_fail(struct vhnet_vq *vq, enum vhnet_ring_err err)
{
	vq->broken = true;
	vq->stats.errors[err]++;
	pr_debug("vhnet: instance %d queue %u stopped: %s\n", vq->dev->id, vq->index,
		 vhnet_vring_error_name(err));
	vhnet_vq_error(vq);
}

/* Interrupt the driver if it wants to hear of the used entries just added. */
static void vhnet_vq_notify(struct vhnet_vq *vq)
{
	if (vq->call_ctx && vhnet_vring_need_notify(&vq->ring)) {
		vhnet_eventfd_signal(vq->call_ctx);
		vq->stats.calls++;
	} else {
		vq->stats.calls_suppressed++;
	}
}

/*
 * The end of one pass of the queue's handler that moved @pkts packets: the interrupt they may
 * call for, and the pass counted; under the vq mutex.
 */
void vhnet_vq_end_pass(struct vhnet_vq *vq, unsigned int pkts)
{
	unsigned int bucket = pkts ? fls(pkts) : 0;

	if (pkts)
		vhnet_vq_notify(vq);
	vhnet_vq_log_signal(vq);
	vq->stats.passes++;
	vq->stats.pass_pkts[min_t(unsigned int, bucket, VHNET_VQ_PASS_BUCKETS - 1)]++;
}

/*
 * Dirty logging. Pages are logged right after the device writes them, under the vq mutex, so a
 * pass that wrote a page has logged it before the pass ends - and so before a stopped backend
 * (SET_VRING_BACKEND -1, GET_VRING_BASE) lets the owner read the log for the last time. Failures
 * are counted, not fatal: the guest's data is in place, only the owner's bitmap is unreachable.
 */
static void vhnet_vq_log_range(struct vhnet_vq *vq, u64 gpa, u64 len)
{
	long pages = vhnet_log_write(vq->log_base, gpa, len);

	if (pages < 0) {
		vq->stats.log_errors++;
		return;
	}
	vq->stats.log_pages += pages;
	vq->logged = true;
}

/**
 * vhnet_vq_log_write - log what the device wrote into a packet's buffers
 * @vq:		the queue, its mutex held
 * @log:	the device-writable buffers, in the order they were filled
 * @nlog:	how many
 * @len:	bytes the device wrote into them, from the first
 *
 * Only the bytes written are logged, not whole buffers.
 */
void vhnet_vq_log_write(struct vhnet_vq *vq, const struct vhnet_ring_log *log,
			unsigned int nlog, u64 len)
{
	unsigned int i;

	/* the data is visible before its pages are logged */
	smp_wmb();
	for (i = 0; i < nlog && len; i++) {
		u64 l = min(log[i].len, len);

		vhnet_vq_log_range(vq, log[i].addr, l);
		len -= l;
	}
	if (len) {
		/* more written than the buffers hold: the caller's bug, never the guest's */
		WARN_ONCE(1, "vhnet: %llu bytes written beyond the logged buffers\n", len);
		vq->stats.log_errors++;
	}
}

/* Tell the owner that the log has new bits, once for all logged since the last time. */
void vhnet_vq_log_signal(struct vhnet_vq *vq)
{
	if (!vq->logged)
		return;
	vq->logged = false;
	if (vq->log_ctx) {
		vhnet_eventfd_signal(vq->log_ctx);
		vq->stats.log_signals++;
	}
}

/*
 * The ring core's accessors (ring/vring.h). Ring addresses are in the owner's mm, which the
 * caller runs in (the ioctl's caller, or the worker after kthread_use_mm()); buffer addresses
 * are guest physical and go through the queue's memory table.
 */
int vhnet_ring_get16(struct vhnet_vring *r, u16 *val, const __virtio16 __user *p)
{
	__virtio16 v;

	if (get_user(v, p))
		return -EFAULT;
	*val = __virtio16_to_cpu(true, v);
	return 0;
}

int vhnet_ring_put16(struct vhnet_vring *r, u16 val, __virtio16 __user *p)
{
	return put_user(__cpu_to_virtio16(true, val), p) ? -EFAULT : 0;
}

int vhnet_ring_read(struct vhnet_vring *r, void *dst, const void __user *src, size_t len)
{
	return copy_from_user(dst, src, len) ? -EFAULT : 0;
}

int vhnet_ring_write(struct vhnet_vring *r, void __user *dst, const void *src, size_t len)
{
	return copy_to_user(dst, src, len) ? -EFAULT : 0;
}

void vhnet_ring_log_used(struct vhnet_vring *r, size_t offset, size_t len)
{
	struct vhnet_vq *vq = r->io;
	u64 gpa;

	if (check_add_overflow(vq->log_addr, (u64)offset, &gpa)) {
		vq->stats.log_errors++;
		return;
	}
	vhnet_vq_log_range(vq, gpa, len);
}

int vhnet_ring_translate(struct vhnet_vring *r, u64 gpa, u32 len, struct iovec *iov,
			 unsigned int max)
{
	struct vhnet_vq *vq = r->io;
	unsigned int n = 0;

	while (len) {
		const struct vhnet_mem_region *reg = vhnet_mem_find(vq->mem, gpa);
		u64 room, chunk;

		if (!reg)
			return -EFAULT;
		if (n == max)
			return -ENOBUFS;
		room = reg->last - gpa;	/* bytes left in the region, minus one */
		chunk = room < len ? room + 1 : len;
		iov[n].iov_base = u64_to_user_ptr(reg->uaddr + (gpa - reg->start));
		iov[n].iov_len = chunk;
		gpa += chunk;
		len -= chunk;
		n++;
	}
	return n;
}

static size_t vhnet_avail_size(struct vhnet_vq *vq, unsigned int num)
{
	size_t event = vhnet_vq_has_feature(vq, VIRTIO_RING_F_EVENT_IDX) ? 2 : 0;

	return sizeof(struct vring_avail) + sizeof(__virtio16) * num + event;
}

static size_t vhnet_used_size(struct vhnet_vq *vq, unsigned int num)
{
	size_t event = vhnet_vq_has_feature(vq, VIRTIO_RING_F_EVENT_IDX) ? 2 : 0;

	return sizeof(struct vring_used) + sizeof(struct vring_used_elem) * num + event;
}

static bool vhnet_ring_access_ok(struct vhnet_vq *vq, unsigned int num,
				 void __user *desc, void __user *avail, void __user *used)
{
	return access_ok(desc, sizeof(struct vring_desc) * num) &&
	       access_ok(avail, vhnet_avail_size(vq, num)) &&
	       access_ok(used, vhnet_used_size(vq, num));
}

static bool vhnet_log_used_access_ok(struct vhnet_vq *vq, void __user *log_base,
				     bool log_used, u64 log_addr)
{
	if (!log_used)
		return true;
	return vhnet_log_access_ok(log_base, log_addr, vhnet_used_size(vq, vq->ring.num) - 1);
}

/* The dirty log at @log_base covers the queue's memory and used ring. Caller holds vq->mutex. */
bool vhnet_vq_log_access_ok(struct vhnet_vq *vq, void __user *log_base)
{
	return vhnet_mem_access_ok(vq->mem, log_base,
				   vhnet_vq_has_feature(vq, VHOST_F_LOG_ALL)) &&
	       vhnet_log_used_access_ok(vq, log_base, vq->ring.log_used, vq->log_addr);
}

/*
 * The queue may be started: a memory table is set and it, the rings and the dirty log all lie in
 * userspace. Caller must hold vq->mutex.
 */
bool vhnet_vq_access_ok(struct vhnet_vq *vq)
{
	return vhnet_vq_log_access_ok(vq, vq->log_base) &&
	       vhnet_ring_access_ok(vq, vq->ring.num, vq->ring.desc, vq->ring.avail,
				    vq->ring.used);
}

/*
 * A backend was just attached: publish our used->flags and pick up the driver's used->idx, so
 * that a queue stopped and restarted (or migrated) continues where it was.
 * Caller must hold vq->mutex and run in the owner's mm.
 */
int vhnet_vq_init_access(struct vhnet_vq *vq)
{
	struct vhnet_vring *r = &vq->ring;
	__virtio16 used_idx;

	if (!vq->private_data)
		return 0;
	if (vhnet_vring_put_used_flags(r))
		return -EFAULT;
	vhnet_vq_log_signal(vq);
	if (!access_ok(&r->used->idx, sizeof(r->used->idx)))
		return -EFAULT;
	if (get_user(used_idx, &r->used->idx)) {
		vhnet_vq_error(vq);
		return -EFAULT;
	}
	r->last_used_idx = __virtio16_to_cpu(true, used_idx);
	r->signalled_used_valid = false;
	vq->broken = false;
	return 0;
}

static long vhnet_vq_set_num(struct vhnet_vq *vq, void __user *argp)
{
	struct vhost_vring_state s;

	/* Resizing a running ring is not supported. */
	if (vq->private_data)
		return -EBUSY;
	if (copy_from_user(&s, argp, sizeof(s)))
		return -EFAULT;
	if (!s.num || s.num > VHNET_MAX_RING_NUM || (s.num & (s.num - 1)))
		return -EINVAL;
	vq->ring.num = s.num;
	return 0;
}

static long vhnet_vq_set_addr(struct vhnet_vq *vq, void __user *argp)
{
	struct vhost_vring_addr a;
	void __user *desc, *avail, *used;
	bool log_used;

	if (copy_from_user(&a, argp, sizeof(a)))
		return -EFAULT;
	if (a.flags & ~(1U << VHOST_VRING_F_LOG))
		return -EOPNOTSUPP;
	if ((a.avail_user_addr & (VRING_AVAIL_ALIGN_SIZE - 1)) ||
	    (a.used_user_addr & (VRING_USED_ALIGN_SIZE - 1)) ||
	    (a.log_guest_addr & (VRING_USED_ALIGN_SIZE - 1)))
		return -EINVAL;

	desc = u64_to_user_ptr(a.desc_user_addr);
	avail = u64_to_user_ptr(a.avail_user_addr);
	used = u64_to_user_ptr(a.used_user_addr);
	log_used = a.flags & (1U << VHOST_VRING_F_LOG);

	/* A stopped ring is checked when its backend is attached. */
	if (vq->private_data) {
		if (!vhnet_ring_access_ok(vq, vq->ring.num, desc, avail, used))
			return -EINVAL;
		if (!vhnet_log_used_access_ok(vq, vq->log_base, log_used, a.log_guest_addr))
			return -EINVAL;
	}

	vq->ring.log_used = log_used;
	vq->ring.desc = desc;
	vq->ring.avail = avail;
	vq->ring.used = used;
	vq->broken = false;
	vq->log_addr = a.log_guest_addr;
	return 0;
}

static long vhnet_vq_set_base(struct vhnet_vq *vq, void __user *argp)
{
	struct vhost_vring_state s;

	/* Moving the indices under a running ring would corrupt it. */
	if (vq->private_data)
		return -EBUSY;
	if (copy_from_user(&s, argp, sizeof(s)))
		return -EFAULT;
	if (s.num > 0xffff)
		return -EINVAL;
	vq->ring.last_avail_idx = s.num;
	vq->ring.avail_idx = s.num;
	vq->broken = false;
	return 0;
}

static long vhnet_vq_get_u32(struct vhnet_vq *vq, void __user *argp, u32 val)
{
	struct vhost_vring_state s = { .index = vq->index, .num = val };

	return copy_to_user(argp, &s, sizeof(s)) ? -EFAULT : 0;
}

/*
 * Bind or unbind (fd -1) an eventfd. The old file or context is returned through @old for the
 * caller to drop after unlocking.
 */
static long vhnet_vq_set_kick(struct vhnet_vq *vq, int fd, struct file **old)
{
	struct file *f = NULL;

	if (fd != VHOST_FILE_UNBIND) {
		f = eventfd_fget(fd);
		if (IS_ERR(f))
			return PTR_ERR(f);
	}
	if (f == vq->kick) {
		*old = f;	/* the same file again: drop the new reference */
		return 0;
	}
	vhnet_poll_stop(&vq->kick_poll);
	*old = vq->kick;
	vq->kick = f;
	/* an eventfd never reports an error: this cannot fail */
	return f ? vhnet_poll_start(&vq->kick_poll, f) : 0;
}

static long vhnet_vq_set_ctx(struct eventfd_ctx **slot, int fd)
{
	struct eventfd_ctx *ctx = NULL;

	if (fd != VHOST_FILE_UNBIND) {
		ctx = eventfd_ctx_fdget(fd);
		if (IS_ERR(ctx))
			return PTR_ERR(ctx);
	}
	swap(*slot, ctx);
	if (ctx)
		eventfd_ctx_put(ctx);
	return 0;
}

static long vhnet_vq_set_file(struct vhnet_vq *vq, unsigned int cmd, void __user *argp,
			      struct file **old_kick)
{
	struct vhost_vring_file f;

	if (copy_from_user(&f, argp, sizeof(f)))
		return -EFAULT;
	switch (cmd) {
	case VHOST_SET_VRING_KICK:
		return vhnet_vq_set_kick(vq, f.fd, old_kick);
	case VHOST_SET_VRING_CALL:
		return vhnet_vq_set_ctx(&vq->call_ctx, f.fd);
	default:
		return vhnet_vq_set_ctx(&vq->error_ctx, f.fd);
	}
}

/* Caller must hold d->mutex and have checked the owner. */
long vhnet_vq_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp)
{
	struct file *old_kick = NULL;
	struct vhost_vring_state s;
	u32 __user *idxp = argp;
	struct vhnet_vq *vq;
	u32 idx;
	long r;

	r = get_user(idx, idxp);
	if (r < 0)
		return r;
	if (idx >= d->nvqs)
		return -ENOBUFS;
	idx = array_index_nospec(idx, d->nvqs);
	vq = d->vqs[idx];

	mutex_lock(&vq->mutex);
	switch (cmd) {
	case VHOST_SET_VRING_NUM:
		r = vhnet_vq_set_num(vq, argp);
		break;
	case VHOST_SET_VRING_ADDR:
		r = vhnet_vq_set_addr(vq, argp);
		break;
	case VHOST_SET_VRING_BASE:
		r = vhnet_vq_set_base(vq, argp);
		break;
	case VHOST_GET_VRING_BASE:
		r = vhnet_vq_get_u32(vq, argp, vq->ring.last_avail_idx);
		break;
	case VHOST_SET_VRING_KICK:
	case VHOST_SET_VRING_CALL:
	case VHOST_SET_VRING_ERR:
		r = vhnet_vq_set_file(vq, cmd, argp, &old_kick);
		break;
	case VHOST_SET_VRING_BUSYLOOP_TIMEOUT:
		if (copy_from_user(&s, argp, sizeof(s))) {
			r = -EFAULT;
			break;
		}
		vq->busyloop_timeout = s.num;
		r = 0;
		break;
	case VHOST_GET_VRING_BUSYLOOP_TIMEOUT:
		r = vhnet_vq_get_u32(vq, argp, vq->busyloop_timeout);
		break;
	default:
		/*
		 * Including VHOST_SET/GET_VRING_ENDIAN: cross-endian legacy rings are not
		 * supported, as in a vhost built without CONFIG_VHOST_CROSS_ENDIAN_LEGACY.
		 */
		r = -ENOIOCTLCMD;
		break;
	}
	mutex_unlock(&vq->mutex);

	if (old_kick)
		fput(old_kick);
	return r;
}
