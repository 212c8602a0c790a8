#include "http/guarded_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include "http/connection_state.hpp"
#include "http/http_date.hpp"
#include "http/json_mapping.hpp"

namespace cluster_actions::http {

namespace {

thread_local connection_state* current = nullptr;

} // namespace

connection_state* current_connection() noexcept {
  return current;
}

serving_connection::serving_connection(connection_state& state) noexcept {
  current = &state;
}

serving_connection::~serving_connection() {
  current = nullptr;
}

namespace detail {

struct pool_load {
  explicit pool_load(std::size_t thread_count) : threads(thread_count) {
    // nop
  }

  const std::size_t threads;
  /// Connections accepted and not yet given a thread.
  std::atomic<std::size_t> queued{0};
  /// Connections being served.
  std::atomic<std::size_t> serving{0};

  /// Whether accepted connections wait because every thread is busy. (A
  /// connection is queued for a moment even when threads are idle; closing
  /// keep-alive connections then would only make their clients reconnect,
  /// which queues again.)
  bool saturated() const noexcept {
    return queued.load() > 0 && serving.load() >= threads;
  }
};

} // namespace detail

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::microseconds;

/// A pool that keeps count of its load.
class counting_pool final : public httplib::TaskQueue {
public:
  explicit counting_pool(std::shared_ptr<detail::pool_load> load)
    : pool_(load->threads), load_(std::move(load)) {
    // nop
  }

  void enqueue(std::function<void()> fn) override {
    ++load_->queued;
    pool_.enqueue([fn = std::move(fn), load = load_] {
      ++load->serving;
      --load->queued;
      fn();
      --load->serving;
    });
  }

  void shutdown() override {
    pool_.shutdown();
  }

private:
  httplib::ThreadPool pool_;
  std::shared_ptr<detail::pool_load> load_;
};

/// Waits up to `timeout` for `events` on `fd`; false on timeout or error.
bool wait_for(int fd, short events, microseconds timeout) {
  pollfd entry{fd, events, 0};
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
    timeout + microseconds(999));
  int ready;
  do {
    ready = ::poll(&entry, 1,
                   static_cast<int>(std::max<long long>(ms.count(), 0)));
  } while (ready < 0 && errno == EINTR);
  return ready > 0;
}

microseconds to_duration(time_t sec, time_t usec) {
  return std::chrono::seconds(sec) + microseconds(usec);
}

microseconds time_left(clock_type::time_point deadline) {
  return std::chrono::duration_cast<microseconds>(deadline - clock_type::now());
}

void socket_address(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t length = sizeof addr;
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &length)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
  if (rc != 0)
    return;
  std::array<char, INET6_ADDRSTRLEN> text{};
  if (addr.ss_family == AF_INET) {
    const auto& in = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &in.sin_addr, text.data(), text.size());
    port = ntohs(in.sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto& in6 = reinterpret_cast<const sockaddr_in6&>(addr);
    ::inet_ntop(AF_INET6, &in6.sin6_addr, text.data(), text.size());
    port = ntohs(in6.sin6_port);
  }
  ip = text.data();
}

/// What one call of a transport did: moved `bytes` (done), reached the
/// end of the stream, failed, or must be called again once the socket is
/// readable (want_read) or writable (want_write).
struct io_result {
  enum outcome { done, end, failed, want_read, want_write };
  outcome what;
  std::size_t bytes = 0;
};

/// The bytes of one connection over a non-blocking socket: no call waits,
/// so that the caller keeps every deadline itself.
class transport {
public:
  explicit transport(int fd) : fd_(fd) {
    // nop
  }
  virtual ~transport() = default;

  virtual io_result read(char* buffer, std::size_t size) = 0;
  virtual io_result write(const char* data, std::size_t size) = 0;
  /// Whether bytes already received wait to be read (TLS buffers records).
  virtual bool has_pending() const = 0;
  /// Ends the session (TLS: sends close_notify); best effort, never waits.
  virtual void finish() = 0;

  int fd() const {
    return fd_;
  }

protected:
  int fd_;
};

class plain_transport final : public transport {
public:
  using transport::transport;

