// EventFd: an eventfd(2) counter, the kick, call and err notifications of a virtqueue.
#pragma once

#include <vhnet/fd.h>
#include <vhnet/result.h>

#include <chrono>
#include <cstdint>

namespace vhnet {

/// Owns one eventfd. The driver signal()s a kick eventfd after adding buffers; the device signals
/// a call eventfd, which the driver wait()s on. Move-only; closed on destruction.
class EventFd {
public:
    /// Waits without a time limit.
    static constexpr std::chrono::milliseconds kForever{-1};

    /// eventfd(initial, EFD_CLOEXEC [| EFD_NONBLOCK]).
    static Result<EventFd> create(unsigned initial = 0, bool nonblocking = false);

    int fd() const noexcept { return fd_.get(); }

    /// Adds `n` to the counter, waking a waiter (and the kernel, for a kick).
    Result<void> signal(std::uint64_t n = 1);

    /// Waits up to `timeout` for the counter to become non-zero, then reads it (resetting it to
    /// 0) and returns its value. ETIMEDOUT if it stays zero. Meant for one consumer: with two,
    /// the other may take the count between the poll and the read (then this keeps waiting).
    Result<std::uint64_t> wait(std::chrono::milliseconds timeout = kForever);

    /// Reads and resets the counter without waiting: its value, 0 if nothing was signalled.
    Result<std::uint64_t> consume();

private:
    explicit EventFd(Fd fd) noexcept : fd_(std::move(fd)) {}

    Fd fd_;
};

} // namespace vhnet
