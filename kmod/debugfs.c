// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs: /sys/kernel/debug/vhnet/ holds "instances" (devices alive, for leak checks) and one
 * folder per open device named by its instance number. Files are "name value" lines.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "debugfs.h"
#include "dev.h"

static struct dentry *vhnet_debugfs_root;

static int instances_show(struct seq_file *s, void *unused)
{
	seq_printf(s, "%d\n", vhnet_dev_live_count());
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(instances);

static int info_show(struct seq_file *s, void *unused)
{
	struct vhnet_dev *d = s->private;

	mutex_lock(&d->mutex);
	seq_printf(s, "id %d\n", d->id);
	seq_printf(s, "owner_pid %d\n", d->owner_pid);
	seq_printf(s, "owner_comm %s\n", d->owner_comm[0] ? d->owner_comm : "-");
	seq_printf(s, "features 0x%llx\n", d->acked_features);
	mutex_unlock(&d->mutex);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(info);

void vhnet_debugfs_init(void)
{
	vhnet_debugfs_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("instances", 0444, vhnet_debugfs_root, NULL, &instances_fops);
}

void vhnet_debugfs_exit(void)
{
	debugfs_remove_recursive(vhnet_debugfs_root);
}

/* debugfs is best effort: a device works without its folder. */
void vhnet_debugfs_add_dev(struct vhnet_dev *d)
{
	char name[16];

	snprintf(name, sizeof(name), "%d", d->id);
	d->debugfs = debugfs_create_dir(name, vhnet_debugfs_root);
	debugfs_create_file("info", 0444, d->debugfs, d, &info_fops);
}

/* Waits for readers of the device's files to finish, so @d may be freed afterwards. */
void vhnet_debugfs_del_dev(struct vhnet_dev *d)
{
	debugfs_remove_recursive(d->debugfs);
	d->debugfs = NULL;
}
