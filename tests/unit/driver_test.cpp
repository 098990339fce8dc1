// Driver without a vhost device: setup errors, the memory layout, and the ring work of TX, RX and
// notifications against a device emulated by hand on the rings (FakeDevice).
#include <vhnet/driver.h>

#include <catch2/catch.hpp>

#include <sys/eventfd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using vhnet::Driver;
using vhnet::DriverLayout;
using vhnet::DriverOptions;
using vhnet::NetHdr;
using vhnet::Queue;
using vhnet::TxLayout;
using vhnet::Vring;

namespace {

constexpr std::uint64_t bit(unsigned n) {
    return std::uint64_t{1} << n;
}

constexpr std::uint64_t kVersion1 = bit(VIRTIO_F_VERSION_1);
constexpr std::uint64_t kMrgRxbuf = bit(vhnet::kVirtioNetFMrgRxbuf);
constexpr std::uint64_t kEventIdx = bit(VIRTIO_RING_F_EVENT_IDX);
constexpr std::uint64_t kIndirect = bit(VIRTIO_RING_F_INDIRECT_DESC);

std::vector<std::byte> pattern(std::size_t size, unsigned seed = 0) {
    std::vector<std::byte> bytes(size);
    for (std::size_t i = 0; i < size; ++i)
        bytes[i] = static_cast<std::byte>((i * 7 + seed) & 0xff);
    return bytes;
}

std::vector<std::byte> header_bytes(const NetHdr &hdr, std::size_t size) {
    std::vector<std::byte> bytes(size);
    std::memcpy(bytes.data(), &hdr, size);
    return bytes;
}

std::vector<std::byte> concat(std::vector<std::byte> a, const std::vector<std::byte> &b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

Driver make_driver(DriverOptions options = {}) {
    auto drv = Driver::without_device(options);
    REQUIRE(drv);
    return std::move(*drv);
}

std::uint64_t kicks(Driver &drv, Queue queue) {
    auto value = drv.kick_event(queue).consume();
    REQUIRE(value);
    return *value;
}

// The device side of one ring, done by hand: reads what the driver made available, walks
// descriptor chains (indirect ones too) and returns used entries.
class FakeDevice {
public:
    FakeDevice(Driver &drv, Queue queue)
        : drv_(drv), ring_(drv.vring(queue)), last_avail_(drv.options().ring_base),
          used_(drv.options().ring_base) {}

    unsigned avail_pending() const {
        return static_cast<std::uint16_t>(ring_.avail_idx().load(std::memory_order_acquire) -
                                          last_avail_);
    }

    /// The next head the driver made available, if any.
    std::optional<std::uint16_t> next_avail() {
        if (avail_pending() == 0)
            return std::nullopt;
        const std::uint16_t head = ring_.avail_ring(last_avail_ & (ring_.num() - 1));
        ++last_avail_;
        return head;
    }
    std::uint16_t take() {
        const auto head = next_avail();
        REQUIRE(head);
        return *head;
    }
    std::uint16_t last_avail() const { return last_avail_; }

    /// The descriptors of the chain at `head`, as the ring has them.
    std::vector<vring_desc> chain(std::uint16_t head) const {
        std::vector<vring_desc> descs;
        std::uint16_t id = head;
        for (unsigned n = 0; n < ring_.num(); ++n) {
            REQUIRE(id < ring_.num());
            descs.push_back(ring_.desc(id));
            if (!(ring_.desc(id).flags & VRING_DESC_F_NEXT))
                break;
            id = ring_.desc(id).next;
        }
        return descs;
    }
    /// The ids of the chain at `head`.
    std::vector<std::uint16_t> chain_ids(std::uint16_t head) const {
        std::vector<std::uint16_t> ids{head};
        for (std::uint16_t id = head; ring_.desc(id).flags & VRING_DESC_F_NEXT;) {
            id = ring_.desc(id).next;
            ids.push_back(id);
        }
        return ids;
    }
    /// The entries of the indirect table `desc` points to.
    std::vector<vring_desc> table(const vring_desc &desc) const {
        REQUIRE((desc.flags & VRING_DESC_F_INDIRECT));
        REQUIRE(desc.len % sizeof(vring_desc) == 0);
        const auto *entries = reinterpret_cast<const vring_desc *>(host(desc.addr, desc.len));
        return {entries, entries + desc.len / sizeof(vring_desc)};
    }
    /// The bytes of the chain at `head`, through an indirect table if it is one.
    std::vector<std::byte> read(std::uint16_t head) const {
        auto descs = chain(head);
        if (descs.size() == 1 && (descs[0].flags & VRING_DESC_F_INDIRECT))
            descs = table(descs[0]);
        std::vector<std::byte> bytes;
        for (const auto &desc : descs) {
            const std::byte *p = host(desc.addr, desc.len);
            bytes.insert(bytes.end(), p, p + desc.len);
        }
        return bytes;
    }

    std::byte *host(std::uint64_t gpa, std::uint64_t len) const {
        std::byte *p = drv_.memory().host(gpa, len);
        REQUIRE(p != nullptr);
        return p;
    }

    /// Writes `bytes` into the (single, device-writable) buffer of RX head `head`.
    void fill(std::uint16_t head, const std::vector<std::byte> &bytes) const {
        const vring_desc &desc = ring_.desc(head);
        REQUIRE((desc.flags & VRING_DESC_F_WRITE));
        REQUIRE(bytes.size() <= desc.len);
        std::memcpy(host(desc.addr, desc.len), bytes.data(), bytes.size());
    }

    /// Adds a used entry; publishes used->idx unless told not to.
    void use(std::uint32_t id, std::uint32_t len = 0, bool publish = true) {
        ring_.used_ring(used_ & (ring_.num() - 1)) = vring_used_elem{.id = id, .len = len};
        ++used_;
        if (publish)
            this->publish();
    }
    void publish() { ring_.used_idx().store(used_, std::memory_order_release); }
    /// What vhost does when it re-enables notifications: kick me at the next avail entry.
    void want_kick_at(std::uint16_t idx) {
        ring_.avail_event().store(idx, std::memory_order_relaxed);
    }

private:
    Driver &drv_;
    const Vring &ring_;
    std::uint16_t last_avail_;
    std::uint16_t used_;
};

} // namespace

// Setup

TEST_CASE("driver/open on a missing device fails naming the path", "[driver]") {
    DriverOptions options;
    options.device = "/nonexistent/vhnet";
    const auto drv = Driver::open(options);
    REQUIRE_FALSE(drv);
    CHECK(drv.error().code() == ENOENT);
    CHECK(drv.error().message() == "open /nonexistent/vhnet: No such file or directory");
}

TEST_CASE("driver/open on a non-vhost node fails at VHOST_SET_OWNER", "[driver]") {
    DriverOptions options;
    options.device = "/dev/null";
    const auto drv = Driver::open(options);
    REQUIRE_FALSE(drv);
    CHECK(drv.error().code() == ENOTTY);
    CHECK(drv.error().message() == "VHOST_SET_OWNER on /dev/null: Inappropriate ioctl for device");
}

TEST_CASE("driver/open checks the options before touching the device", "[driver]") {
    DriverOptions options;
    options.device = "/nonexistent/vhnet";
    options.ring_size = 100;
    for (const auto &drv : {Driver::open(options), Driver::without_device(options)}) {
        REQUIRE_FALSE(drv);
        CHECK(drv.error().message() ==
              "vring size 100 (a power of two up to 32768): Invalid argument");
    }
}

TEST_CASE("driver/defaults", "[driver]") {
    const DriverOptions options;
    CHECK(options.device == "/dev/vhnet");
    CHECK(options.ring_size == 256);
    CHECK(options.features == (kVersion1 | kMrgRxbuf | kEventIdx | kIndirect));
    CHECK(options.backend_fd == -1);
    CHECK(options.buffer_size == 2048);
    CHECK(options.rx_buffers == 0);
    CHECK(options.memory == 0);
    CHECK_FALSE(options.vhost_net_hdr);
    CHECK(vhnet::kVirtioNetFMrgRxbuf == 15);
}

TEST_CASE("driver/NetHdr is struct virtio_net_hdr_mrg_rxbuf", "[driver]") {
    CHECK(sizeof(NetHdr) == 12);
    CHECK(offsetof(NetHdr, flags) == 0);
    CHECK(offsetof(NetHdr, gso_type) == 1);
    CHECK(offsetof(NetHdr, hdr_len) == 2);
    CHECK(offsetof(NetHdr, gso_size) == 4);
    CHECK(offsetof(NetHdr, csum_start) == 6);
    CHECK(offsetof(NetHdr, csum_offset) == 8);
    CHECK(offsetof(NetHdr, num_buffers) == 10);
    NetHdr hdr;
    hdr.flags = NetHdr::kNeedsCsum;
    hdr.gso_type = NetHdr::kGsoTcpV4;
    hdr.hdr_len = 54;
    hdr.gso_size = 1448;
    hdr.csum_start = 34;
    hdr.csum_offset = 16;
    hdr.num_buffers = 3;
    const std::vector<std::uint8_t> expected{1, 1, 54, 0, 0xa8, 0x05, 34, 0, 16, 0, 3, 0};
    std::vector<std::uint8_t> actual(12);
    std::memcpy(actual.data(), &hdr, 12);
    CHECK(actual == expected);
}

TEST_CASE("driver/layout of the rings and pools", "[driver]") {
    const auto layout = DriverLayout::compute(DriverOptions{});
    REQUIRE(layout);
    CHECK(layout->ring == *vhnet::VringLayout::compute(256));
    CHECK(layout->rx_ring_offset == 0);
    CHECK(layout->tx_ring_offset == 12288); // the 10246-byte ring, page aligned
    CHECK(layout->tx_slot_offset == 24576);
    CHECK(layout->tx_table_offset == 0);
    CHECK(layout->tx_frame_offset == 16 * 1024 + 64);
    CHECK(layout->tx_slot_size == 16 * 1024 + 64 + 65536);
    CHECK(layout->tx_slots == 256);
    CHECK(layout->rx_buffer_offset == 24576 + 256 * layout->tx_slot_size);
    CHECK(layout->rx_buffer_offset % 4096 == 0);
    CHECK(layout->rx_buffer_stride == 2048);
    CHECK(layout->rx_buffers == 256);
    CHECK(layout->total_size == layout->rx_buffer_offset + 256 * 2048);
    CHECK(layout->memory_size == layout->total_size);

    DriverOptions odd;
    odd.ring_size = 8;
    odd.buffer_size = 1500;
    odd.rx_buffers = 3;
    odd.tx_buffer_size = 100;
    odd.memory = 1 << 20;
    const auto small = DriverLayout::compute(odd);
    REQUIRE(small);
    CHECK(small->tx_ring_offset == 8192); // a ring of 8 is 4166 bytes (the used ring at 4096)
    CHECK(small->tx_slot_offset == 16384);
    CHECK(small->tx_slot_size == 16 * 1024 + 64 + 128); // 100 rounded up to a cache line
    CHECK(small->rx_buffer_offset == 151552);           // 16384 + 8 * 16576, page aligned
    CHECK(small->rx_buffer_stride == 1536);
    CHECK(small->rx_buffers == 3);
    CHECK(small->total_size == small->rx_buffer_offset + 3 * 1536);
    CHECK(small->memory_size == 1 << 20);
}

TEST_CASE("driver/layout refuses bad options", "[driver]") {
    const auto refused = [](DriverOptions options, const std::string &message) {
        const auto layout = DriverLayout::compute(options);
        INFO(message);
        REQUIRE_FALSE(layout);
        CHECK(layout.error().code() == EINVAL);
        CHECK(layout.error().message() == message);
    };
    DriverOptions options;
    options.ring_size = 0;
    refused(options, "vring size 0 (a power of two up to 32768): Invalid argument");
    options = {};
    options.buffer_size = 11;
    refused(options, "RX buffer size 11 (12 bytes to 4 GiB): Invalid argument");
    options = {};
    options.tx_buffer_size = 0;
    refused(options, "TX buffer size 0: Invalid argument");
    options = {};
    options.tx_segment_size = 0;
    refused(options, "TX segment size 0: Invalid argument");
    options = {};
    options.ring_size = 8;
    options.memory = 4096;
    const auto needed = DriverLayout::compute(DriverOptions{.ring_size = 8})->total_size;
    std::ostringstream message;
    message << "driver memory 0x1000 is smaller than the 0x" << std::hex << needed
            << " bytes needed: Invalid argument";
    refused(options, message.str());
}

TEST_CASE("driver/without a device: memory, rings, eventfds", "[driver]") {
    DriverOptions options;
    options.ring_size = 64;
    options.memory = 32 << 20;
    Driver drv = make_driver(options);
    CHECK(drv.device() == nullptr);
    CHECK(drv.features() == options.features);
    CHECK(drv.header_size() == 12);
    CHECK(drv.event_idx());
    CHECK(drv.mergeable());
    CHECK(drv.backend_fd() == -1);

    REQUIRE(drv.memory().regions().size() == 1);
    auto &region = drv.memory().regions().front();
    CHECK(region.size() == 32 << 20);
    // Identity: guest addresses are host addresses.
    CHECK(region.gpa() == reinterpret_cast<std::uintptr_t>(region.host()));
    CHECK(region.allocated() == drv.layout().total_size);
    CHECK(region.allocate(4096)); // the rest is the caller's

    const Vring &rx = drv.vring(Queue::Rx);
    const Vring &tx = drv.vring(Queue::Tx);
    CHECK(rx.num() == 64);
    CHECK(tx.num() == 64);
    CHECK(rx.desc_gpa() == region.gpa() + drv.layout().rx_ring_offset);
    CHECK(tx.desc_gpa() == region.gpa() + drv.layout().tx_ring_offset);
    CHECK(rx.desc_gpa() % 4096 == 0);
    CHECK(tx.desc_gpa() % 4096 == 0);
    CHECK(tx.addr(1).desc_user_addr == tx.desc_gpa());

    std::set<int> fds;
    for (const Queue q : {Queue::Rx, Queue::Tx}) {
        CHECK(drv.kick_fd(q) == drv.kick_event(q).fd());
        CHECK(drv.call_fd(q) == drv.call_event(q).fd());
        CHECK(drv.err_fd(q) == drv.err_event(q).fd());
        fds.insert({drv.kick_fd(q), drv.call_fd(q), drv.err_fd(q)});
        CHECK(drv.free_descriptors(q) == 64);
        CHECK(drv.in_flight(q) == 0);
        CHECK(drv.pending_used(q) == 0);
        CHECK(drv.interrupts_enabled(q));
    }
    CHECK(fds.size() == 6);
    CHECK(*fds.begin() >= 0);
    CHECK(drv.rx_buffers_free() == 64);

    const auto attached = drv.attach(3);
    REQUIRE_FALSE(attached);
    CHECK(attached.error().code() == ENODEV);
    CHECK(drv.detach().error().code() == ENODEV);
}

TEST_CASE("driver/header size follows VERSION_1 and MRG_RXBUF", "[driver]") {
    struct Case {
        std::uint64_t features;
        std::size_t header;
    };
    for (const auto &c : {Case{0, 10}, Case{kEventIdx | kIndirect, 10}, Case{kVersion1, 12},
                          Case{kMrgRxbuf, 12}, Case{kVersion1 | kMrgRxbuf, 12}}) {
        INFO("features " << c.features);
        DriverOptions options;
        options.ring_size = 4;
        options.features = c.features;
        Driver drv = make_driver(options);
        CHECK(drv.header_size() == c.header);
    }
    DriverOptions options;
    options.ring_size = 4;
    options.vhost_net_hdr = true;
    Driver drv = make_driver(options);
    CHECK(drv.has_feature(VHOST_NET_F_VIRTIO_NET_HDR));
    CHECK(drv.header_size() == 12);
}

TEST_CASE("driver/ring_base starts both rings at that index", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    options.ring_base = 65533;
    Driver drv = make_driver(options);
    for (const Queue q : {Queue::Rx, Queue::Tx}) {
        const Vring &ring = drv.vring(q);
        CHECK(ring.avail_idx().load() == 65533);
        CHECK(ring.used_idx().load() == 65533);
        CHECK(ring.used_event().load() == 65533);
    }
}

TEST_CASE("driver/a moved driver keeps its rings", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    Driver first = make_driver(options);
    const auto *desc = first.vring(Queue::Tx).desc();
    Driver drv = std::move(first);
    CHECK(drv.vring(Queue::Tx).desc() == desc);
    REQUIRE(drv.send(pattern(60)));
    FakeDevice dev(drv, Queue::Tx);
    CHECK(dev.read(dev.take()).size() == 72);
}

// TX

TEST_CASE("driver/send Single: header and frame in one descriptor", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);

