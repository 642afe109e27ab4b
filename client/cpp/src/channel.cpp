#include "channel.hpp"

#include <future>

namespace gatehouse::detail {

Channel::Channel(ChannelOptions options)
    : options_(std::move(options)),
      backoff_(options_.backoffMinMs, options_.backoffMaxMs),
      reconnectTimer_(io_),
      heartbeatTimer_(io_) {
  if (options_.addresses.empty()) throw std::invalid_argument("At least one gate address is needed");
  if (options_.heartbeatMs < 1 || options_.requestTimeoutMs < 1 || options_.connectTimeoutMs < 1 ||
      options_.backoffMinMs < 1 || options_.backoffMaxMs < options_.backoffMinMs) {
    throw std::invalid_argument("Intervals and timeouts must be positive, and backoffMaxMs at least backoffMinMs");
  }
  bool anyTls = false;
  for (const auto& a : options_.addresses) {
    endpoints_.push_back(parseEndpoint(a));
    anyTls = anyTls || endpoints_.back().tls;
  }
  if (anyTls) {
    tls_ = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    if (!options_.tlsCaFile.empty()) {
      asio::error_code ec;
      tls_->load_verify_file(options_.tlsCaFile, ec);
      if (ec) throw std::invalid_argument("The CA file " + options_.tlsCaFile + " cannot be loaded: " + ec.message());
    } else {
      tls_->set_default_verify_paths();
    }
  }
}

Channel::~Channel() {
  if (thread_.joinable() && onIoThread()) {
    closeOnIo();
    thread_.detach();
    return;
  }
  close();
}

void Channel::start() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (thread_.joinable() || closed_) throw ConnectError("The client is already started or closed");
  }
  work_.emplace(io_.get_executor());
  auto self = shared_from_this();
  runDone_ = runDonePromise_.get_future();
  thread_ = std::thread([this] {
    ioThreadId_ = std::this_thread::get_id();
    for (;;) {
      try {
        io_.run();
        break;
      } catch (const std::exception&) {
        // A handler of the user threw: the client goes on.
      }
    }
    runDonePromise_.set_value();
  });
  post([this] { connectNext(); });
  std::unique_lock<std::mutex> lock(mutex_);
  const bool done = cv_.wait_for(lock, std::chrono::milliseconds(options_.startWaitMs), [this] { return startDone_; });
  if (!done) {
    const std::string why = lastError_.empty() ? "" : ": " + lastError_;
    lock.unlock();
    throw ConnectError("Not connected to the gate within " + std::to_string(options_.startWaitMs) + " ms" + why);
  }
  if (!startError_.empty()) {
    const std::string error = startError_;
    lock.unlock();
    close();
    throw ConnectError(error);
  }
}

void Channel::startResult(const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (startDone_) return;
  startDone_ = true;
  startError_ = error;
  cv_.notify_all();
}

void Channel::close() {
  if (!thread_.joinable()) {
    closed_ = true;
    return;
  }
  if (onIoThread()) {
    closeOnIo();
    return;
  }
  std::promise<void> done;
  auto future = done.get_future();
  post([this, &done] {
    closeOnIo();
    done.set_value();
  });
  future.wait();
  // Let the cancelled operations finish so that their handlers release what they hold.
  if (runDone_.wait_for(std::chrono::seconds(2)) != std::future_status::ready) io_.stop();
  thread_.join();
}

void Channel::closeOnIo() {
  if (closed_) return;
  closed_ = true;
  reconnectTimer_.cancel();
  heartbeatTimer_.cancel();
  if (conn_) conn_->close("The client is closed");
  conn_.reset();
  auto pending = std::move(pending_);
  pending_.clear();
  queue_.clear();
  for (auto& [id, p] : pending) {
    if (p.timer) p.timer->cancel();
    Response r;
    r.cmd = p.cmd;
    r.state = State::SERVER_OFF;
    r.msg = "The client is closed";
    r.outcome = Outcome::Closed;
    if (p.handler) p.handler(r);
  }
  startResult("The client was closed");
  setState(ConnectionState::Closed, "The client is closed");
  work_.reset();
}

void Channel::connectNext() {
  if (closed_) return;
  const Endpoint ep = endpoints_[endpointIndex_ % endpoints_.size()];
  {
    std::lock_guard<std::mutex> lock(mutex_);
    address_ = ep.text;
  }
  setState(ConnectionState::Connecting, ep.text);
  auto conn = std::make_shared<FramedConn>(io_, ep.tls ? tls_.get() : nullptr, options_.maxFrameBytes);
  conn_ = conn;
  auto self = shared_from_this();
  conn->connect(ep, options_.connectTimeoutMs, options_.tlsVerify, [this, self, conn](std::string error) {
    if (closed_ || conn_ != conn) return;
    if (!error.empty()) {
      lastError_ = error;
      conn_.reset();
      endpointIndex_++;
      if (!options_.reconnect && !everReady_) {
        startResult(error);
        setState(ConnectionState::Disconnected, error);
        return;
      }
      setState(ConnectionState::Disconnected, error);
      scheduleReconnect();
      return;
    }
    onConnected(conn);
  });
}

