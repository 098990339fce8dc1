#include <vhnet/device.h>
#include <vhnet/memory.h>

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

Result<void> Device::set_state(Request request, unsigned index, unsigned num) const {
    vhost_vring_state state{.index = index, .num = num};
    return call(request, &state);
}

Result<unsigned> Device::get_state(Request request, unsigned index) const {
    vhost_vring_state state{.index = index, .num = 0};
    if (auto r = call(request, &state); !r)
        return r.error();
    return state.num;
}

Result<void> Device::set_file(Request request, unsigned index, int fd) const {
    vhost_vring_file file{.index = index, .fd = fd};
    return call(request, &file);
}

// One line per ioctl from here on.

Result<std::uint64_t> Device::features() const {
    return get<std::uint64_t>(VHOST_REQUEST(VHOST_GET_FEATURES));
}

Result<void> Device::set_features(std::uint64_t features) {
    return call(VHOST_REQUEST(VHOST_SET_FEATURES), &features);
}

Result<std::uint64_t> Device::backend_features() const {
    return get<std::uint64_t>(VHOST_REQUEST(VHOST_GET_BACKEND_FEATURES));
}

Result<void> Device::set_backend_features(std::uint64_t features) {
    return call(VHOST_REQUEST(VHOST_SET_BACKEND_FEATURES), &features);
}

Result<void> Device::set_owner() {
    return call(VHOST_REQUEST(VHOST_SET_OWNER));
}

Result<void> Device::reset_owner() {
    return call(VHOST_REQUEST(VHOST_RESET_OWNER));
}

Result<void> Device::set_mem_table(const MemoryTable &table) {
    const auto memory = table.to_vhost();
    return set_mem_table(*reinterpret_cast<const vhost_memory *>(memory.data()));
}

Result<void> Device::set_mem_table(const vhost_memory &memory) {
    return call(VHOST_REQUEST(VHOST_SET_MEM_TABLE), const_cast<vhost_memory *>(&memory));
}

Result<void> Device::set_log_base(std::uint64_t address) {
    return call(VHOST_REQUEST(VHOST_SET_LOG_BASE), &address);
}

Result<void> Device::set_log_fd(int fd) {
    return call(VHOST_REQUEST(VHOST_SET_LOG_FD), &fd);
}

Result<void> Device::set_vring_num(unsigned index, unsigned num) {
    return set_state(VHOST_REQUEST(VHOST_SET_VRING_NUM), index, num);
}

Result<void> Device::set_vring_addr(const vhost_vring_addr &addr) {
    return call(VHOST_REQUEST(VHOST_SET_VRING_ADDR), const_cast<vhost_vring_addr *>(&addr));
}

Result<void> Device::set_vring_base(unsigned index, unsigned base) {
    return set_state(VHOST_REQUEST(VHOST_SET_VRING_BASE), index, base);
}

Result<unsigned> Device::get_vring_base(unsigned index) {
    return get_state(VHOST_REQUEST(VHOST_GET_VRING_BASE), index);
}

Result<void> Device::set_vring_kick(unsigned index, int fd) {
    return set_file(VHOST_REQUEST(VHOST_SET_VRING_KICK), index, fd);
}

Result<void> Device::set_vring_call(unsigned index, int fd) {
    return set_file(VHOST_REQUEST(VHOST_SET_VRING_CALL), index, fd);
}

Result<void> Device::set_vring_err(unsigned index, int fd) {
    return set_file(VHOST_REQUEST(VHOST_SET_VRING_ERR), index, fd);
}

Result<void> Device::set_vring_endian(unsigned index, unsigned endian) {
    return set_state(VHOST_REQUEST(VHOST_SET_VRING_ENDIAN), index, endian);
}

Result<unsigned> Device::get_vring_endian(unsigned index) const {
    return get_state(VHOST_REQUEST(VHOST_GET_VRING_ENDIAN), index);
}

Result<void> Device::set_vring_busyloop_timeout(unsigned index, unsigned timeout_us) {
    return set_state(VHOST_REQUEST(VHOST_SET_VRING_BUSYLOOP_TIMEOUT), index, timeout_us);
}

Result<unsigned> Device::get_vring_busyloop_timeout(unsigned index) const {
    return get_state(VHOST_REQUEST(VHOST_GET_VRING_BUSYLOOP_TIMEOUT), index);
}

Result<void> Device::set_backend(unsigned index, int fd) {
    return set_file(VHOST_REQUEST(VHOST_NET_SET_BACKEND), index, fd);
}

Result<void> Device::ioctl(unsigned long request, void *arg, const char *name) {
    return call(Request{request, name}, arg);
}

} // namespace vhnet
