// SPDX-License-Identifier: GPL-2.0
/*
 * vhnet networking: the net device on top of the generic core - its features, the virtio-net
 * header sizes, the backend socket (a tap, a tun/macvtap queue, or a raw packet socket) - and,
 * with the datapath, TX and RX between the virtqueues and that socket.
 */
#include <linux/file.h>
#include <linux/if_packet.h>
#include <linux/if_tap.h>
#include <linux/if_tun.h>
#include <linux/net.h>
#include <linux/nospec.h>
#include <linux/poll.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <linux/if_vlan.h>
#include <linux/virtio_byteorder.h>
#include <net/sock.h>

#include "compat.h"

#include "dev.h"
#include "mem.h"
#include "net.h"

/*
 * The feature bits offered by VHOST_GET_FEATURES: every bit the in-tree vhost-net offers, so
 * that a client sees the same device. Bits vhnet adds later are offered here as well, and stay
 * off unless the driver negotiates them.
 */
#define VHNET_FEATURES                                                         \
	((1ULL << VIRTIO_F_NOTIFY_ON_EMPTY) |                                  \
	 (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |                               \
	 (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VHOST_F_LOG_ALL) |       \
	 (1ULL << VIRTIO_F_ANY_LAYOUT) | (1ULL << VIRTIO_F_VERSION_1) |        \
	 (1ULL << VHOST_NET_F_VIRTIO_NET_HDR) |                                \
	 (1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_F_ACCESS_PLATFORM))

#define VHNET_BACKEND_FEATURES	(1ULL << VHOST_BACKEND_F_IOTLB_MSG_V2)

enum {
	VHNET_VQ_RX = 0,
	VHNET_VQ_TX = 1,
	VHNET_NVQS = 2,
};

/*
 * Work bounds for one pass of a handler, so that one queue cannot starve the other queue, the
 * other devices on the worker's CPU, or the CPU itself: past either, the pass ends and queues
 * itself again.
 */
#define VHNET_PKT_WEIGHT	256
#define VHNET_BYTE_WEIGHT	0x80000
/*
 * Descriptors one pass may read: a guest's chains can be 32768 descriptors long, and RX may
 * walk chains it then gives back; 65536 lets 256 packets of 256 buffers through.
 */
#define VHNET_DESC_WEIGHT	65536

/* The largest frame TX passes to the socket: a 64 KiB GSO packet, plus its header. */
#define VHNET_TX_MAX_LEN	(65536 + sizeof(struct virtio_net_hdr_mrg_rxbuf))

/* Most receive buffers one packet may take with mergeable buffers. */
#define VHNET_RX_MAX_HEADS	UIO_MAXIOV

/**
 * struct vhnet_net_vq - a virtqueue with what the net device keeps per queue
 * @vq:		the generic queue
 * @vhost_hlen:	virtio-net header bytes vhnet adds (RX) or strips (TX) itself
 * @sock_hlen:	virtio-net header bytes the socket carries
 * @sock_poll:	wakes the queue when the backend is writable (TX) or readable (RX)
 * @heads:	the used entries of the packet being received (RX)
 * All but @sock_poll's wake-up are protected by vq.mutex.
 */
struct vhnet_net_vq {
	struct vhnet_vq vq;
	size_t vhost_hlen;
	size_t sock_hlen;
	struct vhnet_poll sock_poll;
	struct vring_used_elem heads[VHNET_RX_MAX_HEADS];
};

/* One open file of /dev/vhnet: one queue pair. */
struct vhnet_net {
	struct vhnet_dev dev;
	struct vhnet_net_vq vqs[VHNET_NVQS];
	struct vhnet_vq *vq_ptrs[VHNET_NVQS];
};

static struct vhnet_net *to_net(struct vhnet_dev *d)
{
	return container_of(d, struct vhnet_net, dev);
}

static struct vhnet_net_vq *to_nvq(struct vhnet_vq *vq)
{
	return container_of(vq, struct vhnet_net_vq, vq);
}

/*
 * Past a pass's weight: queue the handler again and end this pass. @iters counts every turn of
 * a handler's loop - packets moved, dropped or retried alike - so that no path can keep the
 * worker (and the vq mutex) longer; @descs the descriptors read.
 */
static bool vhnet_net_exceeds_weight(struct vhnet_vq *vq, int iters, size_t bytes,
				     unsigned int descs)
{
	if (iters < VHNET_PKT_WEIGHT && bytes < VHNET_BYTE_WEIGHT && descs < VHNET_DESC_WEIGHT)
		return false;
	vq->stats.weight_exceeded++;
	vhnet_poll_queue(&vq->kick_poll);
	return true;
}

static struct vring_used_elem vhnet_used_elem(u16 head, u32 len)
{
	return (struct vring_used_elem) {
		.id = __cpu_to_virtio32(true, head),
		.len = __cpu_to_virtio32(true, len),
	};
}

/*
 * TX: each chain the guest made available is one packet, sent as is (with the guest's
 * virtio-net header when the socket takes one) and returned with length 0. A full socket puts
 * the chain back and waits for the socket to be writable.
 */
static void vhnet_handle_tx(struct vhnet_net_vq *nvq, bool kicked)
{
	struct vhnet_vq *vq = &nvq->vq;
	struct vhnet_vring *r = &vq->ring;
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT };
	enum vhnet_ring_err err;
	struct vring_used_elem used;
	/* TX writes no buffer: only the used ring is logged */
	struct vhnet_chain c = { .log = NULL };
	struct socket *sock;
	size_t total = 0, len;
	int pkts = 0, iters = 0, ret;
	unsigned int descs = 0;
	bool more;

	mutex_lock_nested(&vq->mutex, VHNET_VQ_TX);
	sock = vq->private_data;
	if (!sock || vq->broken)
		goto out;
	vq->stats.kicks += kicked;
	/* the socket is polled again only when it turns out full */
	vhnet_poll_stop(&nvq->sock_poll);
	if (vhnet_vring_disable_notify(r)) {
		vhnet_vq_fail(vq, VHNET_RING_EFAULT_RING);
		goto done;
	}

	do {
		ret = vhnet_vring_get_chain(r, vq->iov, ARRAY_SIZE(vq->iov), &c, &err);
		descs += c.descs;
		if (ret < 0) {
			vhnet_vq_fail(vq, err);
			break;
		}
		if (!ret) {
			vq->stats.ring_empty++;
			if (vhnet_vring_enable_notify(r, &more)) {
				vhnet_vq_fail(vq, VHNET_RING_EFAULT_RING);
				break;
			}
			if (!more)
				break;
			vhnet_vring_disable_notify(r);
			continue;
		}
		/* a packet to send has bytes, and nothing for the device to write */
		if (c.in || !c.out_len || c.out_len < nvq->vhost_hlen) {
			vhnet_vq_fail(vq, VHNET_RING_BAD_LAYOUT);
			break;
		}

		iov_iter_init(&msg.msg_iter, ITER_SOURCE, vq->iov, c.out, c.out_len);
		/* the socket takes no header: drop the guest's */
		iov_iter_advance(&msg.msg_iter, nvq->vhost_hlen);
		len = iov_iter_count(&msg.msg_iter);
		if (len > VHNET_TX_MAX_LEN) {
			/* larger than any frame: never handed to the socket, the chain is consumed */
			vq->stats.tx_too_long++;
			len = 0;
			ret = -EMSGSIZE;
		} else {
			ret = sock->ops->sendmsg(sock, &msg, len);
		}
		if (ret == -EAGAIN || ret == -ENOMEM || ret == -ENOBUFS) {
			vhnet_vring_unget(r, 1);
			vq->stats.tap_full++;
			vhnet_poll_start(&nvq->sock_poll, sock->file);
			break;
		}
		if (ret < 0)
			vq->stats.dropped++;	/* as vhost: the chain is consumed */
		else	/* the frame, as the tap counts it: no virtio-net header */
			vq->stats.bytes += len - nvq->sock_hlen;

		used = vhnet_used_elem(c.head, 0);
		if (vhnet_vring_add_used(r, &used, 1)) {
			vhnet_vq_fail(vq, VHNET_RING_EFAULT_RING);
			break;
		}
		vq->stats.packets++;
		pkts++;
		total += len;
	} while (!vhnet_net_exceeds_weight(vq, ++iters, total, descs));
done:
	vhnet_vq_end_pass(vq, pkts);
out:
	mutex_unlock(&vq->mutex);
}

