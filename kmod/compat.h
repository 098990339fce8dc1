/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-version differences, hidden here so that the rest of vhnet has no version checks.
 * Supported: 6.1 (Debian 12) to 6.12 (bookworm-backports).
 */
#ifndef VHNET_COMPAT_H
#define VHNET_COMPAT_H

#include <linux/eventfd.h>
#include <linux/uio.h>
#include <linux/version.h>

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