    NetHdr hdr;
    hdr.flags = NetHdr::kNeedsCsum;
    hdr.csum_start = 34;
    hdr.csum_offset = 16;
    const auto frame = pattern(100);
    REQUIRE(drv.send(frame, hdr));
    CHECK(drv.vring(Queue::Tx).avail_idx().load() == 1);
    CHECK(drv.in_flight(Queue::Tx) == 1);
    CHECK(drv.free_descriptors(Queue::Tx) == 7);
    CHECK(drv.stats(Queue::Tx).posted == 1);

    const std::uint16_t head = dev.take();
    CHECK(head == 0);
    const auto descs = dev.chain(head);
    REQUIRE(descs.size() == 1);
    CHECK(descs[0].len == 112);
    CHECK(descs[0].flags == 0);
    // In the TX slot of head 0, the header right before the frame.
    const auto &layout = drv.layout();
    CHECK(descs[0].addr == drv.memory().regions().front().gpa() + layout.tx_slot_offset +
                               layout.tx_frame_offset - 12);
    CHECK(dev.read(head) == concat(header_bytes(hdr, 12), frame));

    // A legacy driver's header is 10 bytes.
    options.features = kEventIdx;
    Driver legacy = make_driver(options);
    FakeDevice legacy_dev(legacy, Queue::Tx);
    REQUIRE(legacy.send(frame, hdr));
    CHECK(legacy_dev.read(legacy_dev.take()) == concat(header_bytes(hdr, 10), frame));
}

