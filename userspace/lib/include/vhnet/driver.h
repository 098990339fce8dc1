// Driver: a userspace virtio-net driver for a vhost-net style device. The process plays the guest:
// it owns the guest memory, the two split rings (RX = queue 0, TX = queue 1) and their eventfds,
// and drives /dev/vhnet or /dev/vhost-net with the same code.
//
//     vhnet::DriverOptions options;
//     options.device = "/dev/vhost-net";
//     options.backend_fd = tap->fd();
//     auto drv = vhnet::Driver::open(options);
//     if (!drv)
//         return drv.error();              // e.g. "VHOST_SET_OWNER on /dev/vhost-net: ..."
//     drv->post_rx(64);                    // RX buffers for the device to fill
//     drv->send(frame);                    // TX: copy into a slot, publish, kick if asked to
//     auto packet = drv->receive(1s);      // wait for a frame from the tap
//     drv->reap_tx();                      // free the TX slots the device is done with
#pragma once

#include <vhnet/device.h>
#include <vhnet/eventfd.h>
#include <vhnet/memory.h>
#include <vhnet/result.h>
#include <vhnet/vring.h>

#include <linux/vhost_types.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ring.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace vhnet {

/// The two virtqueues of a vhost-net device (one queue pair), by their vhost index.
enum class Queue : unsigned { Rx = 0, Tx = 1 };

/// VIRTIO_NET_F_MRG_RXBUF (<linux/virtio_net.h> is not valid C++).
inline constexpr unsigned kVirtioNetFMrgRxbuf = 15;

/// The features Driver asks for by default; it acknowledges their intersection with the offer.
inline constexpr std::uint64_t kDriverFeatures = (std::uint64_t{1} << VIRTIO_F_VERSION_1) |
                                                 (std::uint64_t{1} << kVirtioNetFMrgRxbuf) |
                                                 (std::uint64_t{1} << VIRTIO_RING_F_EVENT_IDX) |
                                                 (std::uint64_t{1} << VIRTIO_RING_F_INDIRECT_DESC);

/// struct virtio_net_hdr_mrg_rxbuf, little-endian, as it leads every frame in a buffer. Only the
/// first Driver::header_size() bytes are on the wire: 12 with VERSION_1 or MRG_RXBUF, else 10
/// (without num_buffers).
struct NetHdr {
    static constexpr std::uint8_t kNeedsCsum = 1; ///< VIRTIO_NET_HDR_F_NEEDS_CSUM
    static constexpr std::uint8_t kDataValid = 2; ///< VIRTIO_NET_HDR_F_DATA_VALID
    static constexpr std::uint8_t kGsoNone = 0;   ///< VIRTIO_NET_HDR_GSO_NONE
    static constexpr std::uint8_t kGsoTcpV4 = 1;  ///< VIRTIO_NET_HDR_GSO_TCPV4
    static constexpr std::uint8_t kGsoUdp = 3;    ///< VIRTIO_NET_HDR_GSO_UDP
    static constexpr std::uint8_t kGsoTcpV6 = 4;  ///< VIRTIO_NET_HDR_GSO_TCPV6
    static constexpr std::uint8_t kGsoUdpL4 = 5;  ///< VIRTIO_NET_HDR_GSO_UDP_L4
    static constexpr std::uint8_t kGsoEcn = 0x80; ///< VIRTIO_NET_HDR_GSO_ECN

    std::uint8_t flags = 0;
    std::uint8_t gso_type = kGsoNone;
    std::uint16_t hdr_len = 0;
    std::uint16_t gso_size = 0;
    std::uint16_t csum_start = 0;
    std::uint16_t csum_offset = 0;
    /// RX with MRG_RXBUF: how many buffers the frame spans. The driver sends it as given (0).
    std::uint16_t num_buffers = 0;

    bool operator==(const NetHdr &) const = default;
};
static_assert(sizeof(NetHdr) == 12, "NetHdr must match struct virtio_net_hdr_mrg_rxbuf");

