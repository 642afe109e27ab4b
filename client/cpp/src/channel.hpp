// Internal: one connection to a gate shared by GateClient and ServiceClient: its own io thread,
// requests matched by msgId with timeouts, pushes, heartbeat, reconnect with backoff and jitter
// over a list of addresses, and an "open hook" (register, log in again) that runs after each
// connect before queued requests go out.
#pragma once

#include <atomic>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "framed_conn.hpp"
#include "gatehouse/client_types.hpp"
#include "gatehouse/envelope.hpp"
#include "gatehouse/message_types.hpp"

namespace gatehouse::detail {

class Channel : public std::enable_shared_from_this<Channel> {
 public:
  /// Runs after each connect; must call `ready` once (on the io thread) when done. `generation`
  /// tells whether the connection is still the same one.
  using OpenHook = std::function<void(std::function<void()> ready)>;
  using RequestHandler = std::function<void(json envelope)>;

  explicit Channel(ChannelOptions options);
  ~Channel();

  // --- set before start(), from any thread ---
  void setOpenHook(OpenHook hook) { openHook_ = std::move(hook); }
  void setRequestHandler(RequestHandler handler) { requestHandler_ = std::move(handler); }
  /// Called with the error of a failed open hook; the first start() reports it.
  void openFailed(const std::string& error);

  // --- any thread ---
  /// Connects and waits until ready (open hook done). Throws ConnectError.
  void start();
  /// Closes for good: pending requests end with Outcome::Closed. Joins the io thread unless
  /// called on it.
  void close();
  /// Sends a request; `handler` runs on the io thread. `early`: goes out before the open hook is
  /// done (the hook's own requests).
  void request(const std::string& cmd, json data, int timeoutMs, ResponseHandler handler, bool early = false);
  /// Sends any envelope now if connected (responses of a service); dropped when not.
  void sendEnvelope(json envelope);
  /// The same for an envelope already encoded as JSON text.
  void sendEnvelopeText(std::string text);
  void onPush(const std::string& cmd, PushHandler handler);
  void onState(StateHandler handler);
  /// Runs `fn` on the io thread.
  void post(std::function<void()> fn) { asio::post(io_, std::move(fn)); }
  bool onIoThread() const { return std::this_thread::get_id() == ioThreadId_.load(); }

  /// The current state and the address in use (any thread).
  ConnectionState state() const;
  std::string address() const;
  asio::io_context& io() { return io_; }
  const ChannelOptions& options() const { return options_; }
  /// Counts connections made (1 after the first).
  int connects() const;

 private:
  struct Pending {
    std::string cmd;
    ResponseHandler handler;
    std::unique_ptr<asio::steady_timer> timer;
    bool sent = false;
  };

  void connectNext();
  void onConnected(std::shared_ptr<FramedConn> conn);
  void onFrame(Frame& frame);
  void onEnvelope(json envelope, EnvelopeKind kind);
  void onLost(const std::string& reason);
  void scheduleReconnect();
  void setState(ConnectionState state, const std::string& detail);
  void finish(std::uint64_t msgId, Response response);
  void writeRequest(std::uint64_t msgId, const std::string& text);
  void flushQueue();
  void heartbeat();
  void closeOnIo();
  void startResult(const std::string& error);

  ChannelOptions options_;
  std::vector<Endpoint> endpoints_;
  std::size_t endpointIndex_ = 0;
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::unique_ptr<asio::ssl::context> tls_;
  std::thread thread_;
  std::atomic<std::thread::id> ioThreadId_{};
  bool fatal_ = false;
  std::promise<void> runDonePromise_;
  std::future<void> runDone_;
  std::shared_ptr<FramedConn> conn_;
  bool ready_ = false;
  std::atomic<bool> closed_{false};
  std::uint64_t nextMsgId_ = 0;
  std::map<std::uint64_t, Pending> pending_;
  std::vector<std::pair<std::uint64_t, std::string>> queue_;  // requests waiting for ready
  std::unordered_map<std::string, std::vector<PushHandler>> pushHandlers_;
  std::vector<StateHandler> stateHandlers_;
  OpenHook openHook_;
  RequestHandler requestHandler_;
  Backoff backoff_;
  asio::steady_timer reconnectTimer_;
  asio::steady_timer heartbeatTimer_;
  std::chrono::steady_clock::time_point lastReceived_;
  MessageTypes types_;
  std::string lastError_;
  bool everReady_ = false;

  mutable std::mutex mutex_;  // guards the fields below, read from other threads
  std::condition_variable cv_;
  ConnectionState state_ = ConnectionState::Disconnected;
  std::string address_;
  int connects_ = 0;
  bool startDone_ = false;
  std::string startError_;
};

}  // namespace gatehouse::detail
