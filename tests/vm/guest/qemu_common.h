// SPDX-License-Identifier: GPL-2.0
// The qemu suite's nested guest: an unmodified QEMU in the test VM (-accel kvm on the VM's
// emulated SVM) booting the Debian kernel with its own virtio-net driver, its NIC on a tap whose
// vhost backend is /dev/vhnet, /dev/vhost-net, or none (QEMU's userspace backend).
//
// Tests run in forked children, so a guest outlives the test that started it: its state lives
// in /tmp/qemu/<backend>/ (pid, console.log, ctl.sock, qmp.sock) and any test can attach to it.
// The guest's init (tests/vm/inner/init.sh) runs shell commands sent over a virtio-serial port.
#pragma once

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "util.h"

namespace qemu {

enum class Backend { Vhnet, VhostNet, Userspace };

// How QEMU gets its fds: through `vhnetctl qemu`, or the plain way a user types, QEMU opening
// the tap by name and inheriting the vhost fd from a shell redirection (3<>/dev/vhnet).
enum class Launch { Vhnetctl, Plain };

const char *name(Backend b);
// The vhost device node; empty for Userspace.
std::string device(Backend b);
// Addresses on 198.18.0.0/15: the test VM's end (the tap) and the guest's, one /24 per backend.
std::string host_ip(Backend b);
std::string guest_ip(Backend b);
std::string tap_name(Backend b);

using vmtest::Cmd;
using vmtest::must_sh;
using vmtest::sh;

// Everything that tells one guest from another, for suites that run several guests of one
// backend at once (migration: a source and a destination). default_spec(b) is the qemu suite's
// guest of backend b.
struct GuestSpec {
    Backend backend = Backend::Vhnet;
    std::string dir;      // its state: pid, console.log, ctl.sock, qmp.sock, qemu.log
    std::string tap;      // the tap QEMU is given (created by vhnetctl or QEMU if missing)
    std::string host_ip;  // the test VM's end of the guest's network
    std::string guest_ip; // the guest's eth0 (without prefix length: /24)
    std::string mac;
    unsigned mem_mib = 512;
    // Appended to QEMU's command line (e.g. -incoming defer).
    std::vector<std::string> extra_args;
    Launch how = Launch::Vhnetctl;
    // Wait until the guest's init says it is ready; otherwise only until QMP listens (a
    // destination of a migration boots nothing).
    bool wait_ready = true;
};
GuestSpec default_spec(Backend b);

class Guest {
public:
    // Starts QEMU as `spec` says, leaving other guests alone; the tap must exist or be
    // creatable by QEMU or vhnetctl.
    static Guest launch(const GuestSpec &spec);
    // The running QEMU of `spec`'s state dir, or none.
    static std::optional<Guest> find(const GuestSpec &spec);

    // Boots a guest for `b` (creating its tap if needed) and waits until its init is ready.
    // Any guest of another backend is shut down first: one at a time shares the VM's CPUs.
    static Guest start(Backend b, Launch how = Launch::Vhnetctl);
    // The running guest of `b`, started if there is none.
    static Guest ensure(Backend b);

    Backend backend() const { return b_; }
    pid_t pid() const { return pid_; }
    bool alive() const;

    // Runs a shell command in the guest; fails the test on a timeout or a lost channel.
    Cmd run(const std::string &command, unsigned timeout_s = 60) const;
    // The same, failing the test unless it exits 0; returns its output.
    std::string must(const std::string &command, unsigned timeout_s = 60) const;

    // One QMP command; returns its "return" value, fails the test on an "error".
    nlohmann::json qmp(const std::string &execute, const nlohmann::json &args = nullptr) const;

    // Waits until the guest's init has reported ready `boots` times (2 after one reset).
    void wait_ready(unsigned boots, unsigned timeout_s = 150) const;
    unsigned boots() const;

    // Ends QEMU: quit over QMP (kill() with SIGKILL) and waits until the process is gone.
    void quit() const;
    void kill() const;

    // The last lines of the guest's console, for diagnostics.
    std::string console_tail(unsigned lines = 20) const;
    // The vhnet debugfs instance QEMU owns (Vhnet only), or -1.
    int vhnet_instance() const;

    const std::string &dir() const { return spec_.dir; }
    const GuestSpec &spec() const { return spec_; }
    const std::string &guest_ip() const { return spec_.guest_ip; }
    const std::string &host_ip() const { return spec_.host_ip; }
    // Waits until QEMU accepts QMP connections; fails if it exits first.
    void wait_qmp(unsigned timeout_s = 60) const;

    Guest(Backend b, pid_t pid) : Guest(default_spec(b), pid) {}
    Guest(GuestSpec spec, pid_t pid) : b_(spec.backend), pid_(pid), spec_(std::move(spec)) {}

private:
    // The backend's name, and the state dir if it is not the default one.
    std::string label() const;

    Backend b_;
    pid_t pid_;
    GuestSpec spec_;
};

// Shuts down every running guest.
void quit_all();

// A bulk transfer's outcome.
struct Transfer {
    unsigned long long bytes = 0;
    double seconds = 0;
    double mbit_s() const {
        return seconds > 0 ? static_cast<double>(bytes) * 8 / 1e6 / seconds : 0;
    }
};
// Sends `mib` MiB of random data from the test VM to the guest over TCP; fails the test unless
// the sha256 of what arrived equals that of what was sent.
Transfer tcp_to_guest(const Guest &g, unsigned mib);
// The same from the guest to the test VM.
Transfer tcp_from_guest(const Guest &g, unsigned mib);
// `count` pings from the test VM to the guest, as fast as replies come; returns the number
// received.
unsigned ping(const Guest &g, unsigned count, unsigned wait_s = 5);

// A queue's counters of a vhnet instance (queue 0 = RX, 1 = TX).
vmtest::Fields queue_stats(int instance, unsigned queue);

} // namespace qemu
