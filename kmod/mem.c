// SPDX-License-Identifier: GPL-2.0
/*
 * The memory table: guest physical addresses to addresses in the owner's mm. It is rebuilt
 * whole on every VHOST_SET_MEM_TABLE and never changed afterwards, so readers holding a vq mutex
 * need no further locking.
 */
#include <linux/bitops.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/overflow.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/uaccess.h>
#include <linux/vhost.h>

#include "mem.h"

/* One bit of dirty log per 4 KiB page, whatever the host's page size (the vhost ABI). */
#define VHNET_LOG_PAGE_SHIFT	12

static struct vhnet_mem *vhnet_mem_alloc(u32 nregions)
{
	struct vhnet_mem *mem;

	mem = kvzalloc(struct_size(mem, regions, nregions), GFP_KERNEL_ACCOUNT);
	if (mem)
		mem->nregions = nregions;
	return mem;
}

struct vhnet_mem *vhnet_mem_empty(void)
{
	return vhnet_mem_alloc(0);
}

void vhnet_mem_free(struct vhnet_mem *mem)
{
	kvfree(mem);
}

static int vhnet_region_cmp(const void *a, const void *b)
{
	const struct vhnet_mem_region *ra = a, *rb = b;

	if (ra->start != rb->start)
		return ra->start < rb->start ? -1 : 1;
	return 0;
}

/*
 * Copy and check a table from userspace. The checks and their order are vhost's, so errors
 * match: padding (-EOPNOTSUPP), too many regions (-E2BIG), unreadable (-EFAULT), a region that
 * wraps or has size 0 anywhere but at address 0 (-EFAULT). Host addresses are checked later,
 * against the rings that use them (vhnet_mem_access_ok()).
 */
struct vhnet_mem *vhnet_mem_from_user(const struct vhost_memory __user *m, unsigned int max)
{
	struct vhost_memory_region __user *uregions = (void __user *)m->regions;
	struct vhost_memory_region r;
	struct vhost_memory hdr;
	struct vhnet_mem *mem;
	u32 i;

	if (copy_from_user(&hdr, m, sizeof(hdr)))
		return ERR_PTR(-EFAULT);
	if (hdr.padding)
		return ERR_PTR(-EOPNOTSUPP);
	if (hdr.nregions > max)
		return ERR_PTR(-E2BIG);

	mem = vhnet_mem_alloc(hdr.nregions);
	if (!mem)
		return ERR_PTR(-ENOMEM);

	for (i = 0; i < hdr.nregions; i++) {
		if (copy_from_user(&r, &uregions[i], sizeof(r)))
			goto err_fault;
		/* size 0 at address 0 wraps to the whole space, as in vhost */
		mem->regions[i].start = r.guest_phys_addr;
		mem->regions[i].last = r.guest_phys_addr + r.memory_size - 1;
		mem->regions[i].uaddr = r.userspace_addr;
		if (mem->regions[i].last < mem->regions[i].start)
			goto err_fault;
	}
	sort(mem->regions, mem->nregions, sizeof(mem->regions[0]), vhnet_region_cmp, NULL);
	return mem;

err_fault:
	vhnet_mem_free(mem);
	return ERR_PTR(-EFAULT);
}

/* The region holding @gpa, or NULL. Regions may overlap; any that holds @gpa will do. */
const struct vhnet_mem_region *vhnet_mem_find(const struct vhnet_mem *mem, u64 gpa)
{
	u32 lo = 0, hi = mem->nregions, i;

	/* the last region starting at or below gpa */
	while (lo < hi) {
		u32 mid = lo + (hi - lo) / 2;

		if (mem->regions[mid].start <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i-- > 0;)
		if (gpa <= mem->regions[i].last)
			return &mem->regions[i];
	return NULL;
}

/* [uaddr, uaddr + len_minus_1] lies in userspace. */
static bool vhnet_user_range_ok(u64 uaddr, u64 len_minus_1)
{
	if (len_minus_1 >= TASK_SIZE_MAX)
		return false;
	return access_ok((void __user *)(unsigned long)uaddr, len_minus_1 + 1);
}

/* The dirty bitmap for guest [addr, addr + len_minus_1] lies in userspace. */
bool vhnet_log_access_ok(void __user *log_base, u64 addr, u64 len_minus_1)
{
	u64 first = addr >> (VHNET_LOG_PAGE_SHIFT + 3);
	u64 bytes = (len_minus_1 >> (VHNET_LOG_PAGE_SHIFT + 3)) + 1;
	u64 base;

	if (check_add_overflow((u64)(unsigned long)log_base, first, &base))
		return false;
	return vhnet_user_range_ok(base, bytes - 1);
}

/*
 * Every region's host range is in userspace and, with dirty logging, so is its part of the
 * bitmap at @log_base.
 */
bool vhnet_mem_access_ok(const struct vhnet_mem *mem, void __user *log_base, bool log_all)
{
	u32 i;

	if (!mem)
		return false;
	for (i = 0; i < mem->nregions; i++) {
		const struct vhnet_mem_region *r = &mem->regions[i];
		u64 len_minus_1 = r->last - r->start;

		if (!vhnet_user_range_ok(r->uaddr, len_minus_1))
			return false;
		if (log_all && !vhnet_log_access_ok(log_base, r->start, len_minus_1))
			return false;
	}
	return true;
}

/**
 * vhnet_log_write - mark guest pages dirty in the owner's bitmap
 * @log_base:	the bitmap (VHOST_SET_LOG_BASE) in the caller's mm: bit N is guest page N
 * @gpa:	guest physical address of the first byte written
 * @len:	bytes written
 *
 * One bit per 4 KiB guest page that [@gpa, @gpa + @len) touches. The bitmap is the owner's
 * memory, which the owner reads and clears concurrently (QEMU exchanges 64-bit words), so a
 * bit is set atomically through the pinned page, never by a plain store to user memory; each
 * bitmap page is pinned once for all the bits the write sets in it, and marked dirty.
 *
 * Return: the number of bits set (pages logged), or -EFAULT when the range or its bitmap
 * cannot be reached (bits set before the fault stay set).
 */
long vhnet_log_write(void __user *log_base, u64 gpa, u64 len)
{
	u64 base = (u64)(unsigned long)log_base, bit, last, end;
	long pages = 0;

	if (!len)
		return 0;
	if (check_add_overflow(gpa, len - 1, &end))
		return -EFAULT;
	bit = gpa >> VHNET_LOG_PAGE_SHIFT;
	last = end >> VHNET_LOG_PAGE_SHIFT;
	while (bit <= last) {
		unsigned long first_byte, page_addr, nr;
		u64 byte, page_end_bit;
		struct page *page;
		void *kaddr;

		if (check_add_overflow(base, bit / 8, &byte) || byte >= TASK_SIZE_MAX)
			return -EFAULT;
		first_byte = (unsigned long)byte;
		page_addr = first_byte & PAGE_MASK;
		if (pin_user_pages_fast(page_addr, 1, FOLL_WRITE, &page) != 1)
			return -EFAULT;
		/* bit numbers relative to the pinned page's first byte */
		nr = (first_byte - page_addr) * 8 + bit % 8;
		page_end_bit = bit + (PAGE_SIZE * 8 - nr);
		kaddr = kmap_local_page(page);
		for (; bit <= last && bit < page_end_bit; bit++, nr++) {
			set_bit(nr, kaddr);
			pages++;
		}
		kunmap_local(kaddr);
		unpin_user_pages_dirty_lock(&page, 1, true);
	}
	return pages;
}
