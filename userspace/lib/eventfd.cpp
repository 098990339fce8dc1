#include <vhnet/eventfd.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace vhnet {

Result<EventFd> EventFd::create(unsigned initial, bool nonblocking) {
    Fd fd(::eventfd(initial, EFD_CLOEXEC | (nonblocking ? EFD_NONBLOCK : 0)));
    if (!fd)
        return fail(errno, "eventfd");
    return EventFd(std::move(fd));
}

Result<void> EventFd::signal(std::uint64_t n) {
    if (::eventfd_write(fd_.get(), n) < 0)
        return fail(errno, "eventfd write");
    return {};
}

Result<std::uint64_t> EventFd::wait(std::chrono::milliseconds timeout) {
    using Clock = std::chrono::steady_clock;
    const bool forever = timeout < std::chrono::milliseconds::zero();
    const auto deadline = Clock::now() + (forever ? std::chrono::milliseconds::zero() : timeout);
    for (;;) {
        int wait_ms = -1;
        if (!forever) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
            wait_ms = static_cast<int>(std::max<std::chrono::milliseconds::rep>(left.count(), 0));
        }
        pollfd pfd{.fd = fd_.get(), .events = POLLIN, .revents = 0};
        const int ready = ::poll(&pfd, 1, wait_ms);
        if (ready < 0 && errno != EINTR)
            return fail(errno, "eventfd poll");
        if (ready > 0) {
            // Read without blocking even on a blocking eventfd: a second consumer may have emptied
            // it since the poll.
            if (auto value = consume(); !value || *value != 0)
                return value;
        }
        if (!forever && ready == 0 && Clock::now() >= deadline)
            return fail(ETIMEDOUT, "eventfd wait");
    }
}

Result<std::uint64_t> EventFd::consume() {
    pollfd pfd{.fd = fd_.get(), .events = POLLIN, .revents = 0};
    for (;;) {
        const int ready = ::poll(&pfd, 1, 0);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            return fail(errno, "eventfd poll");
        if (ready == 0)
            return std::uint64_t{0};
        eventfd_t value = 0;
        if (::eventfd_read(fd_.get(), &value) == 0)
            return std::uint64_t{value};
        if (errno == EAGAIN)
            return std::uint64_t{0};
        if (errno != EINTR)
            return fail(errno, "eventfd read");
    }
}

} // namespace vhnet
