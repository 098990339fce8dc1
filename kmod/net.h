/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VHNET_NET_H
#define VHNET_NET_H

#include <linux/types.h>

struct vhnet_dev;
struct vhnet_vq;

struct vhnet_dev *vhnet_net_open(void);
void vhnet_net_release(struct vhnet_dev *d);
long vhnet_net_ioctl(struct vhnet_dev *d, unsigned int cmd, void __user *argp);
void vhnet_net_backend_name(struct vhnet_vq *vq, char *name, size_t size);

#endif /* VHNET_NET_H */