/// How send() lays a frame out in descriptors.
enum class TxLayout {
    Single,   ///< header and frame in one descriptor
    Chained,  ///< header in one descriptor, the frame over segments of a given size, chained
    Indirect, ///< the Chained chain in an indirect table, behind one ring descriptor
};

/// What Driver::open() sets up.
struct DriverOptions {
    /// The vhost-net style device node.
    std::string device = std::string(kVhnetPath);
    /// Entries of each ring: a power of two up to kMaxVringNum.
    unsigned ring_size = 256;
    /// Features wanted; the driver acknowledges those the device offers too.
    std::uint64_t features = kDriverFeatures;
    /// Also ask for VHOST_NET_F_VIRTIO_NET_HDR: the device adds and strips the virtio-net header
    /// itself, for a backend without IFF_VNET_HDR. The driver's buffers carry a header either way.
    bool vhost_net_hdr = false;
    /// The backend both rings are attached to after setup (a tap fd, or any socket the device
    /// takes); -1: none yet (see Driver::attach()). Not owned.
    int backend_fd = -1;
    /// Bytes of each RX buffer, header included.
    std::size_t buffer_size = 2048;
    /// RX buffers in the pool; 0: ring_size.
    std::size_t rx_buffers = 0;
    /// The largest frame send() takes (each of the ring_size TX slots has room for one).
    std::size_t tx_buffer_size = 65536;
    /// The frame segment size of TxLayout::Chained and Indirect when send() is given none.
    std::size_t tx_segment_size = 1024;
    /// Bytes of guest memory; 0: DriverLayout::total_size rounded up to pages. More than needed
    /// leaves room a test can take with memory().regions().front().allocate().
    std::size_t memory = 0;
    /// Start with interrupts enabled on both rings; false: suppressed, poll (wait_used() polls).
    bool interrupts = true;
    /// receive() makes the buffers it consumed available again; false: they return to the pool,
    /// and only post_rx() posts them (to run the device out of buffers).
    bool rx_repost = true;
    /// The ring index both rings start at: VHOST_SET_VRING_BASE, and avail->idx and used->idx in
    /// memory (a test can start near 65535 to cross the wrap-around quickly).
    std::uint16_t ring_base = 0;
};

/// Where Driver puts things in its one memory region, as byte offsets from its start:
///
///     rx ring | tx ring | tx slots (ring_size) | rx buffers (rx_buffers)
///
/// Each TX slot holds an indirect table, the header and the frame:
///
///     table (kMaxIndirect descriptors) | header room (64) | frame (tx_buffer_size)
///
/// The header is written right before the frame, so TxLayout::Single covers both with one
/// descriptor. TX slot i belongs to the packet whose head descriptor is i.
struct DriverLayout {
    /// Entries of the indirect table in each TX slot: UIO_MAXIOV, the most vhost-net takes.
    static constexpr unsigned kMaxIndirect = 1024;
    /// Room for the header in front of each TX frame.
    static constexpr std::uint64_t kHeaderRoom = 64;

    VringLayout ring;
    std::uint64_t rx_ring_offset = 0;
    std::uint64_t tx_ring_offset = 0;
    std::uint64_t tx_slot_offset = 0;
    std::uint64_t tx_slot_size = 0;
    std::uint64_t tx_slots = 0;
    /// Offsets within a TX slot.
    std::uint64_t tx_table_offset = 0;
    std::uint64_t tx_frame_offset = 0;
    std::uint64_t rx_buffer_offset = 0;
    std::uint64_t rx_buffer_stride = 0;
    std::uint64_t rx_buffers = 0;
    /// Bytes from the region's start to the end of the last RX buffer.
    std::uint64_t total_size = 0;
    /// The size of the region: options.memory, or total_size rounded up to 4 KiB.
    std::uint64_t memory_size = 0;