TEST_CASE("driver/send Chained: header, then the frame in segments", "[driver]") {
    DriverOptions options;
    options.ring_size = 16;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);

    NetHdr hdr;
    hdr.gso_type = NetHdr::kGsoUdpL4;
    hdr.gso_size = 1000;
    const auto frame = pattern(250, 3);
    REQUIRE(drv.send(frame, hdr, TxLayout::Chained, 100));
    CHECK(drv.free_descriptors(Queue::Tx) == 12);
    CHECK(drv.in_flight(Queue::Tx) == 1);

    const std::uint16_t head = dev.take();
    const auto descs = dev.chain(head);
    REQUIRE(descs.size() == 4);
    CHECK(dev.chain_ids(head) == std::vector<std::uint16_t>{0, 1, 2, 3});
    const std::uint32_t lengths[] = {12, 100, 100, 50};
    for (std::size_t i = 0; i < 4; ++i) {
        INFO("descriptor " << i);
        CHECK(descs[i].len == lengths[i]);
        CHECK(descs[i].flags == (i < 3 ? VRING_DESC_F_NEXT : 0));
    }
    CHECK(descs[1].addr == descs[0].addr + 12);
    CHECK(descs[2].addr == descs[1].addr + 100);
    CHECK(dev.read(head) == concat(header_bytes(hdr, 12), frame));

    // The default segment size, and an empty frame (the header alone).
    REQUIRE(drv.send(pattern(1500), {}, TxLayout::Chained));
    CHECK(dev.chain(dev.take()).size() == 3); // 12, 1024, 476
    REQUIRE(drv.send(pattern(10), {}, TxLayout::Chained, std::numeric_limits<std::size_t>::max()));
    CHECK(dev.chain(dev.take()).size() == 2);
    REQUIRE(drv.send({}, {}, TxLayout::Chained));
    const auto empty = dev.chain(dev.take());
    REQUIRE(empty.size() == 1);
    CHECK(empty[0].len == 12);
}

