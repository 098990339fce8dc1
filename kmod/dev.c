// SPDX-License-Identifier: GPL-2.0
/*
 * vhnet device: the state of one open file of /dev/vhnet, its owner and its lifetime.
 * The networking parts live in net.c; this file knows nothing about sockets.
 */
#include <linux/atomic.h>
#include <linux/idr.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vhost.h>

#include "debugfs.h"
#include "dev.h"

static DEFINE_IDA(vhnet_ida);
/* Devices allocated and not yet freed: shown in debugfs so tests can prove nothing leaks. */
static atomic_t vhnet_live = ATOMIC_INIT(0);

int vhnet_dev_live_count(void)
{
	return atomic_read(&vhnet_live);
}

struct vhnet_dev *vhnet_dev_alloc(void)
{
	struct vhnet_dev *d;
	int id, i;

	d = kzalloc(sizeof(*d), GFP_KERNEL_ACCOUNT);
	if (!d)
		return ERR_PTR(-ENOMEM);

	id = ida_alloc(&vhnet_ida, GFP_KERNEL);
	if (id < 0) {
		kfree(d);
		return ERR_PTR(id);
	}
	d->id = id;
	mutex_init(&d->mutex);
	for (i = 0; i < VHNET_NVQS; i++)
		vhnet_vq_init(&d->vqs[i], d, i);
	atomic_inc(&vhnet_live);
	vhnet_debugfs_add_dev(d);
	return d;
}

/* Caller must hold d->mutex. */
static void vhnet_dev_drop_owner(struct vhnet_dev *d)
{
	if (!d->mm)
		return;
	mmput(d->mm);
	d->mm = NULL;
	d->owner_pid = 0;
	d->owner_comm[0] = '\0';
}

/* Called on release, when no ioctl can be running any more. */
void vhnet_dev_free(struct vhnet_dev *d)
{
	int i;

	vhnet_debugfs_del_dev(d);
	mutex_lock(&d->mutex);
	vhnet_dev_drop_owner(d);
	mutex_unlock(&d->mutex);
	for (i = 0; i < VHNET_NVQS; i++)
		vhnet_vq_cleanup(&d->vqs[i]);
	mutex_destroy(&d->mutex);
	ida_free(&vhnet_ida, d->id);
	kfree(d);
	atomic_dec(&vhnet_live);
}

/*
 * Make the calling process the owner: only it may configure the device from now on, and its
 * address space is the one guest addresses are translated into.
 * Caller must hold d->mutex.
 */
int vhnet_dev_set_owner(struct vhnet_dev *d)
{
	if (vhnet_dev_has_owner(d))
		return -EBUSY;

	d->mm = get_task_mm(current);
	if (!d->mm)
		return -EINVAL;
	d->owner_pid = task_tgid_nr(current);
	get_task_comm(d->owner_comm, current);
	return 0;
}

/* Caller must hold d->mutex. */
static int vhnet_dev_check_owner(struct vhnet_dev *d)
{
	/* Threads of the owner share its mm, and so may configure the device too. */
	return d->mm == current->mm ? 0 : -EPERM;
}

/*
 * Device-wide ioctls that need an owner. Returns -ENOIOCTLCMD for a command that is not
 * device-wide, after the owner check, exactly as vhost does: a non-owner gets -EPERM for
 * any command that reaches this point.
 * Caller must hold d->mutex.
 */
long vhnet_dev_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp)
{
	long r;

	r = vhnet_dev_check_owner(d);
	if (r)
		return r;

	switch (cmd) {
	default:
		return -ENOIOCTLCMD;
	}
}
