#include "daemon/listener.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/host_port.h"

namespace jobq::daemon {

Listener::Listener(size_t max_connections)
    : max_connections_(max_connections) {}

Listener::~Listener() { Stop(); }

absl::Status Listener::Bind(const std::string& address) {
  std::string host;
  int port = 0;
  if (absl::Status s = SplitHostPort(address, "--listen", &host, &port);
      !s.ok()) {
    return s;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                           service.c_str(), &hints, &found);
      rc != 0) {
    return absl::UnavailableError(absl::StrCat("--listen: cannot resolve \"",
                                               host, "\": ", gai_strerror(rc)));
  }
  std::string error = "no address";
  for (addrinfo* a = found; a != nullptr && fd_ < 0; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
      error = std::strerror(errno);
      close(fd);
      continue;
    }
    fd_ = fd;
  }
  freeaddrinfo(found);
  if (fd_ < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", address, ": ", error));
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&bound), &len);
  port_ = ntohs(bound.ss_family == AF_INET6
                    ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                    : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  if (pipe2(wake_, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

void Listener::Start(
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor) {
  acceptor_ = std::move(acceptor);
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "jobq-accept");
    AcceptLoop();
  });
}

void Listener::AcceptLoop() {
  pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
  while (true) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("listener: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;  // Stop().
    // As gRPC's own listener leaves them: non-blocking, without Nagle.
    int fd = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: refuse what waits, so that it does not spin.
        spdlog::warn("listener: out of file descriptors; refusing");
        refused_.fetch_add(1, std::memory_order_relaxed);
        int spare = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (spare >= 0) close(spare);
        poll(nullptr, 0, 10);
      }
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct stat st;
    fstat(fd, &st);
    {
      std::lock_guard lock(mu_);
      // A descriptor number now reused: its old connection has closed.
      open_.erase(fd);
      if (max_connections_ > 0 && open_.size() >= max_connections_ &&
          Sweep() >= max_connections_) {
        close(fd);
        refused_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      open_[fd] = st.st_ino;
    }
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters p;
    p.listener_fd = fd_;
    p.fd = fd;
    acceptor_->HandleNewConnection(&p);
  }
}

size_t Listener::Sweep() {
  for (auto it = open_.begin(); it != open_.end();) {
    struct stat st;
    if (fstat(it->first, &st) != 0 || st.st_ino != it->second ||
        !S_ISSOCK(st.st_mode)) {
      open_.erase(it++);
    } else {
      ++it;
    }
  }
  return open_.size();
}

size_t Listener::open_connections() {
  std::lock_guard lock(mu_);
  return Sweep();
}

void Listener::Stop() {
  if (thread_.joinable()) {
    char byte = 0;
    (void)!write(wake_[1], &byte, 1);
    thread_.join();
  }
  for (int* fd : {&fd_, &wake_[0], &wake_[1]}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
}

}  // namespace jobq::daemon