  io_result read(char* buffer, std::size_t size) override {
    for (;;) {
      auto got = ::recv(fd_, buffer, size, 0);
      if (got > 0)
        return {io_result::done, static_cast<std::size_t>(got)};
      if (got == 0)
        return {io_result::end};
      if (errno != EINTR)
        return {would_block() ? io_result::want_read : io_result::failed};
    }
  }

  io_result write(const char* data, std::size_t size) override {
    for (;;) {
      auto sent = ::send(fd_, data, size, MSG_NOSIGNAL);
      if (sent >= 0)
        return {io_result::done, static_cast<std::size_t>(sent)};
      if (errno != EINTR)
        return {would_block() ? io_result::want_write : io_result::failed};
    }
  }

  bool has_pending() const override {
    return false;
  }

  void finish() override {
    // nop
  }

private:
  static bool would_block() {
    return errno == EAGAIN || errno == EWOULDBLOCK;
  }
};

class tls_transport final : public transport {
public:
  tls_transport(int fd, SSL_CTX* ctx)
    : transport(fd), ssl_(SSL_new(ctx), &SSL_free) {
    if (ssl_) {
      SSL_set_fd(ssl_.get(), fd);
      // A write that must wait is retried with what is left, not with the
      // very same buffer and length.
      SSL_set_mode(ssl_.get(), SSL_MODE_ENABLE_PARTIAL_WRITE
                                 | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    }
  }

  bool valid() const {
    return ssl_ != nullptr;
  }

  io_result handshake() {
    auto result = outcome(SSL_accept(ssl_.get()));
    established_ = result.what == io_result::done;
    return result;
  }

  io_result read(char* buffer, std::size_t size) override {
    return outcome(SSL_read(ssl_.get(), buffer, clamp(size)));
  }

  io_result write(const char* data, std::size_t size) override {
    return outcome(SSL_write(ssl_.get(), data, clamp(size)));
  }

  bool has_pending() const override {
    return SSL_pending(ssl_.get()) > 0;
  }

  void finish() override {
    if (established_)
      SSL_shutdown(ssl_.get());
    ERR_clear_error();
  }

private:
  static int clamp(std::size_t size) {
    return static_cast<int>(std::min<std::size_t>(size, INT_MAX));
  }

  io_result outcome(int rc) {
    if (rc > 0)
      return {io_result::done, static_cast<std::size_t>(rc)};
    switch (SSL_get_error(ssl_.get(), rc)) {
      case SSL_ERROR_WANT_READ:
        return {io_result::want_read};
      case SSL_ERROR_WANT_WRITE:
        return {io_result::want_write};
      case SSL_ERROR_ZERO_RETURN:
        return {io_result::end};
      default:
        // OpenSSL's error queue is per thread, and this thread serves other
        // connections next.
        ERR_clear_error();
        return {io_result::failed};
    }
  }

  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_;
  bool established_ = false;
};

/// Waits until the socket is ready for what `result` asks, up to `timeout`.
bool await(const transport& io, const io_result& result, microseconds timeout) {
  return timeout.count() > 0
         && wait_for(io.fd(),
                     result.what == io_result::want_read ? POLLIN : POLLOUT,
                     timeout);
}

/// One connection as httplib reads and writes it. The request head is
/// counted and cut at max_header_bytes, and each request must arrive by
/// its deadline.
class guarded_stream final : public httplib::Stream {
public:
  struct limits {
    microseconds read_timeout;
    microseconds write_timeout;
    microseconds request_timeout;
    /// The shorter deadline while connections wait for a pool thread.
    microseconds busy_request_timeout;
    std::size_t max_header_bytes;
  };

  guarded_stream(transport& io, limits lim, connection_state& state,
                 const detail::pool_load& load)
    : io_(io), limits_(lim), state_(state), load_(load) {
    // nop
  }

  bool is_readable() const override {
    return wait_for_request(limits_.read_timeout);
  }

  bool is_writable() const override {
    return wait_for(io_.fd(), POLLOUT, limits_.write_timeout);
  }

  /// Whether a next request starts within `timeout` (keep-alive wait).
  bool wait_for_request(microseconds timeout) const {
    return off_ < len_ || io_.has_pending()
           || wait_for(io_.fd(), POLLIN, timeout);
  }

