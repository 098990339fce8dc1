// SPDX-License-Identifier: GPL-2.0
// vhnet-xfer: one bulk TCP transfer, timed, for the qemu suite (runs in the test VM and in the
// nested guest). The sender shuts its side down after the last byte and waits for the receiver
// to close, so "sent" means "received"; the receiver stores what arrived for sha256sum.
//
//   vhnet-xfer recv [--rate BYTES_PER_S] PORT FILE
//                                 accept one connection, write it to FILE; prints
//                                 "received BYTES bytes in SECONDS s, MBITS Mbit/s"
//       --rate          read no faster than about BYTES_PER_S: a faster sender then keeps the
//                       receive queue full (received data waits in the NIC's buffers)
//   vhnet-xfer send [--rate BYTES_PER_S] [--until-signal] HOST PORT [BYTES]
//                                 send standard input, or BYTES zero bytes from memory (no
//                                 source to slow it down); prints "sent BYTES bytes in SECONDS s"
//       --rate          pace the stream to about BYTES_PER_S (a stall is caught up afterwards),
//                       so that a short input lasts long enough to span an event (a migration)
//       --until-signal  stop early on SIGUSR1: after the chunk in hand, shut down as at the
//                       end of the input; what was sent is then a prefix of the input
//
// Exit status 0 on success, 1 with a one-line message on stderr otherwise.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t kChunk = 256 * 1024;

[[noreturn]] void die(const std::string &what) {
    std::fprintf(stderr, "vhnet-xfer: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

bool write_all(int fd, const char *p, std::size_t n) {
    while (n) {
        const ssize_t w = ::write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

volatile sig_atomic_t stop_requested = 0;

void on_stop(int) {
    stop_requested = 1;
}

struct Options {
    unsigned long long rate = 0; // bytes per second; 0: as fast as it goes
    bool until_signal = false;
};

// With a rate: waits until `total` bytes are due since t0 (or a stop is requested).
void pace(const Options &o, Clock::time_point t0, unsigned long long total) {
    if (!o.rate)
        return;
    const auto due = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(
                              static_cast<double>(total) / static_cast<double>(o.rate)));
    while (!stop_requested && Clock::now() < due)
        std::this_thread::sleep_for(
            std::min<Clock::duration>(due - Clock::now(), std::chrono::milliseconds(20)));
}

// With a rate, about 16 chunks a second, so that the stream is smooth.
std::size_t chunk_size(const Options &o) {
    return o.rate
               ? static_cast<std::size_t>(std::clamp<unsigned long long>(o.rate / 16, 4096, kChunk))
               : kChunk;
}

int recv_cmd(const Options &o, const char *port, const char *path) {
    const int out = ::open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0)
        die(std::string("open ") + path);
    const int ls = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(port)));
    if (::bind(ls, reinterpret_cast<sockaddr *>(&a), sizeof a) < 0 || ::listen(ls, 1) < 0)
        die(std::string("listen on port ") + port);
    const int s = ::accept(ls, nullptr, nullptr);
    if (s < 0)
        die("accept");
    ::close(ls);

    std::vector<char> buf(chunk_size(o));
    unsigned long long total = 0;
    const auto t0 = Clock::now();
    for (;; pace(o, t0, total)) {
        const ssize_t n = ::read(s, buf.data(), buf.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read");
        if (n == 0)
            break;
        if (!write_all(out, buf.data(), static_cast<std::size_t>(n)))
            die(std::string("write ") + path);
        total += static_cast<unsigned long long>(n);
    }
    const double secs = seconds_since(t0);
    ::close(s);
    if (::close(out) < 0)
        die(std::string("close ") + path);
    std::printf("received %llu bytes in %.3f s, %.1f Mbit/s\n", total, secs,
                secs > 0 ? static_cast<double>(total) * 8 / 1e6 / secs : 0.0);
    return 0;
}

int send_cmd(const Options &o, const char *host, const char *port, const char *zeros) {
    if (o.until_signal) {
        struct sigaction sa {};
        sa.sa_handler = on_stop;
        ::sigemptyset(&sa.sa_mask);
        ::sigaction(SIGUSR1, &sa, nullptr);
    }
    const int s = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::atoi(port)));
    if (::inet_pton(AF_INET, host, &a.sin_addr) != 1) {
        std::fprintf(stderr, "vhnet-xfer: '%s' is not an IPv4 address\n", host);
        return 1;
    }
    // The receiver may still be starting: retry for a while.
    int tries = 0;
    while (::connect(s, reinterpret_cast<sockaddr *>(&a), sizeof a) < 0) {
        if (errno != ECONNREFUSED || ++tries > 100)
            die(std::string("connect to ") + host + ":" + port);
        ::usleep(100 * 1000);
    }

    std::vector<char> buf(chunk_size(o));
    unsigned long long total = 0;
    const auto t0 = Clock::now();
    if (zeros) {
        for (unsigned long long left = std::strtoull(zeros, nullptr, 0); left && !stop_requested;
             pace(o, t0, total)) {
            const std::size_t n = left < buf.size() ? static_cast<std::size_t>(left) : buf.size();
            if (!write_all(s, buf.data(), n))
                die("send");
            total += n;
            left -= n;
        }
    }
    while (!zeros && !stop_requested) {
        pace(o, t0, total);
        if (stop_requested)
            break;
        const ssize_t n = ::read(STDIN_FILENO, buf.data(), buf.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("read standard input");
        if (n == 0)
            break;
        if (!write_all(s, buf.data(), static_cast<std::size_t>(n)))
            die("send");
        total += static_cast<unsigned long long>(n);
    }
    if (::shutdown(s, SHUT_WR) < 0)
        die("shutdown");
    // The receiver closes after it has read everything.
    for (ssize_t n; (n = ::read(s, buf.data(), buf.size())) != 0;)
        if (n < 0 && errno != EINTR)
            break;
    std::printf("sent %llu bytes in %.3f s\n", total, seconds_since(t0));
    ::close(s);
    return 0;
}

} // namespace

int main(int argc, char **argv) {
    const std::string cmd = argc > 1 ? argv[1] : "";
    Options o;
    std::vector<const char *> pos;
    bool ok = cmd == "recv" || cmd == "send";
    for (int i = 2; i < argc; i++) {
        const std::string a = argv[i];
        if (a == "--rate" && i + 1 < argc) {
            char *end = nullptr;
            o.rate = std::strtoull(argv[++i], &end, 0);
            ok = ok && *end == '\0' && o.rate > 0;
        } else if (a == "--until-signal" && cmd == "send") {
            o.until_signal = true;
        } else if (a.rfind("--", 0) == 0) {
            ok = false;
        } else {
            pos.push_back(argv[i]);
        }
    }
    if (ok && cmd == "recv" && pos.size() == 2)
        return recv_cmd(o, pos[0], pos[1]);
    if (ok && cmd == "send" && (pos.size() == 2 || pos.size() == 3))
        return send_cmd(o, pos[0], pos[1], pos.size() == 3 ? pos[2] : nullptr);
    std::fprintf(stderr, "usage: vhnet-xfer recv [--rate BYTES_PER_S] PORT FILE | vhnet-xfer send "
                         "[--rate BYTES_PER_S] [--until-signal] HOST PORT [BYTES]\n");
    return 2;
}
