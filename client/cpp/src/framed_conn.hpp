// Internal: one framed connection (plain TCP or TLS) on an Asio io_context. Every method must be
// called on the io_context's thread; every callback runs there.
#pragma once

#define ASIO_STANDALONE 1
#include <asio.hpp>
#include <asio/ssl.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>

#include "gatehouse/frame.hpp"

namespace gatehouse::detail {

/// A parsed address: tcp://host:port or tls://host:port (host:port alone means tcp).
struct Endpoint {
  std::string host;
  std::string port;
  bool tls = false;
  std::string text;
};

/// Parses an address; throws std::invalid_argument with a sentence naming the fault.
inline Endpoint parseEndpoint(const std::string& address) {
  Endpoint ep;
  ep.text = address;
  std::string rest = address;
  const auto scheme = address.find("://");
  if (scheme != std::string::npos) {
    const std::string s = address.substr(0, scheme);
    if (s == "tls") ep.tls = true;
    else if (s != "tcp")
      throw std::invalid_argument("Address " + address +
                                  " must start with tcp:// or tls:// (the C++ clients speak framed TCP)");
    rest = address.substr(scheme + 3);
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  const auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) {
    throw std::invalid_argument("Address " + address + " must be host:port");
  }
  ep.host = rest.substr(0, colon);
  ep.port = rest.substr(colon + 1);
  if (ep.host.size() > 2 && ep.host.front() == '[' && ep.host.back() == ']') {
    ep.host = ep.host.substr(1, ep.host.size() - 2);
  }
  for (char c : ep.port) {
    if (c < '0' || c > '9') throw std::invalid_argument("Address " + address + " has a port that is not a number");
  }
  return ep;
}

/// One framed connection: connect (with a timeout, TLS handshake included), read frames, write
/// frames in order, close once.
class FramedConn : public std::enable_shared_from_this<FramedConn> {
 public:
  using FrameHandler = std::function<void(Frame&)>;
  using CloseHandler = std::function<void(const std::string&)>;

  FramedConn(asio::io_context& io, asio::ssl::context* tls, std::uint32_t maxFrameBytes)
      : io_(io), resolver_(io), timer_(io), decoder_(maxFrameBytes) {
    if (tls) tlsStream_.emplace(io, *tls);
    else plain_.emplace(io);
  }

  /// Connects to `ep`; `done` gets "" on success or a sentence saying why not.
  void connect(const Endpoint& ep, int timeoutMs, bool verify, std::function<void(std::string)> done) {
    auto self = shared_from_this();
    auto finished = std::make_shared<bool>(false);
    auto finish = [this, self, finished, done](std::string error) {
      if (*finished) return;
      *finished = true;
      timer_.cancel();
      if (!error.empty()) closeSocket();
      done(error);
    };
    timer_.expires_after(std::chrono::milliseconds(timeoutMs));
    timer_.async_wait([finish, ep, timeoutMs](const asio::error_code& ec) {
      if (!ec) finish("Could not connect to " + ep.text + " within " + std::to_string(timeoutMs) + " ms");
    });
    resolver_.async_resolve(ep.host, ep.port, [this, self, ep, verify, finish, finished](
                                                  const asio::error_code& ec,
                                                  asio::ip::tcp::resolver::results_type results) {
      if (*finished) return;
      if (ec) return finish("Could not resolve " + ep.host + ": " + ec.message());
      asio::async_connect(lowest(), results, [this, self, ep, verify, finish, finished](
                                                 const asio::error_code& ec2, const asio::ip::tcp::endpoint&) {
        if (*finished) return;
        if (ec2) return finish("Could not connect to " + ep.text + ": " + ec2.message());
        asio::error_code ignored;
        lowest().set_option(asio::ip::tcp::no_delay(true), ignored);
        if (!tlsStream_) return finish("");
        asio::error_code addrEc;
        asio::ip::make_address(ep.host, addrEc);
        if (addrEc) SSL_set_tlsext_host_name(tlsStream_->native_handle(), ep.host.c_str());
        if (verify) {
          tlsStream_->set_verify_mode(asio::ssl::verify_peer);
          tlsStream_->set_verify_callback(asio::ssl::host_name_verification(ep.host));
        } else {
          tlsStream_->set_verify_mode(asio::ssl::verify_none);
        }
        tlsStream_->async_handshake(asio::ssl::stream_base::client,
                                    [ep, finish, finished](const asio::error_code& ec3) {
                                      if (*finished) return;
                                      if (ec3) return finish("TLS handshake with " + ep.text + " failed: " + ec3.message());
                                      finish("");
                                    });
      });
    });
  }

  /// Starts reading; frames and the one close go to the handlers.
  void start(FrameHandler onFrame, CloseHandler onClose) {
    onFrame_ = std::move(onFrame);
    onClose_ = std::move(onClose);
    read();
  }