  ssize_t read(char* ptr, std::size_t size) override {
    if (!in_request_)
      begin_request();
    if (off_ == len_) {
      auto got = fill();
      if (got <= 0)
        return got;
    }
    auto n = std::min(size, len_ - off_);
    if (in_head_ && !count_head(n))
      return -1;
    std::memcpy(ptr, buffer_.data() + off_, n);
    off_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, std::size_t size) override {
    // "HTTP/1.1 100 Continue" is interim: the request goes on after it.
    constexpr std::string_view interim = "HTTP/1.1 1";
    if (!(size >= interim.size()
          && std::string_view{ptr, interim.size()} == interim))
      in_request_ = false;
    state_.wrote = true;
    const auto deadline = clock_type::now() + limits_.write_timeout;
    for (;;) {
      auto result = io_.write(ptr, size);
      if (result.what == io_result::done)
        return static_cast<ssize_t>(result.bytes);
      if (result.what == io_result::end || result.what == io_result::failed
          || !await(io_, result, time_left(deadline)))
        return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    socket_address(io_.fd(), true, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    socket_address(io_.fd(), false, ip, port);
  }

  socket_t socket() const override {
    return io_.fd();
  }

  /// Sends a whole response of our own (when httplib gave up without one).
  void send_all(const std::string& data) {
    for (std::size_t done = 0; done < data.size();) {
      auto sent = write(data.data() + done, data.size() - done);
      if (sent <= 0)
        return;
      done += static_cast<std::size_t>(sent);
    }
  }

private:
  void begin_request() {
    in_request_ = true;
    in_head_ = true;
    head_bytes_ = 0;
    lines_ = 0;
    line_length_ = 0;
    started_ = clock_type::now();
  }

  /// Counts the first `n` buffered bytes against the head's limit, and
  /// shortens `n` to end with the head; false when the limit is passed.
  bool count_head(std::size_t& n) {
    for (std::size_t i = 0; i < n; ++i) {
      char c = buffer_[off_ + i];
      if (++head_bytes_ > limits_.max_header_bytes) {
        state_.head_too_large = true;
        state_.in_request_line = lines_ == 0;
        return false;
      }
      if (c == '\n') {
        if (line_length_ == 0 && lines_ > 0) {
          in_head_ = false; // the empty line: the body follows
          n = i + 1;
          return true;
        }
        ++lines_;
        line_length_ = 0;
      } else if (c != '\r') {
        ++line_length_;
      }
    }
    return true;
  }

  /// Reads more into the buffer: >0 bytes, 0 at the end, -1 on an error or
  /// when the read timeout or the request's deadline passes.
  ssize_t fill() {
    // A slow client holds a pool thread; while others wait for one, it gets
    // less time.
    auto deadline = started_
                    + (load_.saturated() ? std::min(limits_.request_timeout,
                                                    limits_.busy_request_timeout)
                                         : limits_.request_timeout);
    for (;;) {
      auto result = io_.read(buffer_.data(), buffer_.size());
      switch (result.what) {
        case io_result::done:
          off_ = 0;
          len_ = result.bytes;
          return static_cast<ssize_t>(len_);
        case io_result::end:
          return 0;
        case io_result::failed:
          return -1;
        case io_result::want_read:
        case io_result::want_write:
          if (!await(io_, result,
                     std::min(time_left(deadline), limits_.read_timeout))) {
            state_.timed_out = true;
            return -1;
          }
      }
    }
  }

  transport& io_;
  limits limits_;
  connection_state& state_;
  const detail::pool_load& load_;
  std::array<char, 4096> buffer_;
  std::size_t off_ = 0;
  std::size_t len_ = 0;
  bool in_request_ = false;
  bool in_head_ = false;
  std::size_t head_bytes_ = 0;
  std::size_t lines_ = 0;
  std::size_t line_length_ = 0;
  clock_type::time_point started_;
};

/// A complete JSON error response with Connection: close.
std::string canned_response(int status, std::string_view reason,
                            std::string_view error_code,
                            std::string_view description) {
  auto body = error_json(error_code, description);
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string{reason}
         + "\r\nDate: " + http_date()
         + "\r\nContent-Type: application/json\r\nContent-Length: "
         + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n"
         + body;
}

/// Closes a connection whose client may still be sending (a refused body):
/// reading on for a moment keeps the kernel from resetting the connection
/// before the client has read the answer. Bounded in time and bytes.
void close_lingering(int fd) {
  ::shutdown(fd, SHUT_WR);
  constexpr auto linger = std::chrono::milliseconds(500);
  constexpr std::size_t max_drained = 1 << 20;
  auto deadline = clock_type::now() + linger;
  std::array<char, 4096> sink;
  for (std::size_t drained = 0; drained < max_drained;) {
    auto left = time_left(deadline);
    if (left.count() <= 0 || !wait_for(fd, POLLIN, left))
      break;
    auto got = ::recv(fd, sink.data(), sink.size(), 0);
    if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
      break;
    if (got > 0)
      drained += static_cast<std::size_t>(got);
  }
  ::close(fd);
}

/// Completes a TLS handshake within `timeout`.
bool handshake_within(tls_transport& tls, microseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    auto result = tls.handshake();
    if (result.what == io_result::done)
      return true;
    if (result.what == io_result::end || result.what == io_result::failed
        || !await(tls, result, time_left(deadline)))
      return false;
  }
}

} // namespace

namespace detail {

std::shared_ptr<const pool_load>
install_counting_pool(httplib::Server& server, const rest_settings& settings) {
  auto load
    = std::make_shared<pool_load>(std::max<std::size_t>(settings.threads, 1));
  server.new_task_queue = [load] { return new counting_pool(load); };
  return load;
}

} // namespace detail

template <class Base>
bool guarded_server<Base>::process_and_close_socket(socket_t sock) {
  // Non-blocking, so that every wait below has a deadline of its own.
  ::fcntl(sock, F_SETFL, ::fcntl(sock, F_GETFL) | O_NONBLOCK);
  const auto read_timeout = to_duration(this->read_timeout_sec_,
                                        this->read_timeout_usec_);
  std::unique_ptr<transport> io;
  if constexpr (std::is_base_of_v<httplib::SSLServer, Base>) {
    auto tls = std::make_unique<tls_transport>(sock, this->ssl_context());
    if (!tls->valid() || !handshake_within(*tls, read_timeout)) {
      ::close(sock);
      return false;
    }
    io = std::move(tls);
  } else {
    io = std::make_unique<plain_transport>(sock);
  }
  connection_state state;
  serving_connection serving{state};
  const auto request_timeout
    = std::chrono::duration_cast<microseconds>(settings_.request_timeout);
  guarded_stream stream{
    *io,
    {read_timeout,
     to_duration(this->write_timeout_sec_, this->write_timeout_usec_),
     request_timeout,
     std::min(request_timeout, std::chrono::duration_cast<microseconds>(
                                 settings_.busy_request_timeout)),
     settings_.max_header_bytes},
    state, *load_};
  bool ok = true;
  bool linger = false;
  for (std::size_t served = 0;; ++served) {
    auto idle = served == 0 ? read_timeout
                            : microseconds(std::chrono::seconds(
                              this->keep_alive_timeout_sec_));
    if (!stream.wait_for_request(idle))
      break;
    state = connection_state{};
    state.request_began = clock_type::now();
    // While other connections wait for a thread, this one gives its thread
    // up after one request instead of holding it for the keep-alive time.
    const bool close = served + 1 >= this->keep_alive_max_count_
                       || load_->saturated() || !this->is_running();
    bool closed = false;
    ok = this->process_request(stream, close, closed, nullptr);
    const bool refused = state.head_too_large || state.timed_out;
    if (refused && !state.wrote) {
      // httplib stops without an answer when the request line itself is
      // cut short; answer here.
      if (state.timed_out)
        stream.send_all(canned_response(408, "Request Timeout",
                                        "request_timeout",
                                        "the request did not arrive in time"));
      else
        stream.send_all(canned_response(
          state.in_request_line ? 414 : 431,
          state.in_request_line ? "URI Too Long"
                                : "Request Header Fields Too Large",
          state.in_request_line ? "uri_too_long"
                                : "request_header_fields_too_large",
          (state.in_request_line ? "the request line exceeds "
                                 : "the request line and headers exceed ")
            + std::to_string(settings_.max_header_bytes) + " bytes"));
    }
    linger = refused || state.close;
    if (!ok || closed || close || linger)
      break;
  }
  io->finish();
  if (linger) {
    close_lingering(sock);
  } else {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
  return ok;
}

template class guarded_server<httplib::Server>;
template class guarded_server<httplib::SSLServer>;

} // namespace cluster_actions::http
