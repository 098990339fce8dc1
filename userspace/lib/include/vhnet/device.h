// Device: one open vhost-net style character device (/dev/vhnet or /dev/vhost-net).
#pragma once

#include <vhnet/fd.h>
#include <vhnet/result.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace vhnet {

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

    /// VHOST_GET_FEATURES: the virtio feature bits the device offers.
    Result<std::uint64_t> features() const;
    /// VHOST_SET_FEATURES: acknowledges the negotiated subset of features().
    Result<void> set_features(std::uint64_t features);
    /// VHOST_SET_OWNER: binds the device to the calling process's mm; required before any setup.
    Result<void> set_owner();
    /// VHOST_RESET_OWNER: stops the device and drops the owner and all ring state.
    Result<void> reset_owner();

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

    Fd fd_;
    std::string path_;
};

} // namespace vhnet
