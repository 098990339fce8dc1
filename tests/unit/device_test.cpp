#include <vhnet/device.h>
#include <vhnet/memory.h>
#include <vhnet/vring.h>

#include <catch2/catch.hpp>

#include <cerrno>
#include <fcntl.h>
#include <linux/vhost.h>

#include <string>

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

TEST_CASE("Every Device method is one named ioctl", "[device]") {
    auto opened = Device::open("/dev/null");
    REQUIRE(opened);
    Device &dev = *opened;

    const auto named = [](const auto &result, const std::string &request) {
        INFO(request);
        REQUIRE_FALSE(result);
        CHECK(result.error().code() == ENOTTY);
        CHECK(result.error().message() ==
              request + " on /dev/null: Inappropriate ioctl for device");
    };

    named(dev.features(), "VHOST_GET_FEATURES");
    named(dev.set_features(1ull << 32), "VHOST_SET_FEATURES");
    named(dev.backend_features(), "VHOST_GET_BACKEND_FEATURES");
    named(dev.set_backend_features(0), "VHOST_SET_BACKEND_FEATURES");
    named(dev.set_owner(), "VHOST_SET_OWNER");
    named(dev.reset_owner(), "VHOST_RESET_OWNER");

    auto mem = vhnet::MemoryTable::identity(0x10000);
    REQUIRE(mem);
    named(dev.set_mem_table(*mem), "VHOST_SET_MEM_TABLE");
    const auto raw = mem->to_vhost();
    named(dev.set_mem_table(*reinterpret_cast<const vhost_memory *>(raw.data())),
          "VHOST_SET_MEM_TABLE");
    named(dev.set_log_base(0x1000), "VHOST_SET_LOG_BASE");
    named(dev.set_log_fd(-1), "VHOST_SET_LOG_FD");

    named(dev.set_vring_num(0, 256), "VHOST_SET_VRING_NUM");
    auto ring = vhnet::Vring::place(*mem, 256);
    REQUIRE(ring);
    named(dev.set_vring_addr(ring->addr(0)), "VHOST_SET_VRING_ADDR");
    named(dev.set_vring_base(0, 0), "VHOST_SET_VRING_BASE");
    named(dev.get_vring_base(0), "VHOST_GET_VRING_BASE");
    named(dev.set_vring_kick(0, -1), "VHOST_SET_VRING_KICK");
    named(dev.set_vring_call(1, -1), "VHOST_SET_VRING_CALL");
    named(dev.set_vring_err(1, -1), "VHOST_SET_VRING_ERR");
    named(dev.set_vring_endian(0, VHOST_VRING_LITTLE_ENDIAN), "VHOST_SET_VRING_ENDIAN");
    named(dev.get_vring_endian(0), "VHOST_GET_VRING_ENDIAN");
    named(dev.set_vring_busyloop_timeout(0, 50), "VHOST_SET_VRING_BUSYLOOP_TIMEOUT");
    named(dev.get_vring_busyloop_timeout(0), "VHOST_GET_VRING_BUSYLOOP_TIMEOUT");
    named(dev.set_backend(0, -1), "VHOST_NET_SET_BACKEND");

    std::uint64_t arg = 0;
    named(dev.ioctl(VHOST_GET_FEATURES, &arg, "VHOST_GET_FEATURES"), "VHOST_GET_FEATURES");
    named(dev.ioctl(0xdeadbeef, nullptr, "bogus request"), "bogus request");
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