TEST_CASE("driver/send Indirect: the chain in the slot's indirect table", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);

    const auto frame = pattern(250, 5);
    REQUIRE(drv.send(frame, {}, TxLayout::Indirect, 100));
    CHECK(drv.free_descriptors(Queue::Tx) == 7);

    const std::uint16_t head = dev.take();
    const auto descs = dev.chain(head);
    REQUIRE(descs.size() == 1);
    CHECK(descs[0].flags == VRING_DESC_F_INDIRECT);
    CHECK(descs[0].len == 4 * 16);
    const auto &layout = drv.layout();
    CHECK(descs[0].addr == drv.memory().regions().front().gpa() + layout.tx_slot_offset +
                               head * layout.tx_slot_size + layout.tx_table_offset);
    const auto table = dev.table(descs[0]);
    REQUIRE(table.size() == 4);
    const std::uint32_t lengths[] = {12, 100, 100, 50};
    for (std::uint16_t i = 0; i < 4; ++i) {
        INFO("entry " << i);
        CHECK(table[i].len == lengths[i]);
        CHECK(table[i].flags == (i < 3 ? VRING_DESC_F_NEXT : 0));
        CHECK(table[i].next == (i < 3 ? i + 1 : 0));
    }
    CHECK(dev.read(head) == concat(header_bytes({}, 12), frame));

    // Each head has its own table.
    REQUIRE(drv.send(pattern(10), {}, TxLayout::Indirect, 100));
    const auto second = dev.chain(dev.take());
    CHECK(second[0].addr == descs[0].addr + layout.tx_slot_size);
    CHECK(second[0].len == 2 * 16);
}

TEST_CASE("driver/send refuses what cannot fit", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    options.tx_buffer_size = 4096;
    Driver drv = make_driver(options);

    auto r = drv.send(pattern(4097));
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == EMSGSIZE);
    CHECK(r.error().message() == "TX frame of 4097 bytes (at most 4096): Message too long");
    r = drv.send(pattern(900), {}, TxLayout::Chained, 100); // 10 descriptors, ring of 8
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == EMSGSIZE);
    CHECK(r.error().context() == "TX chain of 10 descriptors in a ring of 8");
    r = drv.send(pattern(2000), {}, TxLayout::Indirect, 1); // 2001 table entries
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == EMSGSIZE);
    CHECK(r.error().context() == "TX indirect table of 2001 descriptors (at most 1024)");
    REQUIRE(drv.send(pattern(1023), {}, TxLayout::Indirect, 1)); // 1024 entries: fits
    CHECK(drv.stats(Queue::Tx).posted == 1);

    options.features = kVersion1 | kEventIdx;
    Driver direct = make_driver(options);
    r = direct.send(pattern(10), {}, TxLayout::Indirect);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == EOPNOTSUPP);
    CHECK(direct.stats(Queue::Tx).posted == 0);
}

TEST_CASE("driver/TX ring full returns EAGAIN until reap_tx frees slots", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);

    for (unsigned i = 0; i < 8; ++i)
        REQUIRE(drv.send(pattern(60, i)));
    auto full = drv.send(pattern(60));
    REQUIRE_FALSE(full);
    CHECK(full.error().code() == EAGAIN);
    CHECK(full.error().context() == "TX ring full (0 descriptors free, 1 needed)");
    CHECK(drv.reap_tx() == 0);

    // The device completes three, out of order.
    for (unsigned i = 0; i < 3; ++i)
        dev.take();
    dev.use(2, 0, false);
    dev.use(0, 0, false);
    dev.use(1);
    CHECK(drv.pending_used(Queue::Tx) == 3);
    CHECK(drv.reap_tx() == 3);
    CHECK(drv.pending_used(Queue::Tx) == 0);
    CHECK(drv.in_flight(Queue::Tx) == 5);
    CHECK(drv.free_descriptors(Queue::Tx) == 3);
    CHECK(drv.stats(Queue::Tx).completed == 3);

    full = drv.send(pattern(300), {}, TxLayout::Chained, 100); // 4 descriptors
    REQUIRE_FALSE(full);
    CHECK(full.error().context() == "TX ring full (3 descriptors free, 4 needed)");
    REQUIRE(drv.send(pattern(200), {}, TxLayout::Chained, 100)); // 3 descriptors
    CHECK(drv.free_descriptors(Queue::Tx) == 0);
    // The chain took the freed descriptors, the last freed first.
    const std::uint16_t head = [&] {
        for (unsigned i = 0; i < 5; ++i)
            dev.take();
        return dev.take();
    }();
    CHECK(head == 1);
    CHECK(dev.chain_ids(head) == std::vector<std::uint16_t>{1, 0, 2});
    CHECK(dev.read(head) == concat(header_bytes({}, 12), pattern(200)));
}

TEST_CASE("driver/reap_tx skips used entries for heads not in flight", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);
    REQUIRE(drv.send(pattern(60), {}, TxLayout::Chained, 30)); // heads 0..2
    dev.take();
    dev.use(999, 0, false);
    dev.use(1, 0, false); // in the chain, but not its head
    dev.use(0, 0, false);
    dev.use(0); // twice
    CHECK(drv.reap_tx() == 1);
    CHECK(drv.stats(Queue::Tx).bad_used == 3);
    CHECK(drv.stats(Queue::Tx).completed == 1);
    CHECK(drv.free_descriptors(Queue::Tx) == 8);
}