/* Length of the next packet the socket holds, 0 if none. */
static int vhnet_peek_len(struct socket *sock)
{
	struct sock *sk = sock->sk;
	struct sk_buff *head;
	unsigned long flags;
	int len = 0;

	if (sock->ops->peek_len)
		return sock->ops->peek_len(sock);
	spin_lock_irqsave(&sk->sk_receive_queue.lock, flags);
	head = skb_peek(&sk->sk_receive_queue);
	if (head) {
		len = head->len;
		if (skb_vlan_tag_present(head))
			len += VLAN_HLEN;
	}
	spin_unlock_irqrestore(&sk->sk_receive_queue.lock, flags);
	return len;
}

/* Result of collecting receive buffers for one packet. */
enum vhnet_rx_bufs {
	VHNET_RX_NONE,		/* the ring has no (or too few) buffers now */
	VHNET_RX_OK,
	VHNET_RX_TOO_SMALL,	/* buffers the packet can never fit: drop the packet */
	VHNET_RX_BROKEN,	/* the ring is broken: *err says why */
};

/*
 * Take enough guest buffers for @want bytes: one chain, or with mergeable buffers as many as
 * needed, their used lengths in nvq->heads. With @log, their device-writable buffers are
 * recorded there (*@nlog of them) for the dirty log. On anything but VHNET_RX_OK the chains
 * are given back.
 */
