/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VHNET_WORKER_H
#define VHNET_WORKER_H

#include <linux/llist.h>
#include <linux/poll.h>
#include <linux/types.h>
#include <linux/wait.h>

struct file;
struct mm_struct;
struct task_struct;
struct vhnet_work;

typedef void (*vhnet_work_fn_t)(struct vhnet_work *work);

/**
 * struct vhnet_work - something for the worker to run
 * @node:	in the worker's list while queued
 * @fn:		what to run
 * @queued:	bit 0 set while queued: a work is queued at most once
 */
struct vhnet_work {
	struct llist_node node;
	vhnet_work_fn_t fn;
	unsigned long queued;
};

/**
 * struct vhnet_worker - the kernel thread that runs a device's queues in its owner's mm
 * @task:	the thread
 * @list:	queued work, lock-free
 * @mm:		the owner's mm, adopted by the thread
 */
struct vhnet_worker {
	struct task_struct *task;
	struct llist_head list;
	struct mm_struct *mm;
};

/**
 * struct vhnet_poll - run a work when a file (eventfd, socket) becomes ready
 * @table:	our poll_table, giving the file our wait entry
 * @wqh:	the wait queue we are on, or NULL when not polling
 * @wait:	our entry on it
 * @work:	what runs on a matching wake-up
 * @mask:	the events that matter (EPOLLIN, EPOLLOUT)
 * @worker:	who runs @work
 */
struct vhnet_poll {
	poll_table table;
	wait_queue_head_t *wqh;
	wait_queue_entry_t wait;
	struct vhnet_work work;
	__poll_t mask;
	struct vhnet_worker *worker;
};

int vhnet_worker_start(struct vhnet_worker *w, struct mm_struct *mm, const char *name);
void vhnet_worker_stop(struct vhnet_worker *w);
void vhnet_worker_flush(struct vhnet_worker *w);
bool vhnet_work_queue(struct vhnet_worker *w, struct vhnet_work *work);

static inline void vhnet_work_init(struct vhnet_work *work, vhnet_work_fn_t fn)
{
	clear_bit(0, &work->queued);
	work->fn = fn;
}

void vhnet_poll_init(struct vhnet_poll *poll, vhnet_work_fn_t fn, __poll_t mask,
		     struct vhnet_worker *worker);
int vhnet_poll_start(struct vhnet_poll *poll, struct file *file);
void vhnet_poll_stop(struct vhnet_poll *poll);
void vhnet_poll_queue(struct vhnet_poll *poll);

#endif /* VHNET_WORKER_H */
