/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VHNET_DEBUGFS_H
#define VHNET_DEBUGFS_H

struct vhnet_dev;

void vhnet_debugfs_init(void);
void vhnet_debugfs_exit(void);
void vhnet_debugfs_add_dev(struct vhnet_dev *d);
void vhnet_debugfs_del_dev(struct vhnet_dev *d);

#endif /* VHNET_DEBUGFS_H */