static enum vhnet_rx_bufs vhnet_get_rx_bufs(struct vhnet_net_vq *nvq, size_t want,
					    unsigned int quota, unsigned int *count,
					    unsigned int *segs, struct vhnet_ring_log *log,
					    unsigned int *nlog, unsigned int *descs,
					    enum vhnet_ring_err *err)
{
	struct vhnet_vq *vq = &nvq->vq;
	unsigned int heads = 0, seg = 0, logged = 0;
	struct vhnet_chain c;
	size_t take;
	int ret;

	while (want && heads < quota) {
		c.log = log ? log + logged : NULL;
		c.log_max = ARRAY_SIZE(vq->log) - logged;
		ret = vhnet_vring_get_chain(&vq->ring, vq->iov + seg, ARRAY_SIZE(vq->iov) - seg,
					    &c, err);
		*descs += c.descs;
		if (ret < 0 && *err == VHNET_RING_TOO_MANY_SEGS && heads) {
			/* out of segments for this packet, not a broken ring */
			vhnet_vring_unget(&vq->ring, heads);
			return VHNET_RX_TOO_SMALL;
		}
		if (ret < 0) {
			vhnet_vring_unget(&vq->ring, heads);
			return VHNET_RX_BROKEN;
		}
		if (!ret) {
			vhnet_vring_unget(&vq->ring, heads);
			return VHNET_RX_NONE;
		}
		/* a receive buffer has room, and nothing for the device to read */
		if (c.out || !c.in) {
			*err = VHNET_RING_BAD_LAYOUT;
			vhnet_vring_unget(&vq->ring, heads + 1);
			return VHNET_RX_BROKEN;
		}
		take = min(c.in_len, want);
		nvq->heads[heads++] = vhnet_used_elem(c.head, take);
		want -= take;
		seg += c.in;
		logged += c.nlog;
	}
	if (want) {
		vhnet_vring_unget(&vq->ring, heads);
		return VHNET_RX_TOO_SMALL;
	}
	*count = heads;
	*segs = seg;
	*nlog = logged;
	return VHNET_RX_OK;
}

