// SPDX-License-Identifier: GPL-2.0
/*
 * The split virtqueue, device side. See vring.h for the contract; the comments here say why.
 */
#include "vring.h"

static inline u16 vhnet_ring_slot(const struct vhnet_vring *r, u16 idx)
{
	return idx & (r->num - 1);
}

static const char * const vhnet_ring_err_names[VHNET_RING_ERR_MAX] = {
	[VHNET_RING_OK]			= "ok",
	[VHNET_RING_EFAULT_RING]	= "ring_fault",
	[VHNET_RING_BAD_AVAIL_IDX]	= "bad_avail_idx",
	[VHNET_RING_BAD_HEAD]		= "bad_head",
	[VHNET_RING_BAD_NEXT]		= "bad_next",
	[VHNET_RING_LOOP]		= "desc_loop",
	[VHNET_RING_BAD_ADDR]		= "bad_addr",
	[VHNET_RING_TOO_MANY_SEGS]	= "too_many_segs",
	[VHNET_RING_BAD_INDIRECT]	= "bad_indirect",
	[VHNET_RING_OUT_AFTER_IN]	= "out_after_in",
	[VHNET_RING_BAD_LAYOUT]		= "bad_layout",
};

const char *vhnet_vring_error_name(enum vhnet_ring_err err)
{
	return err < VHNET_RING_ERR_MAX ? vhnet_ring_err_names[err] : "unknown";
}

/* Copy guest memory [gpa, gpa + len) that may span regions (an indirect descriptor). */
static int vhnet_ring_read_guest(struct vhnet_vring *r, void *dst, u64 gpa, u32 len)
{
	struct iovec iov[2];
	char *p = dst;
	int n, i;

	n = vhnet_ring_translate(r, gpa, len, iov, 2);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		if (vhnet_ring_read(r, p, iov[i].iov_base, iov[i].iov_len))
			return -EFAULT;
		p += iov[i].iov_len;
	}
	return 0;
}

/*
 * Append one buffer to the chain's segments, keeping driver-readable ones first. @budget counts
 * down the buffers the chain may still have.
 */
static int vhnet_chain_add(struct vhnet_vring *r, const struct vring_desc *d, struct iovec *iov,
			   unsigned int max, struct vhnet_chain *c, unsigned int *budget,
			   enum vhnet_ring_err *err)
{
	u16 flags = __virtio16_to_cpu(true, d->flags);
	u32 len = __virtio32_to_cpu(true, d->len);
	unsigned int used = c->out + c->in;
	int n;

	if (!*budget) {
		*err = VHNET_RING_LOOP;
		return -ELOOP;
	}
	(*budget)--;

	if (!(flags & VRING_DESC_F_WRITE) && c->in) {
		*err = VHNET_RING_OUT_AFTER_IN;
		return -EINVAL;
	}
	n = vhnet_ring_translate(r, __virtio64_to_cpu(true, d->addr), len, iov + used,
				 max - used);
	if (n < 0) {
		*err = n == -ENOBUFS ? VHNET_RING_TOO_MANY_SEGS : VHNET_RING_BAD_ADDR;
		return n;
	}
	if (flags & VRING_DESC_F_WRITE) {
		if (c->log && len) {
			/* one entry per buffer, and a buffer takes at least one segment */
			if (c->nlog == c->log_max) {
				*err = VHNET_RING_TOO_MANY_SEGS;
				return -ENOBUFS;
			}
			c->log[c->nlog].addr = __virtio64_to_cpu(true, d->addr);
			c->log[c->nlog].len = len;
			c->nlog++;
		}
		c->in += n;
		c->in_len += len;
	} else {
		c->out += n;
		c->out_len += len;
	}
	return 0;
}

/* Walk an indirect table: its own chain of at most len / 16 descriptors, none indirect. */
static int vhnet_chain_indirect(struct vhnet_vring *r, const struct vring_desc *ind,
				struct iovec *iov, unsigned int max, struct vhnet_chain *c,
				unsigned int *budget, enum vhnet_ring_err *err)
{
	u64 table = __virtio64_to_cpu(true, ind->addr);
	u32 len = __virtio32_to_cpu(true, ind->len);
	unsigned int count = len / sizeof(struct vring_desc), seen = 0;
	struct vring_desc d;
	u16 i = 0, flags;
	int ret;

	if (!len || len % sizeof(struct vring_desc) || count > 65536) {
		*err = VHNET_RING_BAD_INDIRECT;
		return -EINVAL;
	}
	for (;;) {
		if (++seen > count) {
			*err = VHNET_RING_LOOP;
			return -ELOOP;
		}
		c->descs++;
		if (vhnet_ring_read_guest(r, &d, table + (u64)i * sizeof(d), sizeof(d))) {
			*err = VHNET_RING_BAD_INDIRECT;
			return -EFAULT;
		}
		flags = __virtio16_to_cpu(true, d.flags);
		if (flags & VRING_DESC_F_INDIRECT) {
			*err = VHNET_RING_BAD_INDIRECT;
			return -EINVAL;
		}
		ret = vhnet_chain_add(r, &d, iov, max, c, budget, err);
		if (ret)
			return ret;
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		i = __virtio16_to_cpu(true, d.next);
		if (i >= count) {
			*err = VHNET_RING_BAD_NEXT;
			return -EINVAL;
		}
	}
}

