#include <vhnet/device.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <fcntl.h>

using vhnet::Device;

TEST_CASE("Device paths", "[device]") {
    CHECK(vhnet::default_device_path() == "/dev/vhnet");
    CHECK(vhnet::kVhnetPath == "/dev/vhnet");
    CHECK(vhnet::kVhostNetPath == "/dev/vhost-net");
}

TEST_CASE("Device::open on a missing path fails with ENOENT naming the path", "[device]") {
    const auto dev = Device::open("/nonexistent/vhnet");
    REQUIRE_FALSE(dev);
    CHECK(dev.error().code() == ENOENT);
    CHECK(dev.error().message() == "open /nonexistent/vhnet: No such file or directory");
}

TEST_CASE("Device ioctls on a non-vhost node fail with ENOTTY naming the request", "[device]") {
    auto dev = Device::open("/dev/null");
    REQUIRE(dev);
    CHECK(dev->path() == "/dev/null");
    REQUIRE(dev->fd() >= 0);
    CHECK((::fcntl(dev->fd(), F_GETFD) & FD_CLOEXEC) != 0);

    const auto features = dev->features();
    REQUIRE_FALSE(features);
    CHECK(features.error().code() == ENOTTY);
    CHECK(features.error().message() ==
          "VHOST_GET_FEATURES on /dev/null: Inappropriate ioctl for device");

    SECTION("every request names itself") {
        CHECK(dev->set_features(0).error().context() == "VHOST_SET_FEATURES on /dev/null");
        CHECK(dev->set_owner().error().context() == "VHOST_SET_OWNER on /dev/null");
        CHECK(dev->reset_owner().error().context() == "VHOST_RESET_OWNER on /dev/null");
    }
}

TEST_CASE("Device is movable and owns its descriptor", "[device]") {
    auto opened = Device::open("/dev/null");
    REQUIRE(opened);
    const int raw = opened->fd();
    {
        Device dev = std::move(opened).value();
        CHECK(dev.fd() == raw);
        CHECK(::fcntl(raw, F_GETFD) != -1);
    }
    CHECK(::fcntl(raw, F_GETFD) == -1);
    CHECK(errno == EBADF);
}