void Channel::onConnected(std::shared_ptr<FramedConn> conn) {
  auto self = shared_from_this();
  lastReceived_ = std::chrono::steady_clock::now();
  conn->start([this, self](Frame& frame) { onFrame(frame); },
              [this, self, conn](const std::string& reason) {
                if (conn_ == conn) onLost(reason);
              });
  {
    std::lock_guard<std::mutex> lock(mutex_);
    connects_++;
  }
  heartbeat();
  auto ready = [this, self, conn] {
    if (closed_ || conn_ != conn || ready_) return;
    ready_ = true;
    everReady_ = true;
    backoff_.reset();
    lastError_.clear();
    setState(ConnectionState::Connected, conn_ ? address() : "");
    flushQueue();
    startResult("");
  };
  if (openHook_) openHook_(ready);
  else ready();
}

void Channel::openFailed(const std::string& error) {
  lastError_ = error;
  if (!everReady_) {
    fatal_ = true;
    // The first start reports it and the client stops: a wrong service key will not heal.
    startResult(error);
    if (conn_) conn_->close(error);
    return;
  }
  if (conn_) conn_->close(error);
}

void Channel::heartbeat() {
  auto self = shared_from_this();
  heartbeatTimer_.expires_after(std::chrono::milliseconds(options_.heartbeatMs));
  heartbeatTimer_.async_wait([this, self](const asio::error_code& ec) {
    if (ec || closed_ || !conn_) return;
    const auto silent = std::chrono::steady_clock::now() - lastReceived_;
    if (silent > std::chrono::milliseconds(3 * options_.heartbeatMs)) {
      conn_->close("The gate sent nothing for 3 heartbeat intervals of " + std::to_string(options_.heartbeatMs) + " ms");
      return;
    }
    request("cs_msg_heart", json::object(), 3 * options_.heartbeatMs, nullptr, true);
    heartbeat();
  });
}

void Channel::onFrame(Frame& frame) {
  lastReceived_ = std::chrono::steady_clock::now();
  if (frame.type == types_.number("Error")) {
    std::string msg = "The gate reported an error";
    try {
      const auto body = json::parse(frame.body);
      if (body.is_object() && body.contains("msg") && body["msg"].is_string()) msg = body["msg"];
    } catch (const json::exception&) {
    }
    lastError_ = msg;
    if (conn_) conn_->lastError_ = msg;
    return;
  }
  if (frame.type != types_.number("Envelope")) {
    if (conn_) {
      conn_->send(frame.seq, types_.number("Error"),
                  json({{"code", State::BAD_REQUEST},
                        {"msg", "Message type " + std::to_string(frame.type) + " is not one the client accepts"}})
                      .dump());
    }
    return;
  }
  if (!isValidUtf8(frame.body)) return;
  auto parsed = parseEnvelope(frame.body);
  if (!parsed.ok) return;  // nothing to match it to
  onEnvelope(std::move(parsed.value), parsed.kind);
}

void Channel::onEnvelope(json envelope, EnvelopeKind kind) {
  if (kind == EnvelopeKind::Response) {
    const auto msgId = envelope["msgId"].get<std::uint64_t>();
    Response r;
    r.cmd = envelope["cmd"].get<std::string>();
    r.state = envelope["state"].get<int>();
    if (envelope.contains("msg")) r.msg = envelope["msg"].get<std::string>();
    r.data = std::move(envelope["data"]);
    finish(msgId, std::move(r));
    return;
  }
  if (kind == EnvelopeKind::Push) {
    const auto it = pushHandlers_.find(envelope["cmd"].get<std::string>());
    if (it == pushHandlers_.end()) return;
    auto handlers = it->second;
    for (auto& h : handlers) h(envelope["data"], envelope);
    return;
  }
  if (requestHandler_) {
    requestHandler_(std::move(envelope));
  } else {
    sendEnvelope(makeResponse(envelope["cmd"], envelope["msgId"], State::UNDEFINED_CMD,
                              "This client serves no commands", json::object(), nowMs()));
  }
}

void Channel::finish(std::uint64_t msgId, Response response) {
  auto it = pending_.find(msgId);
  if (it == pending_.end()) return;  // late, after its timeout
  auto p = std::move(it->second);
  pending_.erase(it);
  if (p.timer) p.timer->cancel();
  if (response.cmd.empty()) response.cmd = p.cmd;
  if (p.handler) p.handler(std::move(response));
}