/*
 * Throw away the socket's next packet: it fits no buffer the guest can give. The socket must
 * be given room (a tun file reads nothing into an empty iterator), but not the guest's: one
 * byte of ours, and MSG_TRUNC so the rest is discarded.
 */
static void vhnet_rx_drop(struct socket *sock)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_TRUNC };
	char byte;
	struct kvec one = { .iov_base = &byte, .iov_len = 1 };

	iov_iter_kvec(&msg.msg_iter, ITER_DEST, &one, 1, 1);
	sock->ops->recvmsg(sock, &msg, 1, MSG_DONTWAIT | MSG_TRUNC);
}

/*
 * RX: for each packet the socket holds, take enough guest buffers, receive into them (behind a
 * header vhnet writes itself when the socket has none), fill in num_buffers, and return them.
 * Without buffers the queue stops polling the socket until the guest kicks: packets wait in the
 * socket, which drops only what it would drop anyway.
 */
static void vhnet_handle_rx(struct vhnet_net_vq *nvq, bool kicked)
{
	struct vhnet_vq *vq = &nvq->vq;
	struct vhnet_vring *r = &vq->ring;
	struct virtio_net_hdr_mrg_rxbuf hdr = {
		.hdr.flags = 0,
		.hdr.gso_type = VIRTIO_NET_HDR_GSO_NONE,
	};
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_TRUNC };
	unsigned int heads, segs, quota, nlog = 0;
	struct vhnet_ring_log *log;
	enum vhnet_ring_err err;
	struct iov_iter fixup;
	struct socket *sock;
	size_t total = 0, want;
	int pkts = 0, iters = 0, sock_len, ret;
	unsigned int descs = 0;
	bool mergeable, more;
	__virtio16 num_buffers;

	mutex_lock_nested(&vq->mutex, VHNET_VQ_RX);
	sock = vq->private_data;
	if (!sock || vq->broken)
		goto out;
	vq->stats.kicks += kicked;
	if (vhnet_vring_disable_notify(r)) {
		vhnet_vq_fail(vq, VHNET_RING_EFAULT_RING);
		goto done;
	}
	mergeable = vhnet_vq_has_feature(vq, VIRTIO_NET_F_MRG_RXBUF);
	/*
	 * One packet never takes more buffers than the ring holds, even from a driver that
	 * publishes the same heads again while we collect them.
	 */
	quota = mergeable ? min_t(unsigned int, VHNET_RX_MAX_HEADS, r->num) : 1;
	/* with VHOST_F_LOG_ALL every page the device writes is logged */
	log = vhnet_vq_log_array(vq);

	do {
		sock_len = vhnet_peek_len(sock);
		if (sock_len <= 0) {
			/* all received: wait for the socket */
			vhnet_poll_start(&nvq->sock_poll, sock->file);
			break;
		}
		sock_len += nvq->sock_hlen;
		want = sock_len + nvq->vhost_hlen;

		switch (vhnet_get_rx_bufs(nvq, want, quota, &heads, &segs, log, &nlog, &descs,
					  &err)) {
		case VHNET_RX_OK:
			break;
		case VHNET_RX_TOO_SMALL:
			vhnet_rx_drop(sock);
			vq->stats.dropped++;
			continue;
		case VHNET_RX_BROKEN:
			vhnet_vq_fail(vq, err);
			goto done;
		case VHNET_RX_NONE:
			vq->stats.ring_empty++;
			if (vhnet_vring_enable_notify(r, &more)) {
				vhnet_vq_fail(vq, VHNET_RING_EFAULT_RING);
				goto done;
			}
			if (more) {
				vhnet_vring_disable_notify(r);
				continue;
			}
			/* no buffers: wait for the guest's kick, not for more packets */
			vhnet_poll_stop(&nvq->sock_poll);
			goto done;
		}

		iov_iter_init(&msg.msg_iter, ITER_DEST, vq->iov, segs, want);
		fixup = msg.msg_iter;
		/* the header vhnet writes itself goes first */
		iov_iter_advance(&msg.msg_iter, nvq->vhost_hlen);
		ret = sock->ops->recvmsg(sock, &msg, sock_len, MSG_DONTWAIT | MSG_TRUNC);
		if (ret != sock_len) {
			/* the packet went away or changed under us: give the buffers back */
			vhnet_vring_unget(r, heads);
			continue;
		}
		num_buffers = __cpu_to_virtio16(true, heads);
		if (nvq->vhost_hlen) {
			hdr.num_buffers = num_buffers;
			if (copy_to_iter(&hdr, nvq->vhost_hlen, &fixup) != nvq->vhost_hlen) {
				vhnet_vq_fail(vq, VHNET_RING_BAD_ADDR);
				goto done;
			}
		} else if (mergeable) {
			iov_iter_advance(&fixup, offsetof(struct virtio_net_hdr_mrg_rxbuf,
							  num_buffers));
			if (copy_to_iter(&num_buffers, sizeof(num_buffers), &fixup) !=
			    sizeof(num_buffers)) {
				vhnet_vq_fail(vq, VHNET_RING_BAD_ADDR);
				goto done;
			}
		}
		if (vhnet_vring_add_used(r, nvq->heads, heads)) {
			vhnet_vq_fail(vq, VHNET_RING_EFAULT_RING);
			goto done;
		}
		/* header, num_buffers and payload: exactly the bytes written */
		if (unlikely(log))
			vhnet_vq_log_write(vq, log, nlog, want);
		vq->stats.packets++;
		vq->stats.bytes += sock_len - nvq->sock_hlen;
		pkts++;
		total += want;
	} while (!vhnet_net_exceeds_weight(vq, ++iters, total, descs));
