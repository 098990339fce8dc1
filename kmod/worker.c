// SPDX-License-Identifier: GPL-2.0
/*
 * The worker: one kernel thread per device, created by VHOST_SET_OWNER. It adopts the owner's
 * mm (guest memory is the owner's memory) and runs work queued by wake-ups of the kick eventfds
 * and of the backend socket. Work items are queued at most once; a flush waits for everything
 * queued before it.
 */
#include <linux/cgroup.h>
#include <linux/completion.h>
#include <linux/file.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>

#include "compat.h"
#include "worker.h"

static int vhnet_worker_fn(void *data)
{
	struct vhnet_worker *w = data;
	struct vhnet_work *work, *next;
	struct llist_node *node;

	kthread_use_mm(w->mm);
	for (;;) {
		/* pairs with the wake_up_process() in vhnet_work_queue() */
		set_current_state(TASK_INTERRUPTIBLE);
		if (kthread_should_stop()) {
			__set_current_state(TASK_RUNNING);
			break;
		}
		node = llist_del_all(&w->list);
		if (!node) {
			schedule();
			continue;
		}
		__set_current_state(TASK_RUNNING);
		/* run in the order queued */
		node = llist_reverse_order(node);
		llist_for_each_entry_safe(work, next, node, node) {
			/* may be queued again from here on, and will then run again */
			clear_bit(0, &work->queued);
			/*
			 * Order the clear before anything fn() reads, so that a wake-up racing
			 * with fn() is either seen by it or queues it again.
			 */
			smp_mb__after_atomic();
			work->fn(work);
			cond_resched();
		}
	}
	kthread_unuse_mm(w->mm);
	return 0;
}

int vhnet_worker_start(struct vhnet_worker *w, struct mm_struct *mm, const char *name)
{
	struct task_struct *task;

	int r;

	init_llist_head(&w->list);
	w->mm = mm;
	task = kthread_create(vhnet_worker_fn, w, "%s", name);
	if (IS_ERR(task))
		return PTR_ERR(task);
	/*
	 * The worker does the owner's work: it joins the owner's cgroups before it first runs, so
	 * that the VM's cpu, cpuset, pids and memory limits hold for it and what it allocates is
	 * charged to the owner, as vhost's worker does.
	 */
	r = vhnet_worker_adopt_cgroups(task);
	if (r) {
		kthread_stop(task);
		return r;
	}
	/* the list and mm are set before the task is seen (vhnet_work_queue()) */
	smp_store_release(&w->task, task);
	wake_up_process(task);
	return 0;
}

/* Runs what is queued, then stops the thread. */
void vhnet_worker_stop(struct vhnet_worker *w)
{
	if (!w->task)
		return;
	vhnet_worker_flush(w);
	kthread_stop(w->task);
	/*
	 * Nothing queues work any more: every poll was stopped and every backend detached before,
	 * and the flush above ran what they queued.
	 */
	WRITE_ONCE(w->task, NULL);
	WARN_ON(!llist_empty(&w->list));
}

/* Queue @work unless it is queued already. Returns whether it was queued now. */
bool vhnet_work_queue(struct vhnet_worker *w, struct vhnet_work *work)
{
	/*
	 * Called from wake-ups of eventfds and sockets, without our locks: the task is read once,
	 * paired with the release in vhnet_worker_start(). It cannot go away under us: the polls
	 * that call this are stopped before vhnet_worker_stop().
	 */
	struct task_struct *task = smp_load_acquire(&w->task);

	if (!task)
		return false;
	if (test_and_set_bit(0, &work->queued))
		return false;
	llist_add(&work->node, &w->list);
	wake_up_process(task);
	return true;
}

struct vhnet_flush {
	struct vhnet_work work;
	struct completion done;
};

static void vhnet_flush_fn(struct vhnet_work *work)
{
	complete(&container_of(work, struct vhnet_flush, work)->done);
}

/* Wait until everything queued before now has run. */
void vhnet_worker_flush(struct vhnet_worker *w)
{
	struct vhnet_flush flush;

	if (!READ_ONCE(w->task))
		return;
	init_completion(&flush.done);
	vhnet_work_init(&flush.work, vhnet_flush_fn);
	vhnet_work_queue(w, &flush.work);
	wait_for_completion(&flush.done);
}

static int vhnet_poll_wakeup(wait_queue_entry_t *wait, unsigned int mode, int sync, void *key)
{
	struct vhnet_poll *poll = container_of(wait, struct vhnet_poll, wait);

	if (!(key_to_poll(key) & poll->mask))
		return 0;
	vhnet_work_queue(poll->worker, &poll->work);
	return 0;
}

static void vhnet_poll_func(struct file *file, wait_queue_head_t *wqh, poll_table *pt)
{
	struct vhnet_poll *poll = container_of(pt, struct vhnet_poll, table);

	poll->wqh = wqh;
	add_wait_queue(wqh, &poll->wait);
}

void vhnet_poll_init(struct vhnet_poll *poll, vhnet_work_fn_t fn, __poll_t mask,
		     struct vhnet_worker *worker)
{
	init_poll_funcptr(&poll->table, vhnet_poll_func);
	init_waitqueue_func_entry(&poll->wait, vhnet_poll_wakeup);
	vhnet_work_init(&poll->work, fn);
	poll->mask = mask;
	poll->worker = worker;
	poll->wqh = NULL;
}

/*
 * Start polling @file; if it is ready already, queue the work now. A file in error cannot be
 * polled: -EINVAL.
 */
int vhnet_poll_start(struct vhnet_poll *poll, struct file *file)
{
	__poll_t mask;

	if (poll->wqh)
		return 0;
	mask = vfs_poll(file, &poll->table);
	if (mask)
		vhnet_poll_wakeup(&poll->wait, 0, 0, poll_to_key(mask));
	if (mask & EPOLLERR) {
		vhnet_poll_stop(poll);
		return -EINVAL;
	}
	return 0;
}

void vhnet_poll_stop(struct vhnet_poll *poll)
{
	if (poll->wqh) {
		remove_wait_queue(poll->wqh, &poll->wait);
		poll->wqh = NULL;
	}
}

void vhnet_poll_queue(struct vhnet_poll *poll)
{
	vhnet_work_queue(poll->worker, &poll->work);
}
