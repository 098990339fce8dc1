/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VHNET_VQ_H
#define VHNET_VQ_H

#include <linux/mutex.h>
#include <linux/types.h>
#include <linux/vhost_types.h>
#include <linux/virtio_ring.h>

#include "ring/vring.h"
#include "worker.h"

struct eventfd_ctx;
struct file;
struct vhnet_dev;
struct vhnet_mem;

/* Segments of one packet: as many as a socket message may have. */
#define VHNET_VQ_IOV	UIO_MAXIOV

/* Buckets of the packets-per-pass histogram: 0, then one per power of two up to 256+. */
#define VHNET_VQ_PASS_BUCKETS	10

/**
 * struct vhnet_vq_stats - what a queue did; protected by the vq mutex
 * @packets, @bytes: moved through the queue
 * @kicks:	passes started by the driver's kick
 * @calls:	interrupts signalled
 * @calls_suppressed: passes that added used entries but needed no interrupt
 * @passes:	runs of the queue's handler with a backend
 * @ring_empty:	times the handler found no buffer
 * @tap_full:	times TX stopped because the socket was full
 * @dropped:	packets the device dropped (send errors, RX packets too big for the buffers)
 * @starts, @stops: times a backend was attached to the stopped queue, detached from a running one
 * @pass_pkts:	passes by the packets they moved: 0, 1, 2-3, 4-7 ... 128-255, 256 and more
 * @errors:	times the ring was found broken, by kind
 * @weight_exceeded: passes ended by the weight (and queued again) rather than by running out
 * @tx_too_long: TX packets longer than a 64 KiB frame, dropped before the socket
 * @log_pages:	dirty-log bits set (one per 4 KiB guest page per write, repeats included)
 * @log_signals: times the log eventfd was signalled
 * @log_errors:	writes whose pages could not be logged (the bitmap is not mapped writable)
 */
struct vhnet_vq_stats {
	u64 packets;
	u64 bytes;
	u64 kicks;
	u64 calls;
	u64 calls_suppressed;
	u64 passes;
	u64 ring_empty;
	u64 tap_full;
	u64 dropped;
	u64 starts;
	u64 stops;
	u64 pass_pkts[VHNET_VQ_PASS_BUCKETS];
	u64 errors[VHNET_RING_ERR_MAX];
	u64 weight_exceeded;
	u64 tx_too_long;
	u64 log_pages;
	u64 log_signals;
	u64 log_errors;
};

/**
 * struct vhnet_vq - one virtqueue: ring layout, indices and eventfds; nothing about networking
 *
 * All fields but @dev and @index are protected by @mutex, which is taken after the device mutex.
 *
 * @dev:	the device this queue belongs to
 * @index:	the queue's number in its device
 * @ring:	the split ring: size (1 until VHOST_SET_VRING_NUM, as in vhost), addresses in
 *		the owner's mm, indices, notification state, whether used-ring writes are
 *		logged (VHOST_VRING_F_LOG)
 * @log_addr:	guest address of the used ring, for the dirty log
 * @kick:	eventfd the driver signals (VHOST_SET_VRING_KICK)
 * @call_ctx:	eventfd the device signals for an interrupt (VHOST_SET_VRING_CALL)
 * @error_ctx:	eventfd the device signals on a ring error (VHOST_SET_VRING_ERR)
 * @busyloop_timeout: busy-poll budget in about microseconds; 0 = off
 * @acked_features: the device's negotiated features, copied here for the datapath
 * @mem:	the device's memory table, switched under @mutex
 * @log_base:	dirty bitmap in the owner's mm (VHOST_SET_LOG_BASE)
 * @log_ctx:	the device's log eventfd (VHOST_SET_LOG_FD), copied here under @mutex; the
 *		device holds the reference
 * @logged:	pages were logged since the log eventfd was last signalled
 * @private_data: the backend (a struct socket for vhnet-net); NULL when stopped
 * @broken:	a ring error stopped the queue until it is configured again
 * @handle_kick: runs when the kick eventfd fires; set by the device before init
 * @kick_poll:	polls @kick
 * @stats:	counters, shown in debugfs
 * @iov:	the segments of the chains being processed
 * @log:	the device-writable buffers of those chains, for the dirty log
 */
struct vhnet_vq {
	struct mutex mutex;
	struct vhnet_dev *dev;
	unsigned int index;

	struct vhnet_vring ring;
	u64 log_addr;

	struct file *kick;
	struct eventfd_ctx *call_ctx;
	struct eventfd_ctx *error_ctx;
	u32 busyloop_timeout;

	u64 acked_features;
	struct vhnet_mem *mem;
	void __user *log_base;
	struct eventfd_ctx *log_ctx;
	bool logged;
	void *private_data;
	bool broken;

	vhnet_work_fn_t handle_kick;
	struct vhnet_poll kick_poll;
	struct vhnet_vq_stats stats;
	struct iovec iov[VHNET_VQ_IOV];
	struct vhnet_ring_log log[VHNET_VQ_IOV];
};

void vhnet_vq_init(struct vhnet_vq *vq, struct vhnet_dev *dev, unsigned int index);
void vhnet_vq_reset(struct vhnet_vq *vq);
void vhnet_vq_destroy(struct vhnet_vq *vq);
long vhnet_vq_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp);

bool vhnet_vq_access_ok(struct vhnet_vq *vq);
bool vhnet_vq_log_access_ok(struct vhnet_vq *vq, void __user *log_base);
int vhnet_vq_init_access(struct vhnet_vq *vq);
void vhnet_vq_error(struct vhnet_vq *vq);
void vhnet_vq_set_features(struct vhnet_vq *vq, u64 features);
void vhnet_vq_fail(struct vhnet_vq *vq, enum vhnet_ring_err err);
void vhnet_vq_end_pass(struct vhnet_vq *vq, unsigned int pkts);
void vhnet_vq_log_write(struct vhnet_vq *vq, const struct vhnet_ring_log *log,
			unsigned int nlog, u64 len);
void vhnet_vq_log_signal(struct vhnet_vq *vq);

static inline bool vhnet_vq_has_feature(const struct vhnet_vq *vq, unsigned int bit)
{
	return vq->acked_features & (1ULL << bit);
}

/* Where to record a chain's device-writable buffers: only while every write is logged. */
static inline struct vhnet_ring_log *vhnet_vq_log_array(struct vhnet_vq *vq)
{
	return unlikely(vhnet_vq_has_feature(vq, VHOST_F_LOG_ALL)) ? vq->log : NULL;
}

#endif /* VHNET_VQ_H */
