#include <vhnet/result.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <memory>
#include <string>

using vhnet::Error;
using vhnet::Result;

namespace {

Result<int> parse_digit(char c) {
    if (c < '0' || c > '9')
        return vhnet::fail(EINVAL, std::string("parse '") + c + "'");
    return c - '0';
}

// The propagation pattern: an Error converts to a Result of any type.
Result<std::string> twice(char c) {
    auto digit = parse_digit(c);
    if (!digit)
        return digit.error();
    return std::to_string(*digit * 2);
}

} // namespace

TEST_CASE("Error carries errno and context and formats one line", "[result]") {
    const Error error(EBUSY, "VHOST_SET_OWNER on /dev/vhnet");
    CHECK(error.code() == EBUSY);
    CHECK(error.context() == "VHOST_SET_OWNER on /dev/vhnet");
    CHECK(error.message() == "VHOST_SET_OWNER on /dev/vhnet: Device or resource busy");
    CHECK(vhnet::fail(ENOENT, "open /x").message() == "open /x: No such file or directory");
    CHECK(vhnet::fail(EBUSY, "a") == Error(EBUSY, "a"));
    CHECK_FALSE(vhnet::fail(EBUSY, "a") == Error(EBUSY, "b"));
}

TEST_CASE("Result holds a value", "[result]") {
    Result<int> r = parse_digit('7');
    REQUIRE(r.ok());
    REQUIRE(r);
    CHECK(r.value() == 7);
    CHECK(*r == 7);
    *r = 8;
    CHECK(r.value() == 8);

    const Result<std::string> s = std::string("vhnet");
    REQUIRE(s);
    CHECK(s->size() == 5);
}

TEST_CASE("Result holds an error", "[result]") {
    const Result<int> r = parse_digit('x');
    REQUIRE_FALSE(r.ok());
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == EINVAL);
    CHECK(r.error().message() == "parse 'x': Invalid argument");
}

TEST_CASE("Result propagates an error to another type", "[result]") {
    CHECK(*twice('4') == "8");
    const auto r = twice('z');
    REQUIRE_FALSE(r);
    CHECK(r.error() == Error(EINVAL, "parse 'z'"));
}

TEST_CASE("Result works with move-only values", "[result]") {
    Result<std::unique_ptr<int>> r = std::make_unique<int>(42);
    REQUIRE(r);
    CHECK(**r == 42);
    std::unique_ptr<int> taken = std::move(r).value();
    CHECK(*taken == 42);
}

TEST_CASE("Result<void> is success by default or an error", "[result]") {
    const Result<void> good;
    CHECK(good.ok());
    CHECK(static_cast<bool>(good));

    const Result<void> bad = vhnet::fail(ENOTTY, "VHOST_GET_FEATURES on /dev/null");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == ENOTTY);
    CHECK(bad.error().message() ==
          "VHOST_GET_FEATURES on /dev/null: Inappropriate ioctl for device");
}

TEST_CASE("Error with code 0 is a plain message", "[result]") {
    const Error plain(0, "vhnet module not loaded (no /sys/module/vhnet)");
    CHECK(plain.code() == 0);
    CHECK(plain.message() == "vhnet module not loaded (no /sys/module/vhnet)");
}

TEST_CASE("Result<T &> refers to an existing object or holds an error", "[result]") {
    int storage = 1;
    Result<int &> ref = storage;
    REQUIRE(ref);
    CHECK(&ref.value() == &storage);
    *ref = 2;
    CHECK(storage == 2);

    std::string text = "vhnet";
    const Result<std::string &> str = text;
    CHECK(str->size() == 5);
    str->append("ctl");
    CHECK(text == "vhnetctl");

    const Result<int &> bad = vhnet::fail(EINVAL, "lookup");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message() == "lookup: Invalid argument");
}
