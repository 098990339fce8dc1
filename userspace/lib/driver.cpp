#include <vhnet/driver.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <thread>
#include <utility>

namespace vhnet {
namespace {

constexpr std::uint64_t kPage = 4096;
/// Every RX buffer and TX slot starts on a cache line.
constexpr std::uint64_t kBufferAlign = 64;
/// How long wait_used() sleeps between two looks at used->idx while interrupts are suppressed.
constexpr auto kPollInterval = std::chrono::microseconds(20);

constexpr std::uint64_t align_up(std::uint64_t value, std::uint64_t align) {
    return (value + align - 1) & ~(align - 1);
}

constexpr std::uint64_t bit(unsigned n) {
    return std::uint64_t{1} << n;
}

constexpr std::uint16_t u16(unsigned value) {
    return static_cast<std::uint16_t>(value);
}

/// vring_need_event() of <linux/virtio_ring.h>: whether moving an index from `old` to `new_idx`
/// crosses `event`, the index the other side asked to be notified at.
constexpr bool need_event(std::uint16_t event, std::uint16_t new_idx, std::uint16_t old) {
    return u16(new_idx - event - 1u) < u16(new_idx - old);
}

const char *queue_name(Queue queue) {
    return queue == Queue::Rx ? "RX" : "TX";
}

unsigned index(Queue queue) {
    return static_cast<unsigned>(queue);
}

constexpr Queue kQueues[] = {Queue::Rx, Queue::Tx};

} // namespace

// The driver's view of one ring. Everything but `ring` is private to the driver: the device never
// sees it, so a device (or test) writing the ring cannot corrupt it.
struct Driver::QueueState {
    QueueState(Vring vring, EventFd kick_fd, EventFd call_fd, EventFd err_fd, std::uint16_t base)
        : ring(vring), kick(std::move(kick_fd)), call(std::move(call_fd)), err(std::move(err_fd)),
          next(vring.num()), chain(vring.num()), num_free(vring.num()), kicked(base),
          last_used(base) {
        for (unsigned i = 0; i < vring.num(); ++i)
            next[i] = u16(i + 1);
    }

    Vring ring;
    EventFd kick;
    EventFd call;
    EventFd err;
    /// The driver's copy of desc.next: links a chain in flight, and the free list.
    std::vector<std::uint16_t> next;
    /// chain[h]: how many descriptors the chain headed by h has; 0 if h is no head in flight.
    std::vector<std::uint16_t> chain;
    std::uint16_t free_head = 0;
    unsigned num_free = 0;
    unsigned in_flight = 0;
    /// avail->idx at the last kick decision.
    std::uint16_t kicked = 0;
    /// The next used entry to consume.
    std::uint16_t last_used = 0;
    bool interrupts = true;
    QueueStats stats;
};

struct Driver::State {
    State(const DriverOptions &opts, const DriverLayout &lay, std::uint64_t feats, MemoryTable mem)
        : options(opts), layout(lay), features(feats), memory(std::move(mem)) {}
    State(const State &) = delete;
    State &operator=(const State &) = delete;

    // Detach, then close the device (whose release stops its worker), and only then unmap the
    // memory it was reading.
    ~State() {
        if (device && backend >= 0) {
            (void)device->set_backend(index(Queue::Tx), -1);
            (void)device->set_backend(index(Queue::Rx), -1);
        }
        device.reset();
    }

    DriverOptions options;
    DriverLayout layout;
    std::uint64_t features;
    std::size_t header_size = 0;
    MemoryTable memory;
    std::byte *base = nullptr; ///< the region's first byte; its guest address is the same
    std::vector<QueueState> queues;
    /// RX buffers not made available, popped from the back.
    std::vector<std::uint32_t> rx_free;
    /// rx_buffer[h]: the RX buffer behind in-flight head h.
    std::vector<std::uint32_t> rx_buffer;
    int backend = -1;
    std::optional<Device> device;

