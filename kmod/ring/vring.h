/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The split virtqueue, device side: take descriptor chains from the avail ring, return them
 * through the used ring, decide when to notify. Plain C with no networking and no kernel
 * service beyond the five accessors below, so that the same file compiles into the module and
 * into a host build where unit tests and a fuzzer drive it (tests/unit/ring/).
 *
 * Nothing read from the ring is trusted: every index is bounded by the ring size, every chain
 * by the ring size (indirect tables by their own length), loops are detected, and guest
 * addresses are only ever turned into iovecs through vhnet_ring_translate().
 */
#ifndef VHNET_RING_VRING_H
#define VHNET_RING_VRING_H

#ifdef __KERNEL__
#include <asm/barrier.h>
#include <linux/errno.h>
#include <linux/types.h>
#include <linux/uio.h>
#include <linux/virtio_byteorder.h>
#include <linux/virtio_ring.h>
#else
#include "ring_host.h"
#endif

/* Why a ring was found broken; each stops only its queue (see vhnet_vring_error_name()). */
enum vhnet_ring_err {
	VHNET_RING_OK = 0,
	VHNET_RING_EFAULT_RING,		/* the ring itself could not be read or written */
	VHNET_RING_BAD_AVAIL_IDX,	/* avail->idx moved by more than the ring size */
	VHNET_RING_BAD_HEAD,		/* an avail entry names no descriptor */
	VHNET_RING_BAD_NEXT,		/* a descriptor's next names no descriptor */
	VHNET_RING_LOOP,		/* a chain longer than its table (a loop) or than allowed */
	VHNET_RING_BAD_ADDR,		/* a buffer outside the memory table */
	VHNET_RING_TOO_MANY_SEGS,	/* more buffer segments than the caller can take */
	VHNET_RING_BAD_INDIRECT,	/* an indirect table of bad size, unreadable, or nested */
	VHNET_RING_OUT_AFTER_IN,	/* a driver-readable buffer after a device-writable one */
	VHNET_RING_BAD_LAYOUT,		/* a chain the device cannot use (set by the device) */
	VHNET_RING_ERR_MAX,
};

/**
 * struct vhnet_vring - a split ring as the device sees it
 * @num:	ring size, a power of two
 * @desc, @avail, @used: the ring's three parts, in the owner's address space
 * @last_avail_idx: next avail entry to take
 * @avail_idx:	avail->idx as last read
 * @last_used_idx: next used entry to fill
 * @used_flags:	what the device last wrote to used->flags
 * @signalled_used: last_used_idx when the driver was last notified
 * @signalled_used_valid: @signalled_used may be compared with (EVENT_IDX)
 * @event_idx:	VIRTIO_RING_F_EVENT_IDX negotiated
 * @indirect:	VIRTIO_RING_F_INDIRECT_DESC negotiated
 * @notify_on_empty: VIRTIO_F_NOTIFY_ON_EMPTY negotiated
 * @log_used:	every write to the used ring is reported through vhnet_ring_log_used(), for the
 *		dirty log (VHOST_VRING_F_LOG)
 * @io:		the accessors' context (the kernel's vq, or the host test's memory)
 */
struct vhnet_vring {
	unsigned int num;
	struct vring_desc __user *desc;
	struct vring_avail __user *avail;
	struct vring_used __user *used;
	u16 last_avail_idx;
	u16 avail_idx;
	u16 last_used_idx;
	u16 used_flags;
	u16 signalled_used;
	bool signalled_used_valid;
	bool event_idx;
	bool indirect;
	bool notify_on_empty;
	bool log_used;
	void *io;
};

/* Accessors, provided by whoever links the core: 0 or -EFAULT. */
int vhnet_ring_get16(struct vhnet_vring *r, u16 *val, const __virtio16 __user *p);
int vhnet_ring_put16(struct vhnet_vring *r, u16 val, __virtio16 __user *p);
int vhnet_ring_read(struct vhnet_vring *r, void *dst, const void __user *src, size_t len);
int vhnet_ring_write(struct vhnet_vring *r, void __user *dst, const void *src, size_t len);
/*
 * Map guest [gpa, gpa + len) to host segments appended at @iov (at most @max of them): the
 * number of segments, -EFAULT if some byte is not in guest memory, -ENOBUFS if @max is too few.
 */
int vhnet_ring_translate(struct vhnet_vring *r, u64 gpa, u32 len, struct iovec *iov,
			 unsigned int max);
/*
 * The device wrote [@offset, @offset + @len) of the used ring (only called with @log_used): the
 * accessor marks those guest pages dirty. Called after the write and a write barrier.
 */
void vhnet_ring_log_used(struct vhnet_vring *r, size_t offset, size_t len);

/**
 * struct vhnet_ring_log - a device-writable buffer of a chain, for the dirty log
 * @addr:	its guest physical address
 * @len:	its length in bytes (never 0)
 */
struct vhnet_ring_log {
	u64 addr;
	u64 len;
};

/**
 * struct vhnet_chain - one descriptor chain taken from the ring
 * @head:	its head descriptor's index, for vhnet_vring_add_used()
 * @out:	number of driver-readable segments, first in the iovec
 * @in:		number of device-writable segments, after them
 * @out_len, @in_len: their total bytes
 * @log:	set by the caller: where to record the chain's device-writable buffers (one entry
 *		per descriptor, guest physical), or NULL not to record them
 * @log_max:	set by the caller: room in @log
 * @nlog:	entries recorded in @log
 * @descs:	descriptors read for the chain, indirect ones included (work done, for the
 *		caller's weight: set on success and on a broken ring alike)
 */
struct vhnet_chain {
	u16 head;
	unsigned int out;
	unsigned int in;
	size_t out_len;
	size_t in_len;
	struct vhnet_ring_log *log;
	unsigned int log_max;
	unsigned int nlog;
	unsigned int descs;
};

int vhnet_vring_get_chain(struct vhnet_vring *r, struct iovec *iov, unsigned int max,
			  struct vhnet_chain *c, enum vhnet_ring_err *err);
void vhnet_vring_unget(struct vhnet_vring *r, unsigned int n);
int vhnet_vring_add_used(struct vhnet_vring *r, const struct vring_used_elem *elems,
			 unsigned int n);
bool vhnet_vring_need_notify(struct vhnet_vring *r);
int vhnet_vring_put_used_flags(struct vhnet_vring *r);
int vhnet_vring_disable_notify(struct vhnet_vring *r);
int vhnet_vring_enable_notify(struct vhnet_vring *r, bool *more);
int vhnet_vring_avail_empty(struct vhnet_vring *r, bool *empty);
const char *vhnet_vring_error_name(enum vhnet_ring_err err);

#endif /* VHNET_RING_VRING_H */
