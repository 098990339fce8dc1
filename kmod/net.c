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
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <net/sock.h>

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

/**
 * struct vhnet_net_vq - a virtqueue with what the net device keeps per queue
 * @vq:		the generic queue
 * @vhost_hlen:	virtio-net header bytes vhnet adds (RX) or strips (TX) itself
 * @sock_hlen:	virtio-net header bytes the socket carries
 * Both are protected by vq.mutex.
 */
struct vhnet_net_vq {
	struct vhnet_vq vq;
	size_t vhost_hlen;
	size_t sock_hlen;
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

struct vhnet_dev *vhnet_net_open(void)
{
	struct vhnet_net *n;
	int i, r;

	n = kvzalloc(sizeof(*n), GFP_KERNEL_ACCOUNT);
	if (!n)
		return ERR_PTR(-ENOMEM);
	for (i = 0; i < VHNET_NVQS; i++)
		n->vq_ptrs[i] = &n->vqs[i].vq;
	r = vhnet_dev_init(&n->dev, n->vq_ptrs, VHNET_NVQS);
	if (r) {
		kvfree(n);
		return ERR_PTR(r);
	}
	return &n->dev;
}

/* Detach the backend of one queue and return it for the caller to put after unlocking. */
static struct socket *vhnet_net_stop_vq(struct vhnet_vq *vq)
{
	struct socket *sock;

	mutex_lock(&vq->mutex);
	sock = vq->private_data;
	vq->private_data = NULL;
	mutex_unlock(&vq->mutex);
	return sock;
}

static void vhnet_net_stop(struct vhnet_net *n, struct socket **tx, struct socket **rx)
{
	*tx = vhnet_net_stop_vq(&n->vqs[VHNET_VQ_TX].vq);
	*rx = vhnet_net_stop_vq(&n->vqs[VHNET_VQ_RX].vq);
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

/*
 * A socket in error (a tun file never attached to a device, or whose device is gone) cannot be
 * a backend: -EINVAL, as vhost answers when polling it reports EPOLLERR.
 */
static int vhnet_net_sock_ok(struct socket *sock)
{
	if (!sock)
		return 0;
	return (vfs_poll(sock->file, NULL) & EPOLLERR) ? -EINVAL : 0;
}

static long vhnet_net_set_backend(struct vhnet_net *n, unsigned int index, int fd)
{
	struct socket *sock, *oldsock;
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
	vq = &n->vqs[index].vq;

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
		vq->private_data = sock;
		r = vhnet_vq_init_access(vq);
		if (!r)
			r = vhnet_net_sock_ok(sock);
		if (r) {
			vq->private_data = oldsock;
			goto err_used;
		}
	}
	mutex_unlock(&vq->mutex);
	mutex_unlock(&n->dev.mutex);

	/* the replaced backend, or the extra reference when the same one was set again */
	if (oldsock)
		sockfd_put(oldsock);
	return 0;

err_used:
	if (sock)
		sockfd_put(sock);
err_vq:
	mutex_unlock(&vq->mutex);
err:
	mutex_unlock(&n->dev.mutex);
	return r;
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