TEST_CASE("driver/TX descriptors are recycled correctly under out-of-order completion",
          "[driver]") {
    DriverOptions options;
    options.ring_size = 16;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);
    const TxLayout layouts[] = {TxLayout::Single, TxLayout::Chained, TxLayout::Indirect};

    unsigned sent = 0;
    for (unsigned round = 0; round < 200; ++round) {
        // Fill the ring with packets of various shapes.
        std::vector<std::pair<std::uint16_t, std::vector<std::byte>>> posted;
        for (;;) {
            const auto frame = pattern(1 + (sent * 37) % 700, sent);
            const auto layout = layouts[sent % 3];
            auto r = drv.post_tx(frame, {}, layout, 64 + sent % 200);
            if (!r) {
                REQUIRE(r.error().code() == EAGAIN);
                break;
            }
            ++sent;
            posted.emplace_back(dev.take(), frame);
        }
        REQUIRE_FALSE(posted.empty());
        // No descriptor in two chains; every chain reads back its frame.
        std::set<std::uint16_t> ids;
        for (const auto &[head, frame] : posted) {
            for (const auto id : dev.chain_ids(head))
                CHECK(ids.insert(id).second);
            CHECK(dev.read(head) == concat(header_bytes({}, 12), frame));
        }
        // Complete them last first, the first one on its own.
        for (std::size_t i = posted.size(); i-- > 1;)
            dev.use(posted[i].first, 0, false);
        dev.publish();
        CHECK(drv.reap_tx() == posted.size() - 1);
        dev.use(posted[0].first);
        CHECK(drv.reap_tx() == 1);
        CHECK(drv.free_descriptors(Queue::Tx) == 16);
    }
    CHECK(drv.stats(Queue::Tx).completed == sent);
    CHECK(drv.stats(Queue::Tx).bad_used == 0);
}

TEST_CASE("driver/TX across the 65535 wrap-around", "[driver]") {
    DriverOptions options;
    options.ring_size = 4;
    options.ring_base = 65533;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);
    const Vring &ring = drv.vring(Queue::Tx);
    dev.want_kick_at(65533);

    for (unsigned i = 0; i < 10; ++i) {
        INFO("packet " << i);
        const std::uint16_t idx = ring.avail_idx().load();
        REQUIRE(drv.send(pattern(60, i)));
        CHECK(ring.avail_idx().load() == static_cast<std::uint16_t>(idx + 1));
        const std::uint16_t head = dev.take();
        CHECK(head == ring.avail_ring(idx & 3));
        CHECK(dev.read(head) == concat(header_bytes({}, 12), pattern(60, i)));
        // vhost asks to be kicked at the next entry; each send then kicks, across the wrap too.
        dev.want_kick_at(dev.last_avail());
        dev.use(head);
        CHECK(drv.reap_tx() == 1);
    }
    CHECK(ring.avail_idx().load() == 7); // 65533 + 10
    CHECK(drv.stats(Queue::Tx).kicks == 10);
    CHECK(kicks(drv, Queue::Tx) == 10);
    CHECK(drv.stats(Queue::Tx).completed == 10);
}

TEST_CASE("driver/send_batch posts until full and kicks once", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    Driver drv = make_driver(options);
    std::vector<std::vector<std::byte>> frames;
    for (unsigned i = 0; i < 10; ++i)
        frames.push_back(pattern(60 + i, i));
    std::vector<std::span<const std::byte>> spans(frames.begin(), frames.end());

    const auto posted = drv.send_batch(std::span(spans).first(5));
    REQUIRE(posted);
    CHECK(*posted == 5);
    CHECK(kicks(drv, Queue::Tx) == 1);
    const auto rest = drv.send_batch(std::span(spans).subspan(5));
    REQUIRE(rest);
    CHECK(*rest == 3); // then the ring is full
    CHECK(drv.stats(Queue::Tx).posted == 8);
    // The device asked for no kick past the first entry (avail_event stays 0).
    CHECK(kicks(drv, Queue::Tx) == 0);
    CHECK(drv.stats(Queue::Tx).kicks_suppressed == 1);

    // An error other than a full ring is returned, after kicking for what was posted.
    Driver other = make_driver(options);
    std::vector<std::byte> huge(70000);
    std::vector<std::span<const std::byte>> mixed{frames[0], huge, frames[1]};
    const auto failed = other.send_batch(mixed);
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code() == EMSGSIZE);
    CHECK(other.stats(Queue::Tx).posted == 1);
    CHECK(kicks(other, Queue::Tx) == 1);
}

// Notifications

TEST_CASE("driver/kick with EVENT_IDX follows vring_need_event", "[driver]") {
    DriverOptions options;
    options.ring_size = 16;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);
    const auto frame = pattern(60);

    CHECK(*drv.kick(Queue::Tx) == false); // nothing new: never a kick
    REQUIRE(drv.send(frame));             // avail_event 0, 0 -> 1 crosses it
    CHECK(kicks(drv, Queue::Tx) == 1);
    REQUIRE(drv.send(frame)); // 1 -> 2 does not cross 0
    CHECK(kicks(drv, Queue::Tx) == 0);
    CHECK(drv.stats(Queue::Tx).kicks_suppressed == 1);

    dev.want_kick_at(2);
    REQUIRE(drv.send(frame)); // 2 -> 3
    CHECK(kicks(drv, Queue::Tx) == 1);

    const std::vector<std::span<const std::byte>> five(5, frame);
    dev.want_kick_at(5);
    CHECK(*drv.send_batch(five) == 5); // 3 -> 8 crosses 5: one kick for the batch
    CHECK(kicks(drv, Queue::Tx) == 1);

    dev.want_kick_at(100);
    CHECK(*drv.send_batch(std::span(five).first(3)) == 3); // 8 -> 11
    CHECK(kicks(drv, Queue::Tx) == 0);
    // Posting without kicking, then one kick decision over all of it: 11 -> 13 crosses 12.
    dev.want_kick_at(12);
    REQUIRE(drv.post_tx(frame));
    REQUIRE(drv.post_tx(frame));
    CHECK(kicks(drv, Queue::Tx) == 0);
    CHECK(*drv.kick(Queue::Tx) == true);
    CHECK(kicks(drv, Queue::Tx) == 1);
    CHECK(drv.stats(Queue::Tx).kicks == 4);
    CHECK(drv.stats(Queue::Tx).kicks_suppressed == 2);
    // VRING_USED_F_NO_NOTIFY means nothing with EVENT_IDX.
    drv.vring(Queue::Tx).used_flags().store(VRING_USED_F_NO_NOTIFY);
    dev.want_kick_at(13);
    REQUIRE(drv.send(frame));
    CHECK(kicks(drv, Queue::Tx) == 1);
}

