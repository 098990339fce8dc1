/* SPDX-License-Identifier: GPL-2.0 */
#ifndef VHNET_MEM_H
#define VHNET_MEM_H

#include <linux/types.h>

struct vhost_memory;

/**
 * struct vhnet_mem_region - guest physical [@start, @last] mapped at @uaddr in the owner's mm
 *
 * @last is inclusive so that the whole 64-bit space (VHOST_SET_MEM_TABLE's region of size 0 at
 * address 0, which vhost accepts as "everything") can be represented.
 */
struct vhnet_mem_region {
	u64 start;
	u64 last;
	u64 uaddr;
};

/**
 * struct vhnet_mem - the memory table set by VHOST_SET_MEM_TABLE; immutable once built
 * @nregions:	number of entries in @regions
 * @regions:	sorted by @start; regions may overlap, as vhost allows
 */
struct vhnet_mem {
	u32 nregions;
	struct vhnet_mem_region regions[];
};

struct vhnet_mem *vhnet_mem_from_user(const struct vhost_memory __user *m, unsigned int max);
struct vhnet_mem *vhnet_mem_empty(void);
void vhnet_mem_free(struct vhnet_mem *mem);

const struct vhnet_mem_region *vhnet_mem_find(const struct vhnet_mem *mem, u64 gpa);
bool vhnet_mem_access_ok(const struct vhnet_mem *mem, void __user *log_base, bool log_all);
bool vhnet_log_access_ok(void __user *log_base, u64 addr, u64 len_minus_1);
long vhnet_log_write(void __user *log_base, u64 gpa, u64 len);

#endif /* VHNET_MEM_H */
