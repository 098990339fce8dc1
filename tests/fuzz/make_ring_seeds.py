#!/usr/bin/env python3
"""Writes the hand-made seed corpus of vhnet-ring-fuzz (tests/fuzz/corpus/ring/).

Each seed is a valid input in the layout of README.md: a ring with a few chains of every kind
(direct, chained, indirect, spanning two memory regions, index wraparound) and a script of device
operations, plus one broken ring for each error the core reports, so that the fuzzer starts from
every path. Run it again after changing the layout: ./make_ring_seeds.py corpus/ring
"""
import struct
import sys
from pathlib import Path

ARENA = 0x10000
RAM_GPA = 0x100000
# buffers are never read by the core: only their addresses matter, and the image stops before them
BUFS = 0x8000
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4
EVENT_IDX, INDIRECT, NOTIFY_ON_EMPTY = 1, 2, 4

# device operations of the script
GET, NEED, DISABLE, ENABLE, EMPTY = 0, 2, 3, 4, 5


def add_used(n):
    """Return n chains (1..32; at most the ring size)."""
    return ((n - 1) << 3) | 1


def unget(n):
    return (n << 3) | 6


def fault(n):
    """The nth accessor call from now (1..16) fails."""
    return ((n + 15) << 3) | 5


def poke(off, val):
    """The guest writes byte val at arena offset off."""
    return bytes([7]) + struct.pack("<HB", off, val)


class Seed:
    def __init__(self, num=8, features=0, start=0, used_start=None, max_iov=64, regions=None):
        self.num = num
        self.features = features
        self.start = start
        self.used_start = start if used_start is None else used_start
        self.max_iov = max_iov
        self.regions = regions if regions is not None else [(RAM_GPA, ARENA, 0)]
        self.image = bytearray(ARENA)
        self.ops = bytearray()
        self.avail_idx = start
        # the ring's parts one after the other, as vring_init() lays them out with align 4
        self.desc_off = 0
        self.avail_off = 16 * num
        self.used_off = (self.avail_off + 6 + 2 * num + 3) & ~3
        self.next_table = (self.used_off + 6 + 8 * num + 15) & ~15
        self.put16(self.avail_off + 2, start)
        self.put16(self.used_off + 2, self.used_start)

    def put16(self, off, v):
        struct.pack_into("<H", self.image, off, v & 0xFFFF)

    def desc(self, i, addr, length, flags=0, nxt=0, base=None):
        base = self.desc_off if base is None else base
        struct.pack_into("<QIHH", self.image, base + 16 * i, addr, length, flags, nxt)

    def table(self, count):
        """An indirect table of count entries: its arena offset and guest address."""
        off = self.next_table
        self.next_table += 16 * count
        return off, RAM_GPA + off

    def push(self, head):
        self.put16(self.avail_off + 4 + 2 * (self.avail_idx % self.num), head)
        self.avail_idx += 1
        self.put16(self.avail_off + 2, self.avail_idx)

    def used_event(self, v):
        self.put16(self.avail_off + 4 + 2 * self.num, v)

    def script(self, *ops):
        for op in ops:
            self.ops += op if isinstance(op, bytes) else bytes([op])

    def bytes(self):
        log2 = self.num.bit_length() - 1
        out = struct.pack("<BBHHBBHHHH", log2, self.features, self.start & 0xFFFF,
                          self.used_start & 0xFFFF, self.max_iov, len(self.regions),
                          self.desc_off, self.avail_off, self.used_off, len(self.ops))
        for gpa, size, off in self.regions:
            out += struct.pack("<QII", gpa, size, off)
        # trailing zeros of the image are implied
        return out + bytes(self.ops) + bytes(self.image).rstrip(b"\0")


def buf(i):
    return RAM_GPA + BUFS + 0x100 * i