done:
	vhnet_vq_end_pass(vq, pkts);
out:
	mutex_unlock(&vq->mutex);
}

static void vhnet_handle_tx_kick(struct vhnet_work *work)
{
	struct vhnet_vq *vq = container_of(work, struct vhnet_vq, kick_poll.work);

	vhnet_handle_tx(to_nvq(vq), true);
}

static void vhnet_handle_rx_kick(struct vhnet_work *work)
{
	struct vhnet_vq *vq = container_of(work, struct vhnet_vq, kick_poll.work);

	vhnet_handle_rx(to_nvq(vq), true);
}

static void vhnet_handle_tx_sock(struct vhnet_work *work)
{
	vhnet_handle_tx(container_of(work, struct vhnet_net_vq, sock_poll.work), false);
}

static void vhnet_handle_rx_sock(struct vhnet_work *work)
{
	vhnet_handle_rx(container_of(work, struct vhnet_net_vq, sock_poll.work), false);
}

struct vhnet_dev *vhnet_net_open(void)
{
	struct vhnet_net *n;
	int i, r;

	n = kvzalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
	if (!n)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < VHNET_NVQS; i++)
		n->vq_ptrs[i] = &n->vqs[i].vq;
	n->vqs[VHNET_VQ_TX].vq.handle_kick = vhnet_handle_tx_kick;
	n->vqs[VHNET_VQ_RX].vq.handle_kick = vhnet_handle_rx_kick;
	r = vhnet_dev_init(&n->dev, n->vq_ptrs, VHNET_NVQS);
	if (r) {
		kvfree(n);
		return ERR_PTR(r);
	}
	vhnet_poll_init(&n->vqs[VHNET_VQ_TX].sock_poll, vhnet_handle_tx_sock, EPOLLOUT,
			&n->dev.worker);
	vhnet_poll_init(&n->vqs[VHNET_VQ_RX].sock_poll, vhnet_handle_rx_sock, EPOLLIN,
			&n->dev.worker);
	return &n->dev;
}

