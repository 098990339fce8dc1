// Device: one open vhost-net style character device (/dev/vhnet or /dev/vhost-net).
#pragma once

#include <vhnet/fd.h>
#include <vhnet/result.h>

#include <linux/vhost_types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace vhnet {

class MemoryTable;

/// The vhnet module's device node.
inline constexpr std::string_view kVhnetPath = "/dev/vhnet";
/// The in-tree vhost-net device node; it speaks the same ABI.
inline constexpr std::string_view kVhostNetPath = "/dev/vhost-net";

/// The node Device::open() uses when given none.
constexpr std::string_view default_device_path() noexcept {
    return kVhnetPath;
}

/// One open vhost device, i.e. one queue pair. Either node works: /dev/vhnet and /dev/vhost-net
/// share the <linux/vhost.h> ioctl ABI. Each method is one ioctl; a failure is returned as an
/// Error naming the request and the device path, e.g.
/// "VHOST_SET_OWNER on /dev/vhnet: Device or resource busy". Move-only; closing the device (on
/// destruction) releases everything the kernel holds for it.
class Device {
public:
    /// Opens `path` read-write, close-on-exec. The error names the path.
    static Result<Device> open(std::string path = std::string(default_device_path()));

    int fd() const noexcept { return fd_.get(); }
    const std::string &path() const noexcept { return path_; }

    // Device-wide requests.

    /// VHOST_GET_FEATURES: the virtio feature bits the device offers.
    Result<std::uint64_t> features() const;
    /// VHOST_SET_FEATURES: acknowledges the negotiated subset of features().
    Result<void> set_features(std::uint64_t features);
    /// VHOST_GET_BACKEND_FEATURES: the vhost backend feature bits (VHOST_BACKEND_F_*) offered.
    Result<std::uint64_t> backend_features() const;
    /// VHOST_SET_BACKEND_FEATURES: acknowledges a subset of backend_features().
    Result<void> set_backend_features(std::uint64_t features);
    /// VHOST_SET_OWNER: binds the device to the calling process's mm; required before any setup.
    Result<void> set_owner();
    /// VHOST_RESET_OWNER: stops the device and drops the owner and all ring state.
    Result<void> reset_owner();
    /// VHOST_SET_MEM_TABLE with `table.to_vhost()`: the guest memory the rings and buffers live in.
    Result<void> set_mem_table(const MemoryTable &table);
    /// VHOST_SET_MEM_TABLE with a prepared table: `memory` must be followed in memory by its
    /// `nregions` regions. Nothing is checked here, so tests can hand the kernel bad tables.
    Result<void> set_mem_table(const vhost_memory &memory);
    /// VHOST_SET_LOG_BASE: the host virtual address of the dirty-page log bitmap (one bit per 4 KiB
    /// guest page), written while VHOST_F_LOG_ALL is acked.
    Result<void> set_log_base(std::uint64_t address);
    /// VHOST_SET_LOG_FD: an eventfd signalled after the log is written; -1 unbinds.
    Result<void> set_log_fd(int fd);

    // Virtqueue requests: `index` is the queue (for vhost-net 0 = RX, 1 = TX).

    /// VHOST_SET_VRING_NUM: the ring size, a power of two no larger than 32768.
    Result<void> set_vring_num(unsigned index, unsigned num);
    /// VHOST_SET_VRING_ADDR: where the ring's parts are, as host virtual addresses (see
    /// Vring::addr()), plus the guest address of the used ring for logging.
    Result<void> set_vring_addr(const vhost_vring_addr &addr);
    /// VHOST_SET_VRING_BASE: the next available index the device will read.
    Result<void> set_vring_base(unsigned index, unsigned base);
    /// VHOST_GET_VRING_BASE: the next available index the device will read (a VMM reads it when
    /// stopping a queue, after detaching the backend).
    Result<unsigned> get_vring_base(unsigned index);
    /// VHOST_SET_VRING_KICK: the eventfd the driver signals when it adds buffers; -1 unbinds.
    Result<void> set_vring_kick(unsigned index, int fd);
    /// VHOST_SET_VRING_CALL: the eventfd (or irqfd) the device signals on used buffers; -1 unbinds.
    Result<void> set_vring_call(unsigned index, int fd);
    /// VHOST_SET_VRING_ERR: the eventfd the device signals on a ring error; -1 unbinds.
    Result<void> set_vring_err(unsigned index, int fd);
    /// VHOST_SET_VRING_ENDIAN: VHOST_VRING_LITTLE_ENDIAN or VHOST_VRING_BIG_ENDIAN for a legacy
    /// (pre-VERSION_1) ring. In-tree vhost fails it with ENOTTY unless built with
    /// CONFIG_VHOST_CROSS_ENDIAN_LEGACY.
    Result<void> set_vring_endian(unsigned index, unsigned endian);
    /// VHOST_GET_VRING_ENDIAN: the ring's endianness as set by set_vring_endian().
    Result<unsigned> get_vring_endian(unsigned index) const;
    /// VHOST_SET_VRING_BUSYLOOP_TIMEOUT: how long (microseconds) the worker busy-polls; 0 = never.
    Result<void> set_vring_busyloop_timeout(unsigned index, unsigned timeout_us);
    /// VHOST_GET_VRING_BUSYLOOP_TIMEOUT: the busy-poll timeout in microseconds.
    Result<unsigned> get_vring_busyloop_timeout(unsigned index) const;

    // vhost-net requests.

    /// VHOST_NET_SET_BACKEND: the tap (or packet socket) queue `index` moves packets to and from;
    /// -1 detaches it and stops the queue.
    Result<void> set_backend(unsigned index, int fd);

    /// Any request, for tests: issues `request` with `arg` through the same path as every method,
    /// so a failure reads "<name> on <path>: <errno text>".
    Result<void> ioctl(unsigned long request, void *arg, const char *name);

private:
    /// An ioctl request code with its name for error messages; built by VHOST_REQUEST().
    struct Request {
        unsigned long code;
        const char *name;
    };

    Device(Fd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

    /// The one place an ioctl is issued: `arg` is passed as is and a failure becomes an Error
    /// "<request> on <path>: <errno text>".
    Result<void> call(Request request, void *arg = nullptr) const;
    /// call() for a request that fills in a T (an _IOR request).
    template <typename T>
    Result<T> get(Request request) const;
    /// call() with a vhost_vring_state {index, num}.
    Result<void> set_state(Request request, unsigned index, unsigned num) const;
    /// call() with a vhost_vring_state {index}; returns the num the kernel filled in.
    Result<unsigned> get_state(Request request, unsigned index) const;
    /// call() with a vhost_vring_file {index, fd}.
    Result<void> set_file(Request request, unsigned index, int fd) const;

    Fd fd_;
    std::string path_;
};

} // namespace vhnet