    /// The layout for `options`: EINVAL for a bad ring size, buffer size (under 12 bytes or over
    /// 4 GiB), zero TX buffer or segment size, or options.memory smaller than total_size.
    static Result<DriverLayout> compute(const DriverOptions &options);

    bool operator==(const DriverLayout &) const = default;
};

/// What one ring has seen, for comparing devices.
struct QueueStats {
    std::uint64_t posted = 0;           ///< buffers (heads) made available
    std::uint64_t completed = 0;        ///< used entries consumed for buffers the driver posted
    std::uint64_t bad_used = 0;         ///< used entries naming a head that was not in flight
    std::uint64_t kicks = 0;            ///< kick eventfd writes
    std::uint64_t kicks_suppressed = 0; ///< kick() with new buffers, not wanted by the device
    std::uint64_t calls = 0;            ///< call eventfd signals consumed (the eventfd counts)
};

/// One frame received.
struct RxPacket {
    NetHdr hdr;                         ///< the first header_size() bytes of the first buffer
    std::vector<std::byte> frame;       ///< the frame, without the header, over all buffers
    unsigned num_buffers = 1;           ///< buffers it spans (hdr.num_buffers with MRG_RXBUF)
    std::vector<std::uint32_t> lengths; ///< the used length of each buffer (header included)
    std::vector<std::uint16_t> heads;   ///< the descriptor ids the device returned
};

/// A virtio-net driver for one vhost-net style device: TX and RX rings in one memfd region whose
/// guest addresses are its host addresses. Not thread-safe: one thread drives it. Move-only; the
/// destructor detaches the backend and closes the device before the memory goes away.
///
/// Memory ordering follows the Linux virtio ring: descriptors and avail entries are written
/// before avail->idx is published with a release store; used->idx is read with an acquire load
/// before the used entries; a full fence separates publishing avail->idx from reading the
/// device's used->flags / avail_event (kick decision), and writing used_event / avail->flags
/// from re-reading used->idx (enabling interrupts).
///
/// The raw ring accessors (vring(), push_avail(), pop_used(), notify()) let a test build rings by
/// hand; the driver's own bookkeeping (which heads are in flight, the free descriptor list) is
/// kept apart from ring memory, so hand-written descriptors cannot corrupt it, but descriptors a
/// test uses by hand should not be ones the driver has in flight.
class Driver {
public:
    /// Checks the options (DriverLayout::compute()), opens options.device, VHOST_SET_OWNER,
    /// VHOST_GET_FEATURES, VHOST_SET_FEATURES (the wanted features the device offers), lays out and
    /// maps the memory, VHOST_SET_MEM_TABLE, then per ring VHOST_SET_VRING_NUM, _BASE, _ADDR,
    /// _KICK, _CALL and _ERR, then attach() if options.backend_fd >= 0. A failure names the step
    /// ("VHOST_SET_OWNER on /dev/null: ...").
    static Result<Driver> open(const DriverOptions &options = {});
    /// Everything open() sets up but the device: no ioctl is issued, features() is
    /// options.features (plus VHOST_NET_F_VIRTIO_NET_HDR if asked for), device() is null. The
    /// device side is whatever the caller does on the rings: host tests emulate it by hand.
    static Result<Driver> without_device(const DriverOptions &options = {});

    Driver(Driver &&) noexcept;
    Driver &operator=(Driver &&) noexcept;
    Driver(const Driver &) = delete;
    Driver &operator=(const Driver &) = delete;
    ~Driver();

    // Backend.

    /// VHOST_NET_SET_BACKEND on both rings (RX first). If TX fails, RX is put back. ENODEV
    /// without a device.
    Result<void> attach(int backend_fd);
    /// attach(-1): stops both rings.
    Result<void> detach();
    /// The backend attached, -1 if none.
    int backend_fd() const noexcept;

    // What was set up.