/**
 * vhnet_vring_get_chain - take the next available descriptor chain
 * @r:		the ring
 * @iov:	receives the chain's buffers, driver-readable ones first
 * @max:	room in @iov
 * @c:		receives the chain's head and segment counts
 * @err:	why the ring is broken, when the return value is negative
 *
 * Return: 1 with a chain, 0 if the ring is empty, a negative errno if the ring is broken (the
 * entry is not consumed; the caller stops the queue).
 */
int vhnet_vring_get_chain(struct vhnet_vring *r, struct iovec *iov, unsigned int max,
			  struct vhnet_chain *c, enum vhnet_ring_err *err)
{
	/*
	 * Buffers one chain may have, in indirect tables too: a chain needs at most one per
	 * segment, and zero-length buffers chained through indirect tables could otherwise keep
	 * the device walking for billions of steps.
	 */
	unsigned int budget = r->num > max ? r->num : max;
	unsigned int seen = 0;
	struct vring_desc d;
	u16 head, i, flags;
	int ret;

	*err = VHNET_RING_OK;
	c->descs = 0;
	if (r->avail_idx == r->last_avail_idx) {
		if (vhnet_ring_get16(r, &r->avail_idx, &r->avail->idx)) {
			*err = VHNET_RING_EFAULT_RING;
			return -EFAULT;
		}
		if (r->avail_idx == r->last_avail_idx)
			return 0;
	}
	/* a driver may publish at most a ring's worth past what we took */
	if ((u16)(r->avail_idx - r->last_avail_idx) > r->num) {
		*err = VHNET_RING_BAD_AVAIL_IDX;
		return -EINVAL;
	}
	/* the entries are read only after the index that published them */
	smp_rmb();

	if (vhnet_ring_get16(r, &head,
			     &r->avail->ring[vhnet_ring_slot(r, r->last_avail_idx)])) {
		*err = VHNET_RING_EFAULT_RING;
		return -EFAULT;
	}
	if (head >= r->num) {
		*err = VHNET_RING_BAD_HEAD;
		return -EINVAL;
	}

	c->head = head;
	c->out = 0;
	c->in = 0;
	c->out_len = 0;
	c->in_len = 0;
	c->nlog = 0;
	i = head;
	for (;;) {
		/* a chain can hold each descriptor once: more is a loop */
		if (++seen > r->num) {
			*err = VHNET_RING_LOOP;
			return -ELOOP;
		}
		c->descs++;
		if (vhnet_ring_read(r, &d, r->desc + i, sizeof(d))) {
			*err = VHNET_RING_EFAULT_RING;
			return -EFAULT;
		}
		flags = __virtio16_to_cpu(true, d.flags);
		if (flags & VRING_DESC_F_INDIRECT)
			ret = vhnet_chain_indirect(r, &d, iov, max, c, &budget, err);
		else
			ret = vhnet_chain_add(r, &d, iov, max, c, &budget, err);
		if (ret)
			return ret;
		if (!(flags & VRING_DESC_F_NEXT))
			break;
		i = __virtio16_to_cpu(true, d.next);
		if (i >= r->num) {
			*err = VHNET_RING_BAD_NEXT;
			return -EINVAL;
		}
	}
	r->last_avail_idx++;
	return 1;
}

/* Report a write to the used ring for the dirty log: after it, and only when asked to. */
static inline void vhnet_vring_log(struct vhnet_vring *r, size_t offset, size_t len)
{
	if (r->log_used) {
		/* the write is visible before the page is logged */
		smp_wmb();
		vhnet_ring_log_used(r, offset, len);
	}
}

#define VHNET_USED_OFF(field)	offsetof(struct vring_used, field)
/* the used ring's entry @slot, and the avail_event after the last one */
#define VHNET_USED_ELEM_OFF(slot)	(VHNET_USED_OFF(ring) + (size_t)(slot) * \
					 sizeof(struct vring_used_elem))

/* Give back the last @n chains taken, to be taken again (e.g. when the backend is full). */
void vhnet_vring_unget(struct vhnet_vring *r, unsigned int n)
{
	r->last_avail_idx -= n;
}

/**
 * vhnet_vring_add_used - return chains to the driver
 * @r:		the ring
 * @elems:	the chains, in ring byte order (id and len little-endian)
 * @n:		how many, at most the ring size
 *
 * Return: 0, -EINVAL for more entries than the ring holds, or -EFAULT if the used ring cannot
 * be written.
 */