/*
 * Detach the backend of one queue and return it for the caller to put once the worker is
 * flushed.
 */
static struct socket *vhnet_net_stop_vq(struct vhnet_net_vq *nvq)
{
	struct socket *sock;

	mutex_lock(&nvq->vq.mutex);
	sock = nvq->vq.private_data;
	vhnet_poll_stop(&nvq->sock_poll);
	nvq->vq.private_data = NULL;
	if (sock)
		nvq->vq.stats.stops++;
	mutex_unlock(&nvq->vq.mutex);
	return sock;
}

/* Detach both backends and wait until no handler can be using them. */
static void vhnet_net_stop(struct vhnet_net *n, struct socket **tx, struct socket **rx)
{
	*tx = vhnet_net_stop_vq(&n->vqs[VHNET_VQ_TX]);
	*rx = vhnet_net_stop_vq(&n->vqs[VHNET_VQ_RX]);
	vhnet_dev_flush(&n->dev);
}

static void vhnet_net_reset_hlen(struct vhnet_net *n)
{
	int i;

	for (i = 0; i < VHNET_NVQS; i++) {
		n->vqs[i].vhost_hlen = 0;
		n->vqs[i].sock_hlen = 0;
	}
}

void vhnet_net_release(struct vhnet_dev *d)
{
	struct vhnet_net *n = to_net(d);
	struct socket *tx, *rx;

	vhnet_net_stop(n, &tx, &rx);
	mutex_lock(&d->mutex);
	vhnet_dev_cleanup(d);
	mutex_unlock(&d->mutex);
	vhnet_dev_exit(d);
	if (tx)
		sockfd_put(tx);
	if (rx)
		sockfd_put(rx);
	kvfree(n);
}

static long vhnet_net_set_owner(struct vhnet_net *n)
{
	long r;

	mutex_lock(&n->dev.mutex);
	r = vhnet_dev_set_owner(&n->dev);
	mutex_unlock(&n->dev.mutex);
	return r;
}

static long vhnet_net_reset_owner(struct vhnet_net *n)
{
	struct socket *tx = NULL, *rx = NULL;
	struct vhnet_mem *empty;
	long r;

	mutex_lock(&n->dev.mutex);
	r = vhnet_dev_check_owner(&n->dev);
	if (r)
		goto out;
	empty = vhnet_mem_empty();
	if (!empty) {
		r = -ENOMEM;
		goto out;
	}
	vhnet_net_stop(n, &tx, &rx);
	vhnet_dev_reset_owner(&n->dev, empty);
	vhnet_net_reset_hlen(n);
out:
	mutex_unlock(&n->dev.mutex);
	if (tx)
		sockfd_put(tx);
	if (rx)
		sockfd_put(rx);
	return r;
}

static long vhnet_net_set_features(struct vhnet_net *n, u64 features)
{
	size_t vhost_hlen, sock_hlen, hdr_len;
	int i;

	hdr_len = (features & ((1ULL << VIRTIO_NET_F_MRG_RXBUF) | (1ULL << VIRTIO_F_VERSION_1))) ?
		  sizeof(struct virtio_net_hdr_mrg_rxbuf) : sizeof(struct virtio_net_hdr);
	if (features & (1ULL << VHOST_NET_F_VIRTIO_NET_HDR)) {
		/* vhnet adds and strips the header: the socket has none */
		vhost_hlen = hdr_len;
		sock_hlen = 0;
	} else {
		/* the socket (a tap with IFF_VNET_HDR) carries it */
		vhost_hlen = 0;
		sock_hlen = hdr_len;
	}

	mutex_lock(&n->dev.mutex);
	if ((features & (1ULL << VHOST_F_LOG_ALL)) &&
	    !vhnet_dev_mem_access_ok(&n->dev, n->dev.mem, true)) {
		mutex_unlock(&n->dev.mutex);
		return -EFAULT;
	}
	if (features & (1ULL << VIRTIO_F_ACCESS_PLATFORM))
		WRITE_ONCE(n->dev.iotlb_enabled, true);
	n->dev.acked_features = features;
	for (i = 0; i < VHNET_NVQS; i++) {
		mutex_lock(&n->vqs[i].vq.mutex);
		vhnet_vq_set_features(&n->vqs[i].vq, features);
		n->vqs[i].vhost_hlen = vhost_hlen;
		n->vqs[i].sock_hlen = sock_hlen;
		mutex_unlock(&n->vqs[i].vq.mutex);
	}
	mutex_unlock(&n->dev.mutex);
	return 0;
}