    /// The device; null for a Driver made by without_device().
    Device *device() noexcept;
    const DriverOptions &options() const noexcept;
    const DriverLayout &layout() const noexcept;
    /// The negotiated features.
    std::uint64_t features() const noexcept;
    bool has_feature(unsigned bit) const noexcept { return bit < 64 && ((features() >> bit) & 1); }
    /// The virtio-net header in front of every frame: 12 bytes with VERSION_1 or MRG_RXBUF,
    /// else 10.
    std::size_t header_size() const noexcept;
    bool event_idx() const noexcept { return has_feature(VIRTIO_RING_F_EVENT_IDX); }
    bool mergeable() const noexcept { return has_feature(kVirtioNetFMrgRxbuf); }

    /// The guest memory (one identity region) holding the rings and buffers.
    MemoryTable &memory() noexcept;
    /// A ring, for reading or writing it by hand.
    const Vring &vring(Queue queue) const noexcept;
    EventFd &kick_event(Queue queue) noexcept;
    EventFd &call_event(Queue queue) noexcept;
    EventFd &err_event(Queue queue) noexcept;
    int kick_fd(Queue queue) const noexcept;
    int call_fd(Queue queue) const noexcept;
    int err_fd(Queue queue) const noexcept;

    // TX.

    /// Copies `frame` after `hdr` into the TX slot of a free head, lays it out as `layout` (with
    /// frame segments of `segment` bytes, 0: options().tx_segment_size) and publishes it, without
    /// kicking. EAGAIN when the ring has too few free descriptors (reap_tx() first), EMSGSIZE for
    /// a frame larger than tx_buffer_size or a chain that can never fit, EOPNOTSUPP for Indirect
    /// without VIRTIO_RING_F_INDIRECT_DESC.
    Result<void> post_tx(std::span<const std::byte> frame, const NetHdr &hdr = {},
                         TxLayout layout = TxLayout::Single, std::size_t segment = 0);
    /// post_tx(), then kick(Queue::Tx).
    Result<void> send(std::span<const std::byte> frame, const NetHdr &hdr = {},
                      TxLayout layout = TxLayout::Single, std::size_t segment = 0);
    /// post_tx() for each frame until the ring is full, then one kick(Queue::Tx). Returns how many
    /// were posted (fewer than frames.size() when the ring filled up); another post_tx() error is
    /// returned after kicking for the frames posted before it.
    Result<unsigned> send_batch(std::span<const std::span<const std::byte>> frames,
                                const NetHdr &hdr = {}, TxLayout layout = TxLayout::Single,
                                std::size_t segment = 0);
    /// Consumes the TX used entries: frees the slots and descriptors of the packets the device
    /// completed and returns how many. Entries naming a head not in flight are skipped and
    /// counted in stats(Queue::Tx).bad_used.
    unsigned reap_tx();

    // RX.

    /// Makes up to `n` pool buffers available to the device (one device-writable descriptor of
    /// buffer_size each), then kick(Queue::Rx). Returns how many were posted: fewer when the pool
    /// or the ring runs out.
    Result<unsigned> post_rx(unsigned n);
    /// Pops one received frame: nullopt when the device has used no RX buffer. With MRG_RXBUF the
    /// frame spans hdr.num_buffers used entries; they must all be published already. The buffers
    /// are made available again (and kicked) unless rx_repost is off. EPROTO for a used entry that
    /// makes no sense (a head not in flight, a length beyond the buffer or short of the header,
    /// num_buffers 0 or more than published — the latter consumes nothing).
    Result<std::optional<RxPacket>> receive();
    /// receive(), waiting up to `timeout` (wait_used()) for a frame; ETIMEDOUT if none came.
    Result<RxPacket> receive(std::chrono::milliseconds timeout);
    void set_rx_repost(bool repost) noexcept;
    /// RX buffers in the pool, not posted.
    std::size_t rx_buffers_free() const noexcept;

    // Notifications.

