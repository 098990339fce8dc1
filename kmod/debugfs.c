// SPDX-License-Identifier: GPL-2.0
/*
 * debugfs: /sys/kernel/debug/vhnet/ holds "instances" (devices alive, for leak checks) and one
 * folder per open device named by its instance number. Files are "name value" lines.
 */
#include <linux/debugfs.h>
#include <linux/if.h>
#include <linux/seq_file.h>
#include <linux/vhost.h>

#include "debugfs.h"
#include "dev.h"
#include "net.h"
#include "vq.h"

static struct dentry *vhnet_debugfs_root;

static int instances_show(struct seq_file *s, void *unused)
{
	seq_printf(s, "%d\n", vhnet_dev_live_count());
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(instances);

static const char *const vq_names[] = { "rx", "tx" };

static const char *vq_name(unsigned int i)
{
	return i < ARRAY_SIZE(vq_names) ? vq_names[i] : "vq";
}

/* What a queue is doing: "stopped" (no backend), "running" or "broken" (a ring error). */
static const char *vq_state(const struct vhnet_vq *vq)
{
	if (!vq->private_data)
		return "stopped";
	return vq->broken ? "broken" : "running";
}

static int info_show(struct seq_file *s, void *unused)
{
	struct vhnet_dev *d = s->private;
	char tap[IFNAMSIZ] = "-";
	struct vhnet_vq *vq;
	unsigned int i;

	/* the backend's name first: asking tun for it takes the RTNL, not under our mutexes */
	for (i = 0; i < d->nvqs && !strcmp(tap, "-"); i++)
		vhnet_net_backend_name(d->vqs[i], tap, sizeof(tap));

	mutex_lock(&d->mutex);
	seq_printf(s, "id %d\n", d->id);
	seq_printf(s, "owner_pid %d\n", d->owner_pid);
	seq_printf(s, "owner_comm %s\n", d->owner_comm[0] ? d->owner_comm : "-");
	seq_printf(s, "tap %s\n", tap);
	seq_printf(s, "features 0x%llx\n", d->acked_features);
	seq_printf(s, "backend_features 0x%llx\n", d->acked_backend_features);
	seq_printf(s, "log_all %d\n", !!(d->acked_features & (1ULL << VHOST_F_LOG_ALL)));
	seq_printf(s, "log_fd %d\n", d->log_ctx != NULL);
	seq_printf(s, "nvqs %u\n", d->nvqs);
	for (i = 0; i < d->nvqs; i++) {
		vq = d->vqs[i];
		mutex_lock(&vq->mutex);
		seq_printf(s, "%s_state %s\n", vq_name(i), vq_state(vq));
		seq_printf(s, "%s_num %u\n", vq_name(i), vq->ring.num);
		seq_printf(s, "%s_desc 0x%lx\n", vq_name(i), (unsigned long)vq->ring.desc);
		seq_printf(s, "%s_avail 0x%lx\n", vq_name(i), (unsigned long)vq->ring.avail);
		seq_printf(s, "%s_used 0x%lx\n", vq_name(i), (unsigned long)vq->ring.used);
		seq_printf(s, "%s_log_used %d\n", vq_name(i), vq->ring.log_used);
		seq_printf(s, "%s_log_base 0x%lx\n", vq_name(i), (unsigned long)vq->log_base);
		seq_printf(s, "%s_log_addr 0x%llx\n", vq_name(i), vq->log_addr);
		mutex_unlock(&vq->mutex);
	}
	mutex_unlock(&d->mutex);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(info);

/* One queue's state and counters, one "name value" per line. */
static int stats_show(struct seq_file *s, void *unused)
{
	struct vhnet_vq *vq = s->private;
	struct vhnet_vq_stats *st = &vq->stats;
	int i;

	mutex_lock(&vq->mutex);
	seq_printf(s, "running %d\n", vq->private_data != NULL);
	seq_printf(s, "broken %d\n", vq->broken);
	seq_printf(s, "num %u\n", vq->ring.num);
	seq_printf(s, "last_avail_idx %u\n", vq->ring.last_avail_idx);
	seq_printf(s, "last_used_idx %u\n", vq->ring.last_used_idx);
	seq_printf(s, "packets %llu\n", st->packets);
	seq_printf(s, "bytes %llu\n", st->bytes);
	seq_printf(s, "kicks %llu\n", st->kicks);
	seq_printf(s, "calls %llu\n", st->calls);
	seq_printf(s, "calls_suppressed %llu\n", st->calls_suppressed);
	seq_printf(s, "passes %llu\n", st->passes);
	seq_printf(s, "ring_empty %llu\n", st->ring_empty);
	seq_printf(s, "tap_full %llu\n", st->tap_full);
	seq_printf(s, "dropped %llu\n", st->dropped);
	seq_printf(s, "starts %llu\n", st->starts);
	seq_printf(s, "stops %llu\n", st->stops);
	/* packets per pass: pass_pkts_0, _1, _2_3 ... _128_255, _256_plus */
	for (i = 0; i < VHNET_VQ_PASS_BUCKETS; i++) {
		if (i < 2)
			seq_printf(s, "pass_pkts_%d", i);
		else if (i < VHNET_VQ_PASS_BUCKETS - 1)
			seq_printf(s, "pass_pkts_%u_%u", 1u << (i - 1), (1u << i) - 1);
		else
			seq_printf(s, "pass_pkts_%u_plus", 1u << (i - 1));
		seq_printf(s, " %llu\n", st->pass_pkts[i]);
	}
	seq_printf(s, "weight_exceeded %llu\n", st->weight_exceeded);
	seq_printf(s, "tx_too_long %llu\n", st->tx_too_long);
	seq_printf(s, "log_used %d\n", vq->ring.log_used);
	seq_printf(s, "log_pages %llu\n", st->log_pages);
	seq_printf(s, "log_signals %llu\n", st->log_signals);
	seq_printf(s, "log_errors %llu\n", st->log_errors);
	for (i = VHNET_RING_OK + 1; i < VHNET_RING_ERR_MAX; i++)
		seq_printf(s, "error_%s %llu\n", vhnet_vring_error_name(i), st->errors[i]);
	mutex_unlock(&vq->mutex);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(stats);

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

	struct dentry *dir;
	unsigned int i;

	snprintf(name, sizeof(name), "%d", d->id);
	d->debugfs = debugfs_create_dir(name, vhnet_debugfs_root);
	debugfs_create_file("info", 0444, d->debugfs, d, &info_fops);
	for (i = 0; i < d->nvqs; i++) {
		snprintf(name, sizeof(name), "vq%u", i);
		dir = debugfs_create_dir(name, d->debugfs);
		debugfs_create_file("stats", 0444, dir, d->vqs[i], &stats_fops);
	}
}

/* Waits for readers of the device's files to finish, so @d may be freed afterwards. */
void vhnet_debugfs_del_dev(struct vhnet_dev *d)
{
	debugfs_remove_recursive(d->debugfs);
	d->debugfs = NULL;
}