void Channel::onLost(const std::string& reason) {
  conn_.reset();
  ready_ = false;
  heartbeatTimer_.cancel();
  lastError_ = reason;
  // Requests already sent cannot be answered any more; queued ones wait for the next connection.
  std::vector<std::uint64_t> lost;
  for (auto& [id, p] : pending_) {
    if (p.sent) lost.push_back(id);
  }
  for (auto id : lost) {
    Response r;
    r.state = State::SERVER_OFF;
    r.msg = "The connection to the gate was lost before the answer came: " + reason;
    r.outcome = Outcome::ConnectionLost;
    finish(id, std::move(r));
  }
  if (closed_) return;
  endpointIndex_++;
  setState(ConnectionState::Disconnected, reason);
  if (fatal_ || !options_.reconnect) return;
  scheduleReconnect();
}

void Channel::scheduleReconnect() {
  if (closed_) return;
  auto self = shared_from_this();
  reconnectTimer_.expires_after(std::chrono::milliseconds(backoff_.next()));
  reconnectTimer_.async_wait([this, self](const asio::error_code& ec) {
    if (!ec) connectNext();
  });
}

void Channel::request(const std::string& cmd, json data, int timeoutMs, ResponseHandler handler, bool early) {
  auto self = shared_from_this();
  auto work = [this, self, cmd, data = std::move(data), timeoutMs, handler = std::move(handler), early]() mutable {
    if (closed_) {
      Response r;
      r.cmd = cmd;
      r.state = State::SERVER_OFF;
      r.msg = "The client is closed";
      r.outcome = Outcome::Closed;
      if (handler) handler(r);
      return;
    }
    const auto msgId = ++nextMsgId_;
    const int timeout = timeoutMs > 0 ? timeoutMs : options_.requestTimeoutMs;
    Pending p;
    p.cmd = cmd;
    p.handler = std::move(handler);
    p.timer = std::make_unique<asio::steady_timer>(io_, std::chrono::milliseconds(timeout));
    p.timer->async_wait([this, self, msgId, cmd, timeout](const asio::error_code& ec) {
      if (ec) return;
      queue_.erase(std::remove_if(queue_.begin(), queue_.end(), [msgId](const auto& q) { return q.first == msgId; }),
                   queue_.end());
      Response r;
      r.state = State::TIMEOUT;
      r.msg = "No answer to " + cmd + " within " + std::to_string(timeout) + " ms";
      r.outcome = Outcome::TimedOut;
      finish(msgId, std::move(r));
    });
    const std::string text = dumpEnvelope(makeRequest(cmd, msgId, std::move(data), nowMs()));
    pending_.emplace(msgId, std::move(p));
    if (conn_ && (ready_ || early)) writeRequest(msgId, text);
    else queue_.emplace_back(msgId, text);
  };
  if (onIoThread()) {
    work();
  } else if (closed_ && !thread_.joinable()) {
    work();  // closed for good, no io thread to run it: answered Closed at once
  } else {
    post(std::move(work));
  }
}

void Channel::writeRequest(std::uint64_t msgId, const std::string& text) {
  auto it = pending_.find(msgId);
  if (it == pending_.end() || !conn_) return;
  it->second.sent = true;
  conn_->send(conn_->nextSeq(), types_.number("Envelope"), text);
}

void Channel::flushQueue() {
  auto queue = std::move(queue_);
  queue_.clear();
  for (auto& [id, text] : queue) writeRequest(id, text);
}

void Channel::sendEnvelope(json envelope) { sendEnvelopeText(dumpEnvelope(envelope)); }

void Channel::sendEnvelopeText(std::string text) {
  auto self = shared_from_this();
  auto work = [this, self, text = std::move(text)] {
    if (!conn_ || closed_) return;
    conn_->send(conn_->nextSeq(), types_.number("Envelope"), text);
  };
  if (onIoThread()) work();
  else post(std::move(work));
}

void Channel::onPush(const std::string& cmd, PushHandler handler) {
  auto self = shared_from_this();
  auto work = [this, self, cmd, handler = std::move(handler)]() mutable {
    pushHandlers_[cmd].push_back(std::move(handler));
  };
  if (thread_.joinable() && !onIoThread() && !closed_) {
    std::promise<void> done;
    auto f = done.get_future();
    post([&] {
      work();
      done.set_value();
    });
    f.wait();
  } else {
    work();
  }
}

void Channel::onState(StateHandler handler) {
  std::lock_guard<std::mutex> lock(mutex_);
  stateHandlers_.push_back(std::move(handler));
}

void Channel::setState(ConnectionState state, const std::string& detail) {
  std::vector<StateHandler> handlers;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    state_ = state;
    handlers = stateHandlers_;
  }
  for (auto& h : handlers) h(state, detail);
}

ConnectionState Channel::state() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return state_;
}

std::string Channel::address() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return address_;
}

int Channel::connects() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return connects_;
}

}  // namespace gatehouse::detail