/* A raw packet socket: vhost accepts one as a backend, so vhnet does too. */
static struct socket *vhnet_get_raw_socket(int fd)
{
	struct socket *sock;
	int r;

	sock = sockfd_lookup(fd, &r);
	if (!sock)
		return ERR_PTR(r);
	if (sock->sk->sk_type != SOCK_RAW || sock->sk->sk_family != AF_PACKET) {
		sockfd_put(sock);
		return ERR_PTR(-ESOCKTNOSUPPORT);
	}
	return sock;
}

/* The socket of a tun/tap queue file or of a macvtap/ipvtap file. */
static struct socket *vhnet_get_tap_socket(int fd)
{
	struct file *file = fget(fd);
	struct socket *sock;

	if (!file)
		return ERR_PTR(-EBADF);
	sock = tun_get_socket(file);
	if (!IS_ERR(sock))
		return sock;
	sock = tap_get_socket(file);
	if (IS_ERR(sock))
		fput(file);
	return sock;
}

/* The backend named by @fd, NULL for fd -1; a reference to its file is held on success. */
static struct socket *vhnet_get_socket(int fd)
{
	struct socket *sock;

	if (fd == -1)
		return NULL;
	sock = vhnet_get_raw_socket(fd);
	if (!IS_ERR(sock))
		return sock;
	sock = vhnet_get_tap_socket(fd);
	if (!IS_ERR(sock))
		return sock;
	return ERR_PTR(-ENOTSOCK);
}

static long vhnet_net_set_backend(struct vhnet_net *n, unsigned int index, int fd)
{
	struct socket *sock, *oldsock;
	struct vhnet_net_vq *nvq;
	struct vhnet_vq *vq;
	long r;

	mutex_lock(&n->dev.mutex);
	r = vhnet_dev_check_owner(&n->dev);
	if (r)
		goto err;
	if (index >= VHNET_NVQS) {
		r = -ENOBUFS;
		goto err;
	}
	index = array_index_nospec(index, VHNET_NVQS);
	nvq = &n->vqs[index];
	vq = &nvq->vq;

	mutex_lock(&vq->mutex);
	/* even detaching needs a ring that could be started, as in vhost */
	if (!vhnet_vq_access_ok(vq)) {
		r = -EFAULT;
		goto err_vq;
	}
	sock = vhnet_get_socket(fd);
	if (IS_ERR(sock)) {
		r = PTR_ERR(sock);
		goto err_vq;
	}

	oldsock = vq->private_data;
	if (sock != oldsock) {
		/*
		 * No device IOTLB yet: ring addresses would be IOVAs vhnet cannot translate.
		 * vhost-net answers -EFAULT too, until the IOTLB maps the used ring.
		 */
		if (sock && vhnet_vq_has_feature(vq, VIRTIO_F_ACCESS_PLATFORM)) {
			r = -EFAULT;
			goto err_sock;
		}
		vhnet_poll_stop(&nvq->sock_poll);
		vq->private_data = sock;
		r = vhnet_vq_init_access(vq);
		/* a socket in error (a tun file with no device) cannot be polled: -EINVAL */
		if (!r && sock)
			r = vhnet_poll_start(&nvq->sock_poll, sock->file);
		if (r)
			goto err_used;
		/* look at the ring once: the driver may have kicked before we listened */
		if (sock)
			vhnet_poll_queue(&vq->kick_poll);
		if (sock && !oldsock)
			vq->stats.starts++;
		else if (!sock)
			vq->stats.stops++;
	}
	mutex_unlock(&vq->mutex);

	/* the replaced backend, or the extra reference when the same one was set again */
	if (oldsock) {
		vhnet_dev_flush(&n->dev);
		sockfd_put(oldsock);
	}
	mutex_unlock(&n->dev.mutex);
	return 0;

err_used:
	vq->private_data = oldsock;
	if (oldsock)
		vhnet_poll_start(&nvq->sock_poll, oldsock->file);
err_sock:
	if (sock)
		sockfd_put(sock);
err_vq:
	mutex_unlock(&vq->mutex);
err:
	mutex_unlock(&n->dev.mutex);
	return r;
}