TEST_CASE("driver/kick without EVENT_IDX honours VRING_USED_F_NO_NOTIFY", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    options.features = kVersion1 | kMrgRxbuf;
    Driver drv = make_driver(options);
    CHECK_FALSE(drv.event_idx());
    const auto frame = pattern(60);

    REQUIRE(drv.send(frame));
    REQUIRE(drv.send(frame));
    CHECK(kicks(drv, Queue::Tx) == 2);
    drv.vring(Queue::Tx).used_flags().store(VRING_USED_F_NO_NOTIFY);
    REQUIRE(drv.send(frame));
    CHECK(kicks(drv, Queue::Tx) == 0);
    CHECK(drv.stats(Queue::Tx).kicks_suppressed == 1);
    drv.vring(Queue::Tx).used_flags().store(0);
    REQUIRE(drv.send(frame));
    CHECK(kicks(drv, Queue::Tx) == 1);
    CHECK(*drv.kick(Queue::Tx) == false);
    // avail_event means nothing without EVENT_IDX.
    drv.vring(Queue::Tx).avail_event().store(1000);
    REQUIRE(drv.send(frame));
    CHECK(kicks(drv, Queue::Tx) == 1);
    CHECK(drv.stats(Queue::Tx).kicks == 4);
}

TEST_CASE("driver/a kick decision is forced before 65536 buffers are pending", "[driver]") {
    DriverOptions options;
    options.ring_size = 256;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);
    // A device that keeps consuming without being kicked: 65534 posts need no kick decision,
    // the 65535th forces one (beyond it vring_need_event() could not tell).
    const auto frame = pattern(16);
    for (unsigned i = 1; i <= 65535; ++i) {
        REQUIRE(drv.post_tx(frame));
        dev.use(dev.take());
        if (i % 256 == 0)
            drv.reap_tx();
        if (i == 65534)
            CHECK(kicks(drv, Queue::Tx) == 0);
    }
    CHECK(kicks(drv, Queue::Tx) == 1);
    CHECK(drv.stats(Queue::Tx).kicks == 1);
    drv.reap_tx();
    CHECK(drv.stats(Queue::Tx).completed == 65535);
}

TEST_CASE("driver/push_avail and notify let a test drive the ring by hand", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);
    const Vring &ring = drv.vring(Queue::Tx);

    ring.desc(5) = vring_desc{.addr = 0xdead0000, .len = 0xffffffff, .flags = 0, .next = 0};
    drv.push_avail(Queue::Tx, 5);
    drv.push_avail(Queue::Tx, 999); // out of range: the device must cope
    CHECK(ring.avail_idx().load() == 2);
    CHECK(ring.avail_ring(0) == 5);
    CHECK(ring.avail_ring(1) == 999);
    CHECK(kicks(drv, Queue::Tx) == 0);
    REQUIRE(drv.notify(Queue::Tx));
    CHECK(kicks(drv, Queue::Tx) == 1);
    CHECK(drv.stats(Queue::Tx).kicks == 1);
    CHECK(drv.stats(Queue::Tx).posted == 0);

    // The driver carries on after the hand-written entries.
    REQUIRE(drv.post_tx(pattern(60)));
    CHECK(ring.avail_idx().load() == 3);
    CHECK(ring.avail_ring(2) == 0);
    CHECK(dev.take() == 5);
    CHECK(dev.take() == 999);
    CHECK(dev.take() == 0);

    // pop_used hands back raw entries.
    dev.use(5, 77);
    const auto elem = drv.pop_used(Queue::Tx);
    REQUIRE(elem);
    CHECK(elem->id == 5);
    CHECK(elem->len == 77);
    CHECK_FALSE(drv.pop_used(Queue::Tx));
    CHECK(drv.stats(Queue::Tx).bad_used == 0);
}

TEST_CASE("driver/interrupt suppression with EVENT_IDX", "[driver]") {
    DriverOptions options;
    options.ring_size = 16;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);
    const Vring &ring = drv.vring(Queue::Tx);
    const auto frame = pattern(60);

    CHECK(ring.avail_flags().load() == 0);
    CHECK(ring.used_event().load() == 0);
    drv.suppress_interrupts(Queue::Tx);
    CHECK_FALSE(drv.interrupts_enabled(Queue::Tx));
    CHECK(ring.avail_flags().load() == VRING_AVAIL_F_NO_INTERRUPT);
    CHECK(ring.used_event().load() == 65535); // as far away as it gets

    for (unsigned i = 0; i < 4; ++i)
        REQUIRE(drv.send(frame));
    dev.use(dev.take());
    CHECK(drv.reap_tx() == 1);
    CHECK(ring.used_event().load() == 0); // still one behind

    CHECK(drv.enable_interrupts(Queue::Tx)); // nothing pending: safe to wait
    CHECK(drv.interrupts_enabled(Queue::Tx));
    CHECK(ring.avail_flags().load() == 0);
    CHECK(ring.used_event().load() == 1);

    dev.use(dev.take());
    CHECK_FALSE(drv.enable_interrupts(Queue::Tx)); // an entry came in: consume first
    CHECK(drv.reap_tx() == 1);
    CHECK(ring.used_event().load() == 2); // each pop asks for the next entry

    // Delayed: 2 outstanding, interrupt after 3/4 of them (1 more).
    CHECK(drv.enable_interrupts(Queue::Tx, true));
    CHECK(ring.used_event().load() == 3);
    dev.use(dev.take());
    CHECK(drv.enable_interrupts(Queue::Tx, true)); // 1 pending, within the delay
    CHECK_FALSE(drv.enable_interrupts(Queue::Tx));

    // Starting in poll mode.
    options.interrupts = false;
    Driver polled = make_driver(options);
    for (const Queue q : {Queue::Rx, Queue::Tx}) {
        CHECK_FALSE(polled.interrupts_enabled(q));
        CHECK(polled.vring(q).avail_flags().load() == VRING_AVAIL_F_NO_INTERRUPT);
        CHECK(polled.vring(q).used_event().load() == 65535);
    }
}

TEST_CASE("driver/interrupt suppression without EVENT_IDX uses the flag alone", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    options.features = kVersion1;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Tx);
    const Vring &ring = drv.vring(Queue::Tx);

    drv.suppress_interrupts(Queue::Tx);
    CHECK(ring.avail_flags().load() == VRING_AVAIL_F_NO_INTERRUPT);
    CHECK(ring.used_event().load() == 0);
    REQUIRE(drv.send(pattern(60)));
    dev.use(dev.take());
    CHECK(drv.reap_tx() == 1);
    CHECK(ring.used_event().load() == 0);
    CHECK(drv.enable_interrupts(Queue::Tx));
    CHECK(ring.avail_flags().load() == 0);
    CHECK(ring.used_event().load() == 0);
}

