#include <vhnet/device.h>

#include <fcntl.h>
#include <linux/vhost.h>
#include <sys/ioctl.h>

#include <cerrno>

namespace vhnet {

// A Device::Request named after its <linux/vhost.h> macro.
#define VHOST_REQUEST(request) (Request{(request), #request})

Result<Device> Device::open(std::string path) {
    Fd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd)
        return fail(errno, "open " + path);
    return Device(std::move(fd), std::move(path));
}

Result<void> Device::call(Request request, void *arg) const {
    if (::ioctl(fd_.get(), request.code, arg) < 0)
        return fail(errno, std::string(request.name) + " on " + path_);
    return {};
}

template <typename T>
Result<T> Device::get(Request request) const {
    T value{};
    if (auto r = call(request, &value); !r)
        return r.error();
    return value;
}

// One line per ioctl from here on.

Result<std::uint64_t> Device::features() const {
    return get<std::uint64_t>(VHOST_REQUEST(VHOST_GET_FEATURES));
}

Result<void> Device::set_features(std::uint64_t features) {
    return call(VHOST_REQUEST(VHOST_SET_FEATURES), &features);
}

Result<void> Device::set_owner() {
    return call(VHOST_REQUEST(VHOST_SET_OWNER));
}

Result<void> Device::reset_owner() {
    return call(VHOST_REQUEST(VHOST_RESET_OWNER));
}

} // namespace vhnet
