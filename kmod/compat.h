/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-version differences, hidden here so that the rest of vhnet has no version checks.
 * Supported: 6.1 (Debian 12) to 6.12 (bookworm-backports).
 */
#ifndef VHNET_COMPAT_H
#define VHNET_COMPAT_H

#include <asm/byteorder.h>
#include <linux/cgroup.h>
#include <linux/eventfd.h>
#include <linux/uio.h>
#include <linux/version.h>

/*
 * vhnet reads and writes rings and virtio-net headers as little-endian, which is the host's
 * byte order: VERSION_1 rings everywhere, and legacy rings only on a little-endian host. A
 * big-endian host would need the legacy byte-order rules (VHOST_SET_VRING_ENDIAN) vhnet lacks.
 */
#ifndef __LITTLE_ENDIAN
#error "vhnet supports little-endian hosts only"
#endif

/*
 * The worker joins the owner's cgroups. vhost does it with cgroup_attach_task_all() on 6.1;
 * from 6.4 its worker is a vhost_task, a thread of the owner that inherits them. vhnet keeps
 * its kthread on every kernel and attaches it the 6.1 way, which 6.12 still exports.
 */
static inline int vhnet_worker_adopt_cgroups(struct task_struct *worker)
{
	return cgroup_attach_task_all(current, worker);
}

/* 6.8 dropped eventfd_signal()'s count argument. */
static inline void vhnet_eventfd_signal(struct eventfd_ctx *ctx)
{
#if KERNEL_VERSION(6, 8, 0) <= LINUX_VERSION_CODE
	eventfd_signal(ctx);
#else
	eventfd_signal(ctx, 1);
#endif
}

/* 6.2 renamed the iov_iter directions. */
#ifndef ITER_SOURCE
#define ITER_SOURCE	WRITE	/* data flows from the iterator */
#define ITER_DEST	READ	/* data flows into the iterator */
#endif

#endif /* VHNET_COMPAT_H */