TEST_CASE("driver/wait_call and consume_calls count the calls", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    Driver drv = make_driver(options);

    REQUIRE(::eventfd_write(drv.call_fd(Queue::Rx), 2) == 0);
    const auto waited = drv.wait_call(Queue::Rx, 1s);
    REQUIRE(waited);
    CHECK(*waited == 2);
    CHECK(drv.stats(Queue::Rx).calls == 2);

    const auto timeout = drv.wait_call(Queue::Rx, 10ms);
    REQUIRE_FALSE(timeout);
    CHECK(timeout.error().code() == ETIMEDOUT);
    CHECK(timeout.error().context() == "wait for a call on the RX ring");

    CHECK(*drv.consume_calls(Queue::Tx) == 0);
    REQUIRE(::eventfd_write(drv.call_fd(Queue::Tx), 3) == 0);
    CHECK(*drv.consume_calls(Queue::Tx) == 3);
    CHECK(drv.stats(Queue::Tx).calls == 3);
    CHECK(drv.stats(Queue::Rx).calls == 2);
}

TEST_CASE("driver/wait_used sleeps on the call eventfd, or polls", "[driver]") {
    for (const bool interrupts : {true, false}) {
        INFO("interrupts " << interrupts);
        DriverOptions options;
        options.ring_size = 8;
        options.interrupts = interrupts;
        Driver drv = make_driver(options);
        FakeDevice dev(drv, Queue::Tx);
        REQUIRE(drv.send(pattern(60)));
        const std::uint16_t head = dev.take();

        const auto none = drv.wait_used(Queue::Tx, 20ms);
        REQUIRE_FALSE(none);
        CHECK(none.error().code() == ETIMEDOUT);
        CHECK(none.error().context() == "wait for used buffers on the TX ring");
        CHECK(drv.interrupts_enabled(Queue::Tx) == interrupts);

        std::thread device([&] {
            std::this_thread::sleep_for(30ms);
            dev.use(head);
            // Like vhost: signal only if the driver asked for it.
            if (vring_need_event(drv.vring(Queue::Tx).used_event().load(), 1, 0))
                ::eventfd_write(drv.call_fd(Queue::Tx), 1);
        });
        const auto used = drv.wait_used(Queue::Tx, 5s);
        device.join();
        REQUIRE(used);
        CHECK(drv.pending_used(Queue::Tx) == 1);
        CHECK(drv.stats(Queue::Tx).calls == (interrupts ? 1u : 0u));
        CHECK(drv.reap_tx() == 1);
    }
}

// RX

TEST_CASE("driver/post_rx posts device-writable buffers from the pool", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    options.rx_buffers = 12;
    options.buffer_size = 1500;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Rx);
    const auto &layout = drv.layout();
    const std::uint64_t gpa = drv.memory().regions().front().gpa();

    const auto posted = drv.post_rx(3);
    REQUIRE(posted);
    CHECK(*posted == 3);
    CHECK(kicks(drv, Queue::Rx) == 1);
    CHECK(drv.rx_buffers_free() == 9);
    for (std::uint64_t i = 0; i < 3; ++i) {
        const std::uint16_t head = dev.take();
        CHECK(head == i);
        const auto descs = dev.chain(head);
        REQUIRE(descs.size() == 1);
        CHECK(descs[0].flags == VRING_DESC_F_WRITE);
        CHECK(descs[0].len == 1500);
        CHECK(descs[0].addr == gpa + layout.rx_buffer_offset + i * 1536);
    }
    CHECK(*drv.post_rx(100) == 5); // the ring is full
    CHECK(drv.in_flight(Queue::Rx) == 8);
    CHECK(*drv.post_rx(1) == 0);
    CHECK(drv.stats(Queue::Rx).posted == 8);
}

TEST_CASE("driver/receive a frame in one buffer", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    options.features = kVersion1 | kEventIdx; // no MRG_RXBUF: num_buffers is not looked at
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Rx);
    CHECK(*drv.receive() == std::nullopt);
    REQUIRE(*drv.post_rx(4) == 4);

    NetHdr hdr;
    hdr.flags = NetHdr::kDataValid;
    hdr.num_buffers = 7;
    const auto frame = pattern(100, 9);
    const std::uint16_t head = dev.take();
    dev.fill(head, concat(header_bytes(hdr, 12), frame));
    dev.use(head, 112);

    auto packet = drv.receive();
    REQUIRE(packet);
    REQUIRE(*packet);
    CHECK((*packet)->hdr == hdr);
    CHECK((*packet)->frame == frame);
    CHECK((*packet)->num_buffers == 1);
    CHECK((*packet)->lengths == std::vector<std::uint32_t>{112});
    CHECK((*packet)->heads == std::vector<std::uint16_t>{head});
    // The buffer went back to the device.
    CHECK(drv.in_flight(Queue::Rx) == 4);
    CHECK(drv.vring(Queue::Rx).avail_idx().load() == 5);
    CHECK(drv.stats(Queue::Rx).completed == 1);
    CHECK(*drv.receive() == std::nullopt);

    // A legacy 10-byte header.
    options.features = 0;
    Driver legacy = make_driver(options);
    FakeDevice legacy_dev(legacy, Queue::Rx);
    REQUIRE(*legacy.post_rx(1) == 1);
    const std::uint16_t legacy_head = legacy_dev.take();
    legacy_dev.fill(legacy_head, concat(header_bytes(hdr, 10), frame));
    legacy_dev.use(legacy_head, 110);
    packet = legacy.receive();
    REQUIRE(packet);
    REQUIRE(*packet);
    CHECK((*packet)->frame == frame);
    CHECK((*packet)->hdr.flags == NetHdr::kDataValid);
    CHECK((*packet)->hdr.num_buffers == 0);
}

