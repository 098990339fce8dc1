// LD_PRELOAD shim for the CLI tests: while $VHNET_FAKE_FEATURES is set, VHOST_GET_FEATURES on any
// descriptor succeeds with that value, so vhnetctl's success output can be checked on a host
// without a vhost device. Every other ioctl goes to libc.
#include <dlfcn.h>
#include <linux/vhost.h>

#include <cstdarg>
#include <cstdint>
#include <cstdlib>

// Declared here rather than through <sys/ioctl.h>, whose declaration carries glibc's attributes.
extern "C" int ioctl(int fd, unsigned long request, ...) {
    va_list args;
    va_start(args, request);
    void *arg = va_arg(args, void *);
    va_end(args);

    if (const char *fake = std::getenv("VHNET_FAKE_FEATURES");
        fake && request == VHOST_GET_FEATURES) {
        *static_cast<std::uint64_t *>(arg) = std::strtoull(fake, nullptr, 0);
        return 0;
    }
    using IoctlFn = int (*)(int, unsigned long, ...);
    static const auto real = reinterpret_cast<IoctlFn>(dlsym(RTLD_NEXT, "ioctl"));
    return real(fd, request, arg);
}
