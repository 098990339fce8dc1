// SPDX-License-Identifier: GPL-2.0
/*
 * vhnet: a kernel virtio-net backend that speaks the ioctl ABI of /dev/vhost-net.
 *
 * One open file of /dev/vhnet is one vhost device with one queue pair. This file registers
 * the misc device and chains the ioctls: net device, then device-wide, then per virtqueue,
 * each layer returning -ENOIOCTLCMD for what is not its own.
 */
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

#include "debugfs.h"
#include "dev.h"
#include "net.h"

#define VHNET_VERSION "0.1.0"

static int vhnet_open(struct inode *inode, struct file *f)
{
	struct vhnet_dev *d = vhnet_net_open();

	if (IS_ERR(d))
		return PTR_ERR(d);
	f->private_data = d;
	return 0;
}

static int vhnet_release(struct inode *inode, struct file *f)
{
	vhnet_net_release(f->private_data);
	return 0;
}

static ssize_t vhnet_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct file *f = iocb->ki_filp;

	return vhnet_dev_read(f->private_data, to, f->f_flags & O_NONBLOCK);
}

static ssize_t vhnet_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	return vhnet_dev_write(iocb->ki_filp->private_data, from);
}

static __poll_t vhnet_poll(struct file *f, poll_table *wait)
{
	return vhnet_dev_poll(f->private_data, f, wait);
}

static long vhnet_ioctl(struct file *f, unsigned int cmd, unsigned long arg)
{
	struct vhnet_dev *d = f->private_data;
	void __user *argp = (void __user *)arg;
	long r;

	r = vhnet_net_ioctl(d, cmd, argp);
	if (r != -ENOIOCTLCMD)
		return r;

	mutex_lock(&d->mutex);
	r = vhnet_dev_ioctl(d, cmd, argp);
	if (r == -ENOIOCTLCMD)
		r = vhnet_vq_ioctl(d, cmd, argp);
	mutex_unlock(&d->mutex);
	return r == -ENOIOCTLCMD ? -ENOTTY : r;
}

static const struct file_operations vhnet_fops = {
	.owner		= THIS_MODULE,
	.open		= vhnet_open,
	.release	= vhnet_release,
	.read_iter	= vhnet_read_iter,
	.write_iter	= vhnet_write_iter,
	.poll		= vhnet_poll,
	.unlocked_ioctl	= vhnet_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice vhnet_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "vhnet",
	.fops	= &vhnet_fops,
	.mode	= 0600,
};

static int __init vhnet_init(void)
{
	int r;

	vhnet_debugfs_init();
	r = misc_register(&vhnet_misc);
	if (r) {
		vhnet_debugfs_exit();
		return r;
	}
	return 0;
}

static void __exit vhnet_exit(void)
{
	misc_deregister(&vhnet_misc);
	vhnet_debugfs_exit();
}

module_init(vhnet_init);
module_exit(vhnet_exit);

MODULE_VERSION(VHNET_VERSION);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("The vhnet developers");
MODULE_DESCRIPTION("vhnet: vhost-net compatible kernel virtio-net backend (/dev/vhnet)");
