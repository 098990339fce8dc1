// Error and Result<T>: how libvhnet reports failures without exceptions.
//
// A function that can fail returns Result<T> (or Result<void>). The caller either handles the
// error or propagates it; an Error converts to any Result<U>:
//
//     vhnet::Result<std::uint64_t> negotiated(const vhnet::Device &dev) {
//         auto features = dev.features();
//         if (!features)
//             return features.error();    // propagate
//         return *features & kWanted;
//     }
//
//     if (auto r = dev.set_owner(); !r)
//         std::fprintf(stderr, "%s\n", r.error().message().c_str());   // handle
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace vhnet {

/// A failed system call: the errno value and what was being done, e.g. the request name and the
/// device path ("VHOST_SET_OWNER on /dev/vhnet"). An Error with code 0 is a plain message for a
/// failure no errno describes ("vhnet module not loaded (no /sys/module/vhnet)").
class Error {
public:
    Error(int code, std::string context) : code_(code), context_(std::move(context)) {}

    /// The errno value (ENOENT, ENOTTY, ...).
    int code() const noexcept { return code_; }

    /// What failed, without the errno text.
    const std::string &context() const noexcept { return context_; }

    /// One line: "<context>: <strerror(code)>", or just the context if the code is 0.
    std::string message() const {
        if (code_ == 0)
            return context_;
        return context_ + ": " + std::generic_category().message(code_);
    }

    bool operator==(const Error &) const = default;

private:
    int code_;
    std::string context_;
};

/// Makes an Error; reads naturally as `return vhnet::fail(errno, "open " + path);`.
inline Error fail(int code, std::string context) {
    return Error(code, std::move(context));
}

/// Either a T or an Error. Accessing the value of a failed Result (or the error of a successful
/// one) is a programming error: it fails an assert(), or throws if asserts are compiled out.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T &value() & { return (assert(ok()), std::get<0>(state_)); }
    const T &value() const & { return (assert(ok()), std::get<0>(state_)); }
    T &&value() && { return (assert(ok()), std::get<0>(std::move(state_))); }

    const Error &error() const & { return (assert(!ok()), std::get<1>(state_)); }

    T &operator*() & { return value(); }
    const T &operator*() const & { return value(); }
    T &&operator*() && { return std::move(*this).value(); }
    T *operator->() { return &value(); }
    const T *operator->() const { return &value(); }

private:
    std::variant<T, Error> state_;
};

/// A reference to an existing T (which the Result does not own) or an Error, e.g. Result<Region &>
/// for an element that stays in its container.
template <typename T>
class [[nodiscard]] Result<T &> {
public:
    Result(T &value) : state_(std::in_place_index<0>, &value) {}
    Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }

    T &value() const { return (assert(ok()), *std::get<0>(state_)); }
    const Error &error() const & { return (assert(!ok()), std::get<1>(state_)); }

    T &operator*() const { return value(); }
    T *operator->() const { return &value(); }

private:
    std::variant<T *, Error> state_;
};

/// Success or an Error. A default-constructed Result<void> is a success.
template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)) {}

    bool ok() const noexcept { return !error_.has_value(); }
    explicit operator bool() const noexcept { return ok(); }

    const Error &error() const & { return (assert(!ok()), error_.value()); }

private:
    std::optional<Error> error_;
};

} // namespace vhnet