/*
 * The interface a queue's backend sends to, for debugfs: tun/tap files say it in their fdinfo
 * ("iff:\tNAME"), which is asked for outside the vq mutex (tun takes the RTNL). "-" for a
 * stopped queue or a backend that does not say (macvtap, packet socket).
 */
void vhnet_net_backend_name(struct vhnet_vq *vq, char *name, size_t size)
{
	char buf[64] = "";
	struct seq_file m = { .buf = buf, .size = sizeof(buf) - 1 };
	struct socket *sock;
	struct file *file = NULL;
	char *iff;

	strscpy(name, "-", size);
	mutex_lock(&vq->mutex);
	sock = vq->private_data;
	if (sock && sock->file && sock->file->f_op->show_fdinfo &&
	    !IS_ERR(tun_get_socket(sock->file)))
		file = get_file(sock->file);
	mutex_unlock(&vq->mutex);
	if (!file)
		return;
	file->f_op->show_fdinfo(&m, file);
	fput(file);
	iff = strstr(buf, "iff:\t");
	if (iff && !seq_has_overflowed(&m)) {
		iff += 5;
		strscpy(name, iff, min_t(size_t, size, strcspn(iff, "\n") + 1));
	}
}

/* The net device's own ioctls; -ENOIOCTLCMD for anything else. */
long vhnet_net_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp)
{
	struct vhnet_net *n = to_net(d);
	u64 __user *featurep = argp;
	struct vhost_vring_file backend;
	u64 features;

	switch (cmd) {
	case VHOST_NET_SET_BACKEND:
		if (copy_from_user(&backend, argp, sizeof(backend)))
			return -EFAULT;
		return vhnet_net_set_backend(n, backend.index, backend.fd);
	case VHOST_GET_FEATURES:
		features = VHNET_FEATURES;
		return copy_to_user(featurep, &features, sizeof(features)) ? -EFAULT : 0;
	case VHOST_SET_FEATURES:
		if (copy_from_user(&features, featurep, sizeof(features)))
			return -EFAULT;
		if (features & ~VHNET_FEATURES)
			return -EOPNOTSUPP;
		return vhnet_net_set_features(n, features);
	case VHOST_GET_BACKEND_FEATURES:
		features = VHNET_BACKEND_FEATURES;
		return copy_to_user(featurep, &features, sizeof(features)) ? -EFAULT : 0;
	case VHOST_SET_BACKEND_FEATURES:
		if (copy_from_user(&features, featurep, sizeof(features)))
			return -EFAULT;
		if (features & ~VHNET_BACKEND_FEATURES)
			return -EOPNOTSUPP;
		mutex_lock(&d->mutex);
		d->acked_backend_features = features;
		mutex_unlock(&d->mutex);
		return 0;
	case VHOST_RESET_OWNER:
		return vhnet_net_reset_owner(n);
	case VHOST_SET_OWNER:
		return vhnet_net_set_owner(n);
	default:
		return -ENOIOCTLCMD;
	}
}
