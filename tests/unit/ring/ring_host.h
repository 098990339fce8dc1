/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What kmod/ring/vring.c takes from the kernel, for a host (userspace) build: vring.h includes
 * this header when __KERNEL__ is not defined. The uapi ring structs come from the host's own
 * <linux/virtio_ring.h>; everything else is a few lines here.
 *
 * C++ users include "vring_cxx.h" instead (extern "C" around vring.h, and no legacy uapi).
 */
#ifndef VHNET_RING_HOST_H
#define VHNET_RING_HOST_H

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/types.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_types.h>

typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* user pointers are plain pointers here: the accessors bounds-check them */
#ifndef __user
#define __user
#endif
#ifndef __force
#define __force
#endif

/* <linux/virtio_byteorder.h> */
static inline u16 __virtio16_to_cpu(bool little_endian, __virtio16 val) {
    return little_endian ? le16toh((__force u16)val) : be16toh((__force u16)val);
}

static inline __virtio16 __cpu_to_virtio16(bool little_endian, u16 val) {
    return (__force __virtio16)(little_endian ? htole16(val) : htobe16(val));
}

static inline u32 __virtio32_to_cpu(bool little_endian, __virtio32 val) {
    return little_endian ? le32toh((__force u32)val) : be32toh((__force u32)val);
}

static inline __virtio32 __cpu_to_virtio32(bool little_endian, u32 val) {
    return (__force __virtio32)(little_endian ? htole32(val) : htobe32(val));
}

static inline u64 __virtio64_to_cpu(bool little_endian, __virtio64 val) {
    return little_endian ? le64toh((__force u64)val) : be64toh((__force u64)val);
}

static inline __virtio64 __cpu_to_virtio64(bool little_endian, u64 val) {
    return (__force __virtio64)(little_endian ? htole64(val) : htobe64(val));
}

/* <asm/barrier.h>: the SMP barriers, as the C11 fences they stand for */
#define smp_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define smp_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define smp_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)

#endif /* VHNET_RING_HOST_H */