    /// The kick decision of virtqueue_kick_prepare(): after a full fence, signals the kick
    /// eventfd if buffers were made available since the last decision and the device asks for
    /// it (with EVENT_IDX: vring_need_event(avail_event, new, old); without: no
    /// VRING_USED_F_NO_NOTIFY). Returns whether it kicked.
    Result<bool> kick(Queue queue);
    /// Signals the kick eventfd unconditionally.
    Result<void> notify(Queue queue);
    /// Waits up to `timeout` for the call eventfd and consumes it: the number of signals.
    /// ETIMEDOUT if none came.
    Result<std::uint64_t> wait_call(Queue queue,
                                    std::chrono::milliseconds timeout = EventFd::kForever);
    /// Consumes the call eventfd without waiting: the number of signals, possibly 0.
    Result<std::uint64_t> consume_calls(Queue queue);
    /// Waits up to `timeout` until the ring has used entries to consume: with interrupts enabled,
    /// re-enables them (the race-free way) and sleeps on the call eventfd; with interrupts
    /// suppressed, polls used->idx. ETIMEDOUT if none came.
    Result<void> wait_used(Queue queue, std::chrono::milliseconds timeout);
    /// Asks the device not to signal the call eventfd: VRING_AVAIL_F_NO_INTERRUPT, and with
    /// EVENT_IDX used_event one behind the driver's used index (65535 entries away); kept so as
    /// entries are consumed.
    void suppress_interrupts(Queue queue) noexcept;
    /// Asks for interrupts again (clears the flag; with EVENT_IDX used_event = the next used
    /// entry, or with `delayed` three quarters of the outstanding buffers further), then re-reads
    /// used->idx: true when it is safe to wait for a call, false when entries (more than the
    /// delay) are pending already.
    bool enable_interrupts(Queue queue, bool delayed = false) noexcept;
    bool interrupts_enabled(Queue queue) const noexcept;

    // Ring state and raw access.

    /// Used entries published by the device and not yet consumed.
    unsigned pending_used(Queue queue) const noexcept;
    /// Heads the driver made available that the device has not returned.
    unsigned in_flight(Queue queue) const noexcept;
    /// Descriptors on the driver's free list.
    unsigned free_descriptors(Queue queue) const noexcept;
    /// Raw: consumes the next used entry without any bookkeeping (the head it names stays in
    /// flight); nullopt if there is none.
    std::optional<vring_used_elem> pop_used(Queue queue) noexcept;
    /// Raw: writes `head` (anything, even out of range) into the next avail entry and publishes
    /// avail->idx + 1, without kicking. The driver continues after it.
    void push_avail(Queue queue, std::uint16_t head) noexcept;

    const QueueStats &stats(Queue queue) const noexcept;

private:
    struct State;
    struct QueueState;

    explicit Driver(std::unique_ptr<State> state) noexcept;
    static Result<Driver> create(const DriverOptions &options, std::uint64_t features);
    static Result<Driver> setup(Driver driver);

    QueueState &queue(Queue queue) noexcept;
    const QueueState &queue(Queue queue) const noexcept;
    /// Publishes `head` and counts it; kicks when 65535 buffers are pending since the last kick
    /// decision (past which vring_need_event() cannot tell).
    Result<void> publish(QueueState &q, Queue queue, std::uint16_t head);
    /// Pops the next used entry, keeping used_event as interrupts_enabled() wants it.
    std::optional<vring_used_elem> pop(QueueState &q) noexcept;
    /// Returns the descriptors of in-flight `head` to the free list.
    void free_chain(QueueState &q, std::uint16_t head) noexcept;
    /// Makes RX buffer `buffer` available behind a fresh descriptor.
    Result<void> post_rx_buffer(std::uint32_t buffer);
    /// Frees used RX head `head`; returns its buffer.
    std::uint32_t release_rx(std::uint16_t head) noexcept;
    /// Makes `buffer` available again, or returns it to the pool.
    void restock_rx(std::uint32_t buffer, bool repost);

    std::unique_ptr<State> state_;
};

} // namespace vhnet