def seeds():
    s = Seed()
    yield "empty", s

    s = Seed()
    s.desc(0, buf(0), 64)
    s.desc(1, buf(1), 1500, F_WRITE)
    s.push(0)
    s.push(1)
    s.script(GET, GET, GET, add_used(2), NEED)
    yield "direct", s

    s = Seed(num=16, features=EVENT_IDX)
    for i in range(5):
        s.desc(i, buf(i), 100 + i, (F_WRITE if i >= 2 else 0) | (F_NEXT if i < 4 else 0), i + 1)
    s.push(0)
    s.used_event(0)
    s.script(DISABLE, GET, GET, ENABLE, add_used(1), NEED, EMPTY)
    yield "chained-event-idx", s

    s = Seed(features=INDIRECT | EVENT_IDX)
    off, gpa = s.table(4)
    for i in range(4):
        s.desc(i, buf(i), 32 * (i + 1), (F_WRITE if i >= 2 else 0) | (F_NEXT if i < 3 else 0),
               i + 1, base=off)
    s.desc(3, gpa, 64, F_INDIRECT)
    s.desc(4, buf(5), 16)
    s.push(3)
    s.push(4)
    s.script(GET, add_used(1), NEED, GET, add_used(1), NEED)
    yield "indirect", s

    # guest 0x200000.. is two regions that are not contiguous in the arena
    s = Seed(regions=[(RAM_GPA, 0x9000, 0), (0x200000, 0x1000, 0xA000), (0x201000, 0x1000, 0xC000)])
    s.desc(0, buf(0), 10, F_NEXT, 1)
    s.desc(1, 0x200FF0, 0x20, F_WRITE)
    s.push(0)
    s.script(GET, add_used(1))
    yield "two-regions", s

    # a full ring of 256 through the 16-bit wrap, with notifications
    s = Seed(num=256, features=EVENT_IDX | NOTIFY_ON_EMPTY, start=65530)
    for i in range(256):
        s.desc(i, buf(i % 64), 1 + i, F_WRITE if i % 2 else 0)
        s.push(i)
    s.used_event(65535)
    s.script(DISABLE, *([GET] * 20), add_used(20), NEED, unget(0), *([GET] * 12), unget(2),
             GET, GET, add_used(12), NEED, ENABLE, EMPTY)
    yield "wrap-256", s

    # the guest publishes while the device polls
    s = Seed(features=NOTIFY_ON_EMPTY)
    for i in range(4):
        s.desc(i, buf(i), 8)
    s.put16(s.avail_off + 4, 0)
    s.put16(s.avail_off + 6, 1)
    s.script(DISABLE, GET, ENABLE, poke(s.avail_off + 2, 1), ENABLE, DISABLE, GET, GET,
             poke(s.avail_off + 2, 2), ENABLE, GET, add_used(2), NEED)
    yield "guest-publishes", s

    # faults in the middle of every kind of call
    s = Seed(features=INDIRECT | EVENT_IDX)
    off, gpa = s.table(3)
    for i in range(3):
        s.desc(i, buf(i), 16, (F_WRITE if i == 2 else 0) | (F_NEXT if i < 2 else 0), i + 1,
               base=off)
    s.desc(0, gpa, 48, F_INDIRECT)
    s.desc(1, buf(4), 8, F_NEXT, 2)
    s.desc(2, buf(5), 8, F_WRITE)
    s.push(0)
    s.push(1)
    s.script(fault(3), GET, GET, fault(2), add_used(1), add_used(1), fault(1), DISABLE, fault(2),
             ENABLE, fault(1), NEED, GET)
    yield "faults", s

    # a chain exactly as long as the ring
    s = Seed(num=4, max_iov=4)
    for i in range(4):
        s.desc(i, buf(i), 4, F_NEXT if i < 3 else 0, i + 1)
    s.push(0)
    s.script(GET, add_used(1), NEED)
    yield "chain-of-num", s

    # broken rings: one for each error
    s = Seed()
    s.desc(0, buf(0), 0, F_NEXT, 1)
    s.desc(1, buf(1), 0, F_NEXT, 0)
    s.push(0)
    yield "loop", s

    s = Seed(features=INDIRECT)
    off, gpa = s.table(2)
    s.desc(0, buf(0), 8, F_NEXT, 1, base=off)
    s.desc(1, buf(1), 8, F_NEXT, 0, base=off)
    s.desc(0, gpa, 32, F_INDIRECT)
    s.push(0)
    yield "indirect-loop", s

    s = Seed()
    s.push(8)
    yield "bad-head", s

    s = Seed()
    s.desc(0, buf(0), 8, F_NEXT, 9)
    s.push(0)
    yield "bad-next", s

    s = Seed()
    s.desc(0, buf(0), 8)
    s.push(0)
    s.put16(s.avail_off + 2, 9)
    yield "bad-avail-idx", s

    s = Seed(features=INDIRECT)
    off, gpa = s.table(2)
    s.desc(0, gpa, 24, F_INDIRECT)
    s.push(0)
    yield "indirect-bad-len", s

    s = Seed(features=INDIRECT)
    off, gpa = s.table(1)
    s.desc(0, gpa, 16, F_INDIRECT, base=off)
    s.desc(0, gpa, 16, F_INDIRECT)
    s.push(0)
    yield "indirect-nested", s

    s = Seed()
    s.desc(0, buf(0), 8, F_WRITE | F_NEXT, 1)
    s.desc(1, buf(1), 8)
    s.push(0)
    yield "out-after-in", s

    s = Seed()
    s.desc(0, 0x10, 8)
    s.push(0)
    yield "bad-addr", s

    s = Seed(max_iov=1)
    s.desc(0, buf(0), 8, F_NEXT, 1)
    s.desc(1, buf(1), 8, F_WRITE)
    s.push(0)
    yield "too-many-segs", s

    # the used ring sticks out of the arena
    s = Seed()
    s.desc(0, buf(0), 8)
    s.push(0)
    s.script(GET, add_used(1), DISABLE, ENABLE, NEED)
    data = bytearray(s.bytes())
    struct.pack_into("<H", data, 12, ARENA - 4)
    yield "used-out-of-arena", bytes(data)


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "corpus" / "ring")
    out.mkdir(parents=True, exist_ok=True)
    for name, seed in seeds():
        data = seed if isinstance(seed, bytes) else seed.bytes()
        (out / f"seed-{name}").write_bytes(data)
    print(f"wrote {len(list(seeds()))} seeds to {out}")


if __name__ == "__main__":
    main()
