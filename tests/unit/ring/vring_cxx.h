// The ring core's interface (kmod/ring/vring.h) for C++: C linkage, and without the legacy part
// of <linux/virtio_ring.h> (vring_init() and friends), which is not valid C++.
#pragma once

#ifndef VIRTIO_RING_NO_LEGACY
#define VIRTIO_RING_NO_LEGACY
#endif

extern "C" {
#include "vring.h"
}
