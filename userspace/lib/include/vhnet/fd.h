// Fd: sole owner of a file descriptor.
#pragma once

#include <unistd.h>

#include <utility>

namespace vhnet {

/// Owns one file descriptor and closes it on destruction. Move-only; -1 means "none".
class Fd {
public:
    Fd() noexcept = default;
    /// Takes ownership of `fd` (which may be -1).
    explicit Fd(int fd) noexcept : fd_(fd) {}

    Fd(Fd &&other) noexcept : fd_(other.release()) {}
    Fd &operator=(Fd &&other) noexcept {
        reset(other.release());
        return *this;
    }
    Fd(const Fd &) = delete;
    Fd &operator=(const Fd &) = delete;

    ~Fd() { reset(); }

    /// The descriptor, still owned by this Fd; -1 if none.
    int get() const noexcept { return fd_; }
    bool valid() const noexcept { return fd_ >= 0; }
    explicit operator bool() const noexcept { return valid(); }

    /// Gives up ownership without closing; returns the descriptor (or -1).
    [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

    /// Closes the current descriptor (if any) and takes ownership of `fd`.
    void reset(int fd = -1) noexcept {
        const int old = std::exchange(fd_, fd);
        // Linux releases the descriptor even when close() fails (EINTR included): never retry.
        if (old >= 0 && old != fd)
            ::close(old);
    }

private:
    int fd_ = -1;
};

} // namespace vhnet