  /// The next sequence number of this side: 1 first, wrapping from 2^32 - 1 to 1.
  std::uint32_t nextSeq() {
    seq_ = seq_ == 0xffffffffu ? 1 : seq_ + 1;
    return seq_;
  }

  /// Queues one frame.
  void send(std::uint32_t seq, std::uint32_t type, std::string_view body) {
    if (closed_) return;
    queue_.push_back(encodeFrame(seq, type, body));
    if (!writing_) write();
  }

  /// Bytes queued and not yet written.
  std::size_t unsentBytes() const {
    std::size_t n = 0;
    for (const auto& s : queue_) n += s.size();
    return n;
  }

  /// Closes the connection; the close handler hears `reason` once (later, on the io thread).
  void close(const std::string& reason) {
    if (closed_) return;
    closed_ = true;
    closeSocket();
    if (onClose_) {
      auto handler = std::move(onClose_);
      onClose_ = nullptr;
      onFrame_ = nullptr;
      asio::post(io_, [handler, reason] { handler(reason); });
    }
  }

  /// Flushes what is queued (for at most `graceMs`), then closes.
  void closeAfterFlush(const std::string& reason, int graceMs) {
    if (closed_) return;
    if (!writing_) return close(reason);
    closeReason_ = reason;
    auto self = shared_from_this();
    timer_.expires_after(std::chrono::milliseconds(graceMs));
    timer_.async_wait([self, reason](const asio::error_code& ec) {
      if (!ec) self->close(reason);
    });
  }

  bool closed() const { return closed_; }

 private:
  asio::ip::tcp::socket& lowest() { return tlsStream_ ? tlsStream_->next_layer() : *plain_; }

  void closeSocket() {
    asio::error_code ec;
    resolver_.cancel();
    timer_.cancel();
    lowest().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    lowest().close(ec);
  }

  void read() {
    auto self = shared_from_this();
    auto handler = [this, self](const asio::error_code& ec, std::size_t n) {
      if (closed_) return;
      if (ec) {
        const std::string why = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated
                                    ? "The peer closed the connection"
                                    : "The connection failed: " + ec.message();
        return close(lastError_.empty() ? why : lastError_);
      }
      std::vector<Frame> frames;
      std::optional<FrameError> fault;
      try {
        frames = decoder_.push(buffer_, n);
      } catch (FrameError& error) {
        frames = std::move(error.framesBefore);
        fault.emplace(error);
      }
      for (auto& frame : frames) {
        if (closed_ || !onFrame_) return;
        auto handlerCopy = onFrame_;
        handlerCopy(frame);
      }
      if (closed_) return;
      if (fault) return close(std::string("The peer sent a bad frame: ") + fault->what());
      read();
    };
    if (tlsStream_) tlsStream_->async_read_some(asio::buffer(buffer_), handler);
    else plain_->async_read_some(asio::buffer(buffer_), handler);
  }

  void write() {
    if (queue_.empty() || closed_) {
      writing_ = false;
      if (!closeReason_.empty() && !closed_) close(closeReason_);
      return;
    }
    writing_ = true;
    auto self = shared_from_this();
    auto handler = [this, self](const asio::error_code& ec, std::size_t) {
      if (closed_) return;
      if (ec) return close("Writing to the connection failed: " + ec.message());
      queue_.pop_front();
      write();
    };
    if (tlsStream_) asio::async_write(*tlsStream_, asio::buffer(queue_.front()), handler);
    else asio::async_write(*plain_, asio::buffer(queue_.front()), handler);
  }

 public:
  /// A reason to report instead of the bare socket error when the peer closes next (an Error
  /// frame's sentence, say).
  std::string lastError_;

 private:
  asio::io_context& io_;
  asio::ip::tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::optional<asio::ip::tcp::socket> plain_;
  std::optional<asio::ssl::stream<asio::ip::tcp::socket>> tlsStream_;
  FrameDecoder decoder_;
  std::uint8_t buffer_[64 * 1024];
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool closed_ = false;
  std::string closeReason_;
  std::uint32_t seq_ = 0;
  FrameHandler onFrame_;
  CloseHandler onClose_;
};

/// Delays that double from min to max, each drawn between half and all of its step (jitter).
class Backoff {
 public:
  Backoff(int minMs, int maxMs) : min_(minMs), max_(maxMs) {}
  int next() {
    const double step = std::min<double>(max_, double(min_) * double(1ull << attempt_));
    if (attempt_ < 30) attempt_++;
    std::uniform_real_distribution<double> half(0.5, 1.0);
    return static_cast<int>(step * half(rng_));
  }
  void reset() { attempt_ = 0; }

 private:
  int min_;
  int max_;
  int attempt_ = 0;
  std::mt19937 rng_{std::random_device{}()};
};

/// Milliseconds since the epoch.
inline std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace gatehouse::detail