    std::uint64_t gpa(std::uint64_t offset) const {
        return reinterpret_cast<std::uintptr_t>(base) + offset;
    }
    std::uint64_t tx_slot(std::uint16_t head) const {
        return layout.tx_slot_offset + std::uint64_t{head} * layout.tx_slot_size;
    }
    std::uint64_t rx_buffer_at(std::uint32_t buffer) const {
        return layout.rx_buffer_offset + std::uint64_t{buffer} * layout.rx_buffer_stride;
    }
};

// DriverLayout

Result<DriverLayout> DriverLayout::compute(const DriverOptions &options) {
    auto ring = VringLayout::compute(options.ring_size);
    if (!ring)
        return ring.error();
    if (options.buffer_size < sizeof(NetHdr) ||
        options.buffer_size > std::numeric_limits<std::uint32_t>::max())
        return fail(EINVAL,
                    fmt::format("RX buffer size {} (12 bytes to 4 GiB)", options.buffer_size));
    if (options.rx_buffers > std::numeric_limits<std::uint32_t>::max())
        return fail(EINVAL, fmt::format("{} RX buffers", options.rx_buffers));
    if (options.tx_buffer_size == 0 ||
        options.tx_buffer_size > std::numeric_limits<std::uint32_t>::max() - kHeaderRoom)
        return fail(EINVAL, fmt::format("TX buffer size {}", options.tx_buffer_size));
    if (options.tx_segment_size == 0)
        return fail(EINVAL, "TX segment size 0");

    DriverLayout layout;
    layout.ring = *ring;
    layout.rx_ring_offset = 0;
    layout.tx_ring_offset = align_up(ring->total_size, kPage);
    layout.tx_slot_offset = align_up(layout.tx_ring_offset + ring->total_size, kPage);
    layout.tx_table_offset = 0;
    layout.tx_frame_offset = std::uint64_t{16} * kMaxIndirect + kHeaderRoom;
    layout.tx_slot_size = align_up(layout.tx_frame_offset + options.tx_buffer_size, kBufferAlign);
    layout.tx_slots = options.ring_size;
    layout.rx_buffer_offset =
        align_up(layout.tx_slot_offset + layout.tx_slots * layout.tx_slot_size, kPage);
    layout.rx_buffer_stride = align_up(options.buffer_size, kBufferAlign);
    layout.rx_buffers = options.rx_buffers ? options.rx_buffers : options.ring_size;
    layout.total_size = layout.rx_buffer_offset + layout.rx_buffers * layout.rx_buffer_stride;
    layout.memory_size = options.memory ? options.memory : align_up(layout.total_size, kPage);
    if (layout.memory_size < layout.total_size)
        return fail(EINVAL,
                    fmt::format("driver memory {:#x} is smaller than the {:#x} bytes needed",
                                layout.memory_size, layout.total_size));
    return layout;
}

// Setup

Driver::Driver(std::unique_ptr<State> state) noexcept : state_(std::move(state)) {}
Driver::Driver(Driver &&) noexcept = default;
Driver &Driver::operator=(Driver &&) noexcept = default;
Driver::~Driver() = default;

Result<Driver> Driver::create(const DriverOptions &options, std::uint64_t features) {
    auto layout = DriverLayout::compute(options);
    if (!layout)
        return layout.error();
    auto memory = MemoryTable::identity(layout->memory_size);
    if (!memory)
        return memory.error();
    auto &region = memory->regions().front();
    auto at = region.allocate(layout->total_size, kPage);
    if (!at)
        return at.error();

    auto state = std::make_unique<State>(options, *layout, features, std::move(*memory));
    State &s = *state;
    s.base = s.memory.host(*at);
    s.header_size = (features & (bit(VIRTIO_F_VERSION_1) | bit(kVirtioNetFMrgRxbuf)))
                        ? sizeof(NetHdr)
                        : offsetof(NetHdr, num_buffers);
    s.queues.reserve(2);
    for (const Queue queue : kQueues) {
        const std::uint64_t offset =
            queue == Queue::Rx ? layout->rx_ring_offset : layout->tx_ring_offset;
        const Vring ring(layout->ring, s.base + offset, s.gpa(offset));
        auto kick = EventFd::create();
        if (!kick)
            return kick.error();
        auto call = EventFd::create();
        if (!call)
            return call.error();
        auto err = EventFd::create();
        if (!err)
            return err.error();
        // The ring starts at ring_base on both sides: the device takes avail from
        // VHOST_SET_VRING_BASE and used from used->idx.
        ring.avail_idx().store(options.ring_base, std::memory_order_relaxed);
        ring.used_idx().store(options.ring_base, std::memory_order_relaxed);
        ring.used_event().store(options.ring_base, std::memory_order_relaxed);
        s.queues.emplace_back(ring, std::move(*kick), std::move(*call), std::move(*err),
                              options.ring_base);
    }
    s.rx_buffer.resize(options.ring_size);
    s.rx_free.reserve(layout->rx_buffers);
    for (std::uint64_t i = layout->rx_buffers; i > 0; --i)
        s.rx_free.push_back(static_cast<std::uint32_t>(i - 1));

    Driver driver(std::move(state));
    if (!options.interrupts) {
        for (const Queue queue : kQueues)
            driver.suppress_interrupts(queue);
    }
    return driver;
}

Result<Driver> Driver::without_device(const DriverOptions &options) {
    return create(options,
                  options.features | (options.vhost_net_hdr ? bit(VHOST_NET_F_VIRTIO_NET_HDR) : 0));
}

Result<Driver> Driver::open(const DriverOptions &options) {
    // Bad options are refused before the device is touched.
    if (auto layout = DriverLayout::compute(options); !layout)
        return layout.error();
    auto device = Device::open(options.device);
    if (!device)
        return device.error();
    if (auto r = device->set_owner(); !r)
        return r.error();
    auto offered = device->features();
    if (!offered)
        return offered.error();
    const std::uint64_t wanted =
        options.features | (options.vhost_net_hdr ? bit(VHOST_NET_F_VIRTIO_NET_HDR) : 0);
    const std::uint64_t features = wanted & *offered;
    if (auto r = device->set_features(features); !r)
        return r.error();

    auto driver = create(options, features);
    if (!driver)
        return driver.error();
    State &s = *driver->state_;
    s.device.emplace(std::move(*device));
    Device &dev = *s.device;

    if (auto r = dev.set_mem_table(s.memory); !r)
        return r.error();
    for (const Queue queue : kQueues) {
        const unsigned i = index(queue);
        const QueueState &q = s.queues[i];
        if (auto r = dev.set_vring_num(i, q.ring.num()); !r)
            return r.error();
        if (auto r = dev.set_vring_base(i, options.ring_base); !r)
            return r.error();
        if (auto r = dev.set_vring_addr(q.ring.addr(i)); !r)
            return r.error();
        if (auto r = dev.set_vring_kick(i, q.kick.fd()); !r)
            return r.error();
        if (auto r = dev.set_vring_call(i, q.call.fd()); !r)
            return r.error();
        if (auto r = dev.set_vring_err(i, q.err.fd()); !r)
            return r.error();
    }
    if (options.backend_fd >= 0) {
        if (auto r = driver->attach(options.backend_fd); !r)
            return r.error();
    }
    return driver;
}

// Backend and accessors

Result<void> Driver::attach(int backend_fd) {
    State &s = *state_;
    if (!s.device)
        return fail(ENODEV,
                    fmt::format("VHOST_NET_SET_BACKEND {}: the driver has no device", backend_fd));
    if (auto r = s.device->set_backend(index(Queue::Rx), backend_fd); !r)
        return r.error();
    if (auto r = s.device->set_backend(index(Queue::Tx), backend_fd); !r) {
        (void)s.device->set_backend(index(Queue::Rx), s.backend);
        return r.error();
    }
    s.backend = backend_fd;
    return {};
}

Result<void> Driver::detach() {
    return attach(-1);
}

int Driver::backend_fd() const noexcept {
    return state_->backend;
}

Device *Driver::device() noexcept {
    return state_->device ? &*state_->device : nullptr;
}

const DriverOptions &Driver::options() const noexcept {
    return state_->options;
}

const DriverLayout &Driver::layout() const noexcept {
    return state_->layout;
}

std::uint64_t Driver::features() const noexcept {
    return state_->features;
}

std::size_t Driver::header_size() const noexcept {
    return state_->header_size;
}

MemoryTable &Driver::memory() noexcept {
    return state_->memory;
}

Driver::QueueState &Driver::queue(Queue queue) noexcept {
    return state_->queues[index(queue)];
}

const Driver::QueueState &Driver::queue(Queue queue) const noexcept {
    return state_->queues[index(queue)];
}

const Vring &Driver::vring(Queue q) const noexcept {
    return queue(q).ring;
}

EventFd &Driver::kick_event(Queue q) noexcept {
    return queue(q).kick;
}

EventFd &Driver::call_event(Queue q) noexcept {
    return queue(q).call;
}

EventFd &Driver::err_event(Queue q) noexcept {
    return queue(q).err;
}

int Driver::kick_fd(Queue q) const noexcept {
    return queue(q).kick.fd();
}

int Driver::call_fd(Queue q) const noexcept {
    return queue(q).call.fd();
}

int Driver::err_fd(Queue q) const noexcept {
    return queue(q).err.fd();
}

const QueueStats &Driver::stats(Queue q) const noexcept {
    return queue(q).stats;
}

unsigned Driver::in_flight(Queue q) const noexcept {
    return queue(q).in_flight;
}

unsigned Driver::free_descriptors(Queue q) const noexcept {
    return queue(q).num_free;
}

std::size_t Driver::rx_buffers_free() const noexcept {
    return state_->rx_free.size();
}

void Driver::set_rx_repost(bool repost) noexcept {
    state_->options.rx_repost = repost;
}

// The ring: publishing, kicking, consuming

void Driver::push_avail(Queue q, std::uint16_t head) noexcept {
    const Vring &ring = queue(q).ring;
    // Only the driver writes avail->idx, so a relaxed load reads back its own last store (or a
    // test's, which is why the driver keeps no shadow of it).
    const std::uint16_t idx = ring.avail_idx().load(std::memory_order_relaxed);
    ring.avail_ring(idx & (ring.num() - 1)) = head;
    // The entry (and the descriptors before it) must be visible before the index.
    ring.avail_idx().store(u16(idx + 1u), std::memory_order_release);
}

Result<void> Driver::publish(QueueState &q, Queue queue, std::uint16_t head) {
    push_avail(queue, head);
    ++q.stats.posted;
    const std::uint16_t idx = q.ring.avail_idx().load(std::memory_order_relaxed);
    if (u16(idx - q.kicked) == 0xffff) {
        if (auto r = kick(queue); !r)
            return r.error();
    }
    return {};
}

Result<bool> Driver::kick(Queue queue) {
    QueueState &q = this->queue(queue);
    // The avail->idx store must be visible before the device's flags / avail_event are read:
    // otherwise the device may go to sleep having seen neither (virtqueue_kick_prepare()).
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const std::uint16_t new_idx = q.ring.avail_idx().load(std::memory_order_relaxed);
    const std::uint16_t old = std::exchange(q.kicked, new_idx);
    if (new_idx == old)
        return false;
    const bool needed =
        event_idx()
            ? need_event(q.ring.avail_event().load(std::memory_order_relaxed), new_idx, old)
            : !(q.ring.used_flags().load(std::memory_order_relaxed) & VRING_USED_F_NO_NOTIFY);
    if (!needed) {
        ++q.stats.kicks_suppressed;
        return false;
    }
    if (auto r = notify(queue); !r)
        return r.error();
    return true;
}

Result<void> Driver::notify(Queue queue) {
    QueueState &q = this->queue(queue);
    if (auto r = q.kick.signal(); !r)
        return fail(r.error().code(), fmt::format("kick the {} ring", queue_name(queue)));
    ++q.stats.kicks;
    return {};
}

unsigned Driver::pending_used(Queue q) const noexcept {
    const QueueState &s = queue(q);
    return u16(s.ring.used_idx().load(std::memory_order_acquire) - s.last_used);
}

std::optional<vring_used_elem> Driver::pop(QueueState &q) noexcept {
    // Acquire: the entry is read only after the index that covers it.
    if (q.ring.used_idx().load(std::memory_order_acquire) == q.last_used)
        return std::nullopt;
    const vring_used_elem elem = q.ring.used_ring(q.last_used & (q.ring.num() - 1));
    ++q.last_used;
    if (event_idx()) {
        if (q.interrupts) {
            // Ask for an interrupt at the next entry, and make that visible before used->idx is
            // read again (virtqueue_get_buf()).
            q.ring.used_event().store(q.last_used, std::memory_order_relaxed);
            std::atomic_thread_fence(std::memory_order_seq_cst);
        } else {
            q.ring.used_event().store(u16(q.last_used - 1u), std::memory_order_relaxed);
        }
    }
    return elem;
}

std::optional<vring_used_elem> Driver::pop_used(Queue q) noexcept {
    return pop(queue(q));
}

void Driver::free_chain(QueueState &q, std::uint16_t head) noexcept {
    const unsigned n = std::exchange(q.chain[head], 0);
    std::uint16_t last = head;
    for (unsigned i = 1; i < n; ++i)
        last = q.next[last];
    q.next[last] = q.free_head;
    q.free_head = head;
    q.num_free += n;
    --q.in_flight;
}

// Interrupts

void Driver::suppress_interrupts(Queue queue) noexcept {
    QueueState &q = this->queue(queue);
    q.interrupts = false;
    const auto flags = q.ring.avail_flags().load(std::memory_order_relaxed);
    q.ring.avail_flags().store(u16(flags | VRING_AVAIL_F_NO_INTERRUPT), std::memory_order_relaxed);
    if (event_idx())
        q.ring.used_event().store(u16(q.last_used - 1u), std::memory_order_relaxed);
}

bool Driver::enable_interrupts(Queue queue, bool delayed) noexcept {
    QueueState &q = this->queue(queue);
    q.interrupts = true;
    const auto flags = q.ring.avail_flags().load(std::memory_order_relaxed);
    q.ring.avail_flags().store(u16(flags & ~unsigned{VRING_AVAIL_F_NO_INTERRUPT}),
                               std::memory_order_relaxed);
    std::uint16_t delay = 0;
    if (event_idx()) {
        if (delayed) {
            const unsigned outstanding =
                u16(q.ring.avail_idx().load(std::memory_order_relaxed) - q.last_used);
            delay = u16(outstanding * 3 / 4);
        }
        q.ring.used_event().store(u16(q.last_used + delay), std::memory_order_relaxed);
    }
    // The request must be visible before used->idx is re-read, or an entry the device added in
    // between could go without an interrupt.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    return u16(q.ring.used_idx().load(std::memory_order_acquire) - q.last_used) <= delay;
}

bool Driver::interrupts_enabled(Queue q) const noexcept {
    return queue(q).interrupts;
}

Result<std::uint64_t> Driver::wait_call(Queue queue, std::chrono::milliseconds timeout) {
    QueueState &q = this->queue(queue);
    auto value = q.call.wait(timeout);
    if (!value)
        return fail(value.error().code(),
                    fmt::format("wait for a call on the {} ring", queue_name(queue)));
    q.stats.calls += *value;
    return value;
}

Result<std::uint64_t> Driver::consume_calls(Queue queue) {
    QueueState &q = this->queue(queue);
    auto value = q.call.consume();
    if (!value)
        return fail(value.error().code(),
                    fmt::format("read the call eventfd of the {} ring", queue_name(queue)));
    q.stats.calls += *value;
    return value;
}

Result<void> Driver::wait_used(Queue queue, std::chrono::milliseconds timeout) {
    using Clock = std::chrono::steady_clock;
    const bool forever = timeout < std::chrono::milliseconds::zero();
    const auto deadline = Clock::now() + (forever ? std::chrono::milliseconds::zero() : timeout);
    const auto timed_out = [&] {
        return fail(ETIMEDOUT,
                    fmt::format("wait for used buffers on the {} ring", queue_name(queue)));
    };
    for (;;) {
        if (pending_used(queue) != 0)
            return {};
        if (!interrupts_enabled(queue)) {
            if (!forever && Clock::now() >= deadline)
                return timed_out();
            std::this_thread::sleep_for(kPollInterval);
            continue;
        }
        if (!enable_interrupts(queue))
            return {};
        auto left = std::chrono::milliseconds(-1);
        if (!forever) {
            left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
            if (left <= std::chrono::milliseconds::zero()) {
                // One last look, without sleeping.
                if (pending_used(queue) != 0)
                    return {};
                return timed_out();
            }
        }
        if (auto r = wait_call(queue, left); !r) {
            if (r.error().code() != ETIMEDOUT)
                return r.error();
            if (pending_used(queue) != 0)
                return {};
            return timed_out();
        }
    }
}

// TX

Result<void> Driver::post_tx(std::span<const std::byte> frame, const NetHdr &hdr, TxLayout layout,
                             std::size_t segment) {
    State &s = *state_;
    QueueState &q = queue(Queue::Tx);
    if (segment == 0)
        segment = s.options.tx_segment_size;
    if (frame.size() > s.options.tx_buffer_size)
        return fail(EMSGSIZE, fmt::format("TX frame of {} bytes (at most {})", frame.size(),
                                          s.options.tx_buffer_size));
    if (layout == TxLayout::Indirect && !has_feature(VIRTIO_RING_F_INDIRECT_DESC))
        return fail(EOPNOTSUPP, "TX indirect descriptors without VIRTIO_RING_F_INDIRECT_DESC");

    // The pieces of the packet: the header and frame in one, or the header then the segments.
    const std::size_t segments = frame.size() / segment + (frame.size() % segment != 0);
    const std::size_t pieces = layout == TxLayout::Single ? 1 : 1 + segments;
    const std::size_t descriptors = layout == TxLayout::Chained ? pieces : 1;
    if (layout == TxLayout::Indirect && pieces > DriverLayout::kMaxIndirect)
        return fail(EMSGSIZE, fmt::format("TX indirect table of {} descriptors (at most {})",
                                          pieces, DriverLayout::kMaxIndirect));
    if (descriptors > q.ring.num())
        return fail(EMSGSIZE, fmt::format("TX chain of {} descriptors in a ring of {}", descriptors,
                                          q.ring.num()));
    if (descriptors > q.num_free)
        return fail(EAGAIN, fmt::format("TX ring full ({} descriptors free, {} needed)", q.num_free,
                                        descriptors));

    const std::uint16_t head = q.free_head;
    const std::uint64_t slot = s.tx_slot(head);
    const std::uint64_t frame_at = slot + s.layout.tx_frame_offset;
    const std::uint64_t hdr_at = frame_at - s.header_size;
    std::memcpy(s.base + hdr_at, &hdr, s.header_size);
    if (!frame.empty())
        std::memcpy(s.base + frame_at, frame.data(), frame.size());

    const auto piece = [&](std::size_t i) -> std::pair<std::uint64_t, std::uint32_t> {
        if (layout == TxLayout::Single)
            return {s.gpa(hdr_at), static_cast<std::uint32_t>(s.header_size + frame.size())};
        if (i == 0)
            return {s.gpa(hdr_at), static_cast<std::uint32_t>(s.header_size)};
        const std::size_t offset = (i - 1) * segment;
        return {s.gpa(frame_at + offset),
                static_cast<std::uint32_t>(std::min(segment, frame.size() - offset))};
    };
    const auto last = static_cast<std::uint16_t>(pieces - 1);

    if (layout == TxLayout::Indirect) {
        auto *table = reinterpret_cast<vring_desc *>(s.base + slot + s.layout.tx_table_offset);
        for (std::uint16_t i = 0; i <= last; ++i) {
            const auto [addr, len] = piece(i);
            table[i] = vring_desc{.addr = addr,
                                  .len = len,
                                  .flags = u16(i < last ? VRING_DESC_F_NEXT : 0),
                                  .next = u16(i < last ? i + 1u : 0)};
        }
        q.ring.desc(head) = vring_desc{.addr = s.gpa(slot + s.layout.tx_table_offset),
                                       .len = static_cast<std::uint32_t>(16 * pieces),
                                       .flags = VRING_DESC_F_INDIRECT,
                                       .next = 0};
        q.free_head = q.next[head];
    } else {
        // The free list is already linked in the order the chain takes: the driver's next[] of
        // the chain is what goes into desc.next.
        std::uint16_t id = head;
        for (std::uint16_t i = 0; i <= last; ++i) {
            const auto [addr, len] = piece(i);
            q.ring.desc(id) = vring_desc{.addr = addr,
                                         .len = len,
                                         .flags = u16(i < last ? VRING_DESC_F_NEXT : 0),
                                         .next = i < last ? q.next[id] : u16(0)};
            id = q.next[id];
        }
        q.free_head = id;
    }
    q.num_free -= static_cast<unsigned>(descriptors);
    q.chain[head] = static_cast<std::uint16_t>(descriptors);
    ++q.in_flight;
    return publish(q, Queue::Tx, head);
}

Result<void> Driver::send(std::span<const std::byte> frame, const NetHdr &hdr, TxLayout layout,
                          std::size_t segment) {
    if (auto r = post_tx(frame, hdr, layout, segment); !r)
        return r;
    if (auto r = kick(Queue::Tx); !r)
        return r.error();
    return {};
}

Result<unsigned> Driver::send_batch(std::span<const std::span<const std::byte>> frames,
                                    const NetHdr &hdr, TxLayout layout, std::size_t segment) {
    unsigned posted = 0;
    std::optional<Error> error;
    for (const auto frame : frames) {
        auto r = post_tx(frame, hdr, layout, segment);
        if (!r) {
            if (r.error().code() != EAGAIN)
                error = r.error();
            break;
        }
        ++posted;
    }
    if (auto r = kick(Queue::Tx); !r)
        return r.error();
    if (error)
        return *error;
    return posted;
}

unsigned Driver::reap_tx() {
    QueueState &q = queue(Queue::Tx);
    unsigned reaped = 0;
    while (const auto elem = pop(q)) {
        if (elem->id >= q.ring.num() || q.chain[elem->id] == 0) {
            ++q.stats.bad_used;
            continue;
        }
        free_chain(q, static_cast<std::uint16_t>(elem->id));
        ++q.stats.completed;
        ++reaped;
    }
    return reaped;
}

// RX

Result<void> Driver::post_rx_buffer(std::uint32_t buffer) {
    State &s = *state_;
    QueueState &q = queue(Queue::Rx);
    const std::uint16_t head = q.free_head;
    q.ring.desc(head) = vring_desc{.addr = s.gpa(s.rx_buffer_at(buffer)),
                                   .len = static_cast<std::uint32_t>(s.options.buffer_size),
                                   .flags = VRING_DESC_F_WRITE,
                                   .next = 0};
    q.free_head = q.next[head];
    --q.num_free;
    q.chain[head] = 1;
    ++q.in_flight;
    s.rx_buffer[head] = buffer;
    return publish(q, Queue::Rx, head);
}

Result<unsigned> Driver::post_rx(unsigned n) {
    State &s = *state_;
    const QueueState &q = queue(Queue::Rx);
    unsigned posted = 0;
    while (posted < n && !s.rx_free.empty() && q.num_free > 0) {
        const std::uint32_t buffer = s.rx_free.back();
        s.rx_free.pop_back();
        if (auto r = post_rx_buffer(buffer); !r)
            return r.error();
        ++posted;
    }
    if (posted != 0) {
        if (auto r = kick(Queue::Rx); !r)
            return r.error();
    }
    return posted;
}

std::uint32_t Driver::release_rx(std::uint16_t head) noexcept {
    const std::uint32_t buffer = state_->rx_buffer[head];
    free_chain(queue(Queue::Rx), head);
    return buffer;
}

void Driver::restock_rx(std::uint32_t buffer, bool repost) {
    if (repost)
        (void)post_rx_buffer(buffer); // a descriptor was freed for it; only a forced kick can fail
    else
        state_->rx_free.push_back(buffer);
}

Result<std::optional<RxPacket>> Driver::receive() {
    State &s = *state_;
    QueueState &q = queue(Queue::Rx);
    const unsigned pending = pending_used(Queue::Rx);
    if (pending == 0)
        return std::optional<RxPacket>();

    const auto in_flight_head = [&](std::uint32_t id) {
        return id < q.ring.num() && q.chain[id] != 0;
    };
    const bool repost = s.options.rx_repost;

    // Look at the first entry before consuming anything: with mergeable buffers its header says
    // how many entries the frame takes.
    const vring_used_elem first = q.ring.used_ring(q.last_used & (q.ring.num() - 1));
    NetHdr hdr;
    unsigned count = 1;
    if (!in_flight_head(first.id)) {
        (void)pop(q);
        ++q.stats.bad_used;
        return fail(EPROTO, fmt::format("RX used entry names head {}, not in flight", first.id));
    }
    const std::byte *start = s.base + s.rx_buffer_at(s.rx_buffer[first.id]);
    std::memcpy(&hdr, start, s.header_size);
    if (mergeable())
        count = hdr.num_buffers;
    if (count == 0 || first.len < s.header_size || first.len > s.options.buffer_size) {
        (void)pop(q);
        ++q.stats.completed;
        restock_rx(release_rx(static_cast<std::uint16_t>(first.id)), repost);
        if (repost)
            (void)kick(Queue::Rx);
        return fail(EPROTO, count == 0
                                ? std::string("RX header with num_buffers 0")
                                : fmt::format("RX used length {} (header {}, buffer {})", first.len,
                                              s.header_size, s.options.buffer_size));
    }
    if (count > pending)
        return fail(EPROTO, fmt::format("RX frame of num_buffers {} but {} used entries published",
                                        count, pending));

    RxPacket packet;
    packet.hdr = hdr;
    packet.num_buffers = count;
    packet.lengths.reserve(count);
    packet.heads.reserve(count);
    // The buffers go back only once all entries are popped: reposted at once, a buffer could get
    // a head that a later entry of this frame names again.
    std::vector<std::uint32_t> buffers;
    buffers.reserve(count);
    std::optional<Error> error;
    for (unsigned i = 0; i < count; ++i) {
        const vring_used_elem elem = *pop(q);
        if (!in_flight_head(elem.id)) {
            ++q.stats.bad_used;
            if (!error)
                error = fail(EPROTO, fmt::format("RX used entry {} of {} names head {}, not in "
                                                 "flight",
                                                 i + 1, count, elem.id));
            continue;
        }
        ++q.stats.completed;
        const auto head = static_cast<std::uint16_t>(elem.id);
        packet.lengths.push_back(elem.len);
        packet.heads.push_back(head);
        if (elem.len > s.options.buffer_size) {
            if (!error)
                error = fail(EPROTO, fmt::format("RX used length {} beyond the {}-byte buffer",
                                                 elem.len, s.options.buffer_size));
        } else if (!error) {
            const std::byte *data = s.base + s.rx_buffer_at(s.rx_buffer[head]);
            const std::size_t skip = i == 0 ? s.header_size : 0;
            packet.frame.insert(packet.frame.end(), data + skip, data + elem.len);
        }
        buffers.push_back(release_rx(head));
    }
    for (const std::uint32_t buffer : buffers)
        restock_rx(buffer, repost);
    if (repost) {
        if (auto r = kick(Queue::Rx); !r && !error)
            error = r.error();
    }
    if (error)
        return *error;
    return std::optional<RxPacket>(std::move(packet));
}

Result<RxPacket> Driver::receive(std::chrono::milliseconds timeout) {
    if (auto r = wait_used(Queue::Rx, timeout); !r)
        return r.error();
    auto packet = receive();
    if (!packet)
        return packet.error();
    if (!*packet)
        return fail(ETIMEDOUT, "receive: no RX frame");
    return std::move(**packet);
}

} // namespace vhnet