TEST_CASE("driver/mergeable RX with num_buffers 3 across the wrap-around", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    options.buffer_size = 256;
    options.ring_base = 65534;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Rx);
    REQUIRE(*drv.post_rx(8) == 8);

    NetHdr hdr;
    hdr.num_buffers = 3;
    const auto frame = pattern(600, 1);
    const std::uint16_t heads[] = {dev.take(), dev.take(), dev.take()};
    const auto first = std::vector<std::byte>(frame.begin(), frame.begin() + 244);
    dev.fill(heads[0], concat(header_bytes(hdr, 12), first));
    dev.fill(heads[1], std::vector<std::byte>(frame.begin() + 244, frame.begin() + 500));
    dev.fill(heads[2], std::vector<std::byte>(frame.begin() + 500, frame.end()));
    // Used entries 65534, 65535 and 0, published at once.
    dev.use(heads[0], 256, false);
    dev.use(heads[1], 256, false);
    dev.use(heads[2], 100);
    CHECK(drv.vring(Queue::Rx).used_idx().load() == 1);

    const auto packet = drv.receive();
    REQUIRE(packet);
    REQUIRE(*packet);
    CHECK((*packet)->num_buffers == 3);
    CHECK((*packet)->hdr.num_buffers == 3);
    CHECK((*packet)->frame == frame);
    CHECK((*packet)->lengths == std::vector<std::uint32_t>{256, 256, 100});
    CHECK((*packet)->heads == std::vector<std::uint16_t>(std::begin(heads), std::end(heads)));
    CHECK(drv.in_flight(Queue::Rx) == 8);
    CHECK(drv.stats(Queue::Rx).completed == 3);
    CHECK(drv.vring(Queue::Rx).avail_idx().load() == 9); // 65534 + 8 + 3
    CHECK(drv.vring(Queue::Rx).used_event().load() == 1);
}

TEST_CASE("driver/receive without reposting runs the device out of buffers", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    options.rx_buffers = 4;
    options.rx_repost = false;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Rx);
    CHECK(*drv.post_rx(10) == 4);
    CHECK(drv.rx_buffers_free() == 0);

    NetHdr hdr;
    hdr.num_buffers = 1;
    for (unsigned i = 0; i < 4; ++i) {
        const std::uint16_t head = dev.take();
        dev.fill(head, concat(header_bytes(hdr, 12), pattern(20, i)));
        dev.use(head, 32);
        const auto packet = drv.receive();
        REQUIRE(packet);
        REQUIRE(*packet);
        CHECK((*packet)->frame == pattern(20, i));
    }
    CHECK(dev.avail_pending() == 0);
    CHECK(drv.in_flight(Queue::Rx) == 0);
    CHECK(drv.rx_buffers_free() == 4);
    CHECK(drv.vring(Queue::Rx).avail_idx().load() == 4);

    drv.set_rx_repost(true);
    CHECK(*drv.post_rx(2) == 2);
    CHECK(dev.avail_pending() == 2);
}

TEST_CASE("driver/receive rejects used entries that make no sense", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    options.buffer_size = 256;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Rx);
    REQUIRE(*drv.post_rx(8) == 8);
    NetHdr hdr;
    hdr.num_buffers = 1;

    SECTION("a length beyond the buffer") {
        const std::uint16_t head = dev.take();
        dev.fill(head, header_bytes(hdr, 12));
        dev.use(head, 257);
        const auto r = drv.receive();
        REQUIRE_FALSE(r);
        CHECK(r.error().code() == EPROTO);
        CHECK(r.error().context() == "RX used length 257 (header 12, buffer 256)");
        CHECK(drv.pending_used(Queue::Rx) == 0);
        CHECK(drv.in_flight(Queue::Rx) == 8); // consumed and reposted
    }
    SECTION("a length short of the header") {
        const std::uint16_t head = dev.take();
        dev.use(head, 11);
        CHECK(drv.receive().error().code() == EPROTO);
        CHECK(drv.pending_used(Queue::Rx) == 0);
    }
    SECTION("num_buffers 0") {
        hdr.num_buffers = 0;
        const std::uint16_t head = dev.take();
        dev.fill(head, header_bytes(hdr, 12));
        dev.use(head, 12);
        CHECK(drv.receive().error().context() == "RX header with num_buffers 0");
        CHECK(drv.pending_used(Queue::Rx) == 0);
    }
    SECTION("a head not in flight") {
        dev.take();
        dev.use(77, 12);
        const auto r = drv.receive();
        REQUIRE_FALSE(r);
        CHECK(r.error().context() == "RX used entry names head 77, not in flight");
        CHECK(drv.stats(Queue::Rx).bad_used == 1);
        CHECK(drv.pending_used(Queue::Rx) == 0);
    }
    SECTION("num_buffers beyond the published entries consumes nothing") {
        hdr.num_buffers = 3;
        const std::uint16_t a = dev.take(), b = dev.take(), c = dev.take();
        dev.fill(a, concat(header_bytes(hdr, 12), pattern(244)));
        dev.use(a, 256, false);
        dev.use(b, 256);
        const auto r = drv.receive();
        REQUIRE_FALSE(r);
        CHECK(r.error().context() == "RX frame of num_buffers 3 but 2 used entries published");
        CHECK(drv.pending_used(Queue::Rx) == 2);
        dev.use(c, 12);
        const auto packet = drv.receive();
        REQUIRE(packet);
        REQUIRE(*packet);
        CHECK((*packet)->frame.size() == 244 + 256 + 12);
    }
    SECTION("a later entry of a frame not in flight") {
        hdr.num_buffers = 2;
        const std::uint16_t a = dev.take();
        dev.fill(a, concat(header_bytes(hdr, 12), pattern(10)));
        dev.use(a, 22, false);
        dev.use(a, 22); // the same head twice
        const auto r = drv.receive();
        REQUIRE_FALSE(r);
        CHECK(r.error().context() == "RX used entry 2 of 2 names head 0, not in flight");
        CHECK(drv.pending_used(Queue::Rx) == 0);
        CHECK(drv.in_flight(Queue::Rx) == 8);
    }
}

TEST_CASE("driver/receive with a timeout waits for the device", "[driver]") {
    DriverOptions options;
    options.ring_size = 8;
    Driver drv = make_driver(options);
    FakeDevice dev(drv, Queue::Rx);
    REQUIRE(*drv.post_rx(8) == 8);

    const auto none = drv.receive(10ms);
    REQUIRE_FALSE(none);
    CHECK(none.error().code() == ETIMEDOUT);

    NetHdr hdr;
    hdr.num_buffers = 1;
    const std::uint16_t head = dev.take();
    dev.fill(head, concat(header_bytes(hdr, 12), pattern(64)));
    std::thread device([&] {
        std::this_thread::sleep_for(20ms);
        dev.use(head, 76);
        ::eventfd_write(drv.call_fd(Queue::Rx), 1);
    });
    const auto packet = drv.receive(5s);
    device.join();
    REQUIRE(packet);
    CHECK(packet->frame == pattern(64));
    CHECK(drv.stats(Queue::Rx).calls == 1);
}