int vhnet_vring_add_used(struct vhnet_vring *r, const struct vring_used_elem *elems,
			 unsigned int n)
{
	u16 start = vhnet_ring_slot(r, r->last_used_idx), old = r->last_used_idx, new;
	unsigned int first = n < r->num - start ? n : r->num - start;

	if (n > r->num)
		return -EINVAL;

	if (vhnet_ring_write(r, &r->used->ring[start], elems, first * sizeof(*elems)))
		return -EFAULT;
	vhnet_vring_log(r, VHNET_USED_ELEM_OFF(start), first * sizeof(*elems));
	if (first < n) {
		if (vhnet_ring_write(r, &r->used->ring[0], elems + first,
				     (n - first) * sizeof(*elems)))
			return -EFAULT;
		vhnet_vring_log(r, VHNET_USED_ELEM_OFF(0), (n - first) * sizeof(*elems));
	}
	/* the entries are visible before the index that publishes them */
	smp_wmb();
	new = old + n;
	if (vhnet_ring_put16(r, new, &r->used->idx))
		return -EFAULT;
	vhnet_vring_log(r, VHNET_USED_OFF(idx), sizeof(r->used->idx));
	r->last_used_idx = new;
	/* the driver's used_event may now lie more than a ring behind: compare no more */
	if ((u16)(new - r->signalled_used) < (u16)(new - old))
		r->signalled_used_valid = false;
	return 0;
}

/* Whether the driver wants an interrupt for what was added since the last one. */
bool vhnet_vring_need_notify(struct vhnet_vring *r)
{
	u16 flags, event, old, new;
	bool valid;

	/* the used index is written before the driver's wishes are read */
	smp_mb();
	if (r->notify_on_empty && r->avail_idx == r->last_avail_idx)
		return true;
	if (!r->event_idx) {
		if (vhnet_ring_get16(r, &flags, &r->avail->flags))
			return true;
		return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
	}
	old = r->signalled_used;
	valid = r->signalled_used_valid;
	new = r->last_used_idx;
	r->signalled_used = new;
	r->signalled_used_valid = true;
	if (!valid)
		return true;
	if (vhnet_ring_get16(r, &event, (__virtio16 __user *)&r->avail->ring[r->num]))
		return true;
	return vring_need_event(event, new, old);
}

/* Write used->flags as the device holds them (and log the write). */
int vhnet_vring_put_used_flags(struct vhnet_vring *r)
{
	if (vhnet_ring_put16(r, r->used_flags, &r->used->flags))
		return -EFAULT;
	vhnet_vring_log(r, VHNET_USED_OFF(flags), sizeof(r->used->flags));
	return 0;
}

/* Ask the driver not to kick: we are about to poll the ring anyway. */
int vhnet_vring_disable_notify(struct vhnet_vring *r)
{
	if (r->used_flags & VRING_USED_F_NO_NOTIFY)
		return 0;
	r->used_flags |= VRING_USED_F_NO_NOTIFY;
	if (r->event_idx)
		return 0;
	return vhnet_vring_put_used_flags(r);
}

/*
 * Ask the driver to kick again, then look once more: a buffer published before the driver saw
 * the request would otherwise wait for a kick that never comes. *@more says the driver
 * published something since the index was last read - not that unprocessed entries remain:
 * entries given back with vhnet_vring_unget() wait for the next kick.
 */
int vhnet_vring_enable_notify(struct vhnet_vring *r, bool *more)
{
	u16 idx;
	int ret;

	*more = false;
	if (!(r->used_flags & VRING_USED_F_NO_NOTIFY))
		return 0;
	r->used_flags &= ~VRING_USED_F_NO_NOTIFY;
	if (!r->event_idx) {
		ret = vhnet_vring_put_used_flags(r);
		if (ret)
			return ret;
	} else {
		ret = vhnet_ring_put16(r, r->avail_idx,
				       (__virtio16 __user *)&r->used->ring[r->num]);
		if (ret)
			return ret;
		vhnet_vring_log(r, VHNET_USED_ELEM_OFF(r->num), sizeof(__virtio16));
	}
	/* the request is visible before the index is read again */
	smp_mb();
	if (vhnet_ring_get16(r, &idx, &r->avail->idx))
		return -EFAULT;
	*more = idx != r->avail_idx;
	return 0;
}

int vhnet_vring_avail_empty(struct vhnet_vring *r, bool *empty)
{
	*empty = false;
	if (r->avail_idx != r->last_avail_idx)
		return 0;
	if (vhnet_ring_get16(r, &r->avail_idx, &r->avail->idx))
		return -EFAULT;
	*empty = r->avail_idx == r->last_avail_idx;
	return 0;
}
