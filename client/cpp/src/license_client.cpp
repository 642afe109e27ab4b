// The license client library: the implementation behind gatehouse/license_client.hpp.
#include "gatehouse/license_client.hpp"

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "framed_conn.hpp"
#include "gatehouse/envelope.hpp"
#include "gatehouse/message_types.hpp"

namespace gatehouse {

namespace {

constexpr int kMaxTimeoutMs = 86400000;
constexpr int kMinHeartbeatMs = 10;

MessageTypes toTable(const MessageType_t& t) {
  const std::pair<const char*, std::uint32_t> entries[] = {
      {"HeartbeatReq", t.HeartbeatReq}, {"HeartbeatRsp", t.HeartbeatRsp},       {"LoginReq", t.LoginReq},
      {"LoginRsp", t.LoginRsp},         {"LogoutReq", t.LogoutReq},             {"LogoutRsp", t.LogoutRsp},
      {"GetDogStatusReq", t.GetDogStatusReq}, {"GetDogStatusRsp", t.GetDogStatusRsp}, {"Envelope", t.Envelope},
      {"Error", t.Error}};
  std::string json = "{";
  for (const auto& [name, number] : entries) {
    if (json.size() > 1) json += ",";
    json += "\"" + std::string(name) + "\":" + std::to_string(number);
  }
  return MessageTypes::fromJson(json + "}");
}

std::string randomInstanceId() {
  std::random_device rd;
  std::mt19937_64 rng(rd());
  static const char* hex = "0123456789abcdef";
  std::string id = "cpp-";
  for (int i = 0; i < 24; i++) id.push_back(hex[rng() % 16]);
  return id;
}

bool isCount(const json& v) { return v.is_number_integer() && v.get<std::int64_t>() >= 0; }

}  // namespace

bool loadMessageTypes(const std::string& path, MessageType_t& types, std::string* error) {
  try {
    const auto t = MessageTypes::fromFile(path);
    types.HeartbeatReq = t.number("HeartbeatReq");
    types.HeartbeatRsp = t.number("HeartbeatRsp");
    types.LoginReq = t.number("LoginReq");
    types.LoginRsp = t.number("LoginRsp");
    types.LogoutReq = t.number("LogoutReq");
    types.LogoutRsp = t.number("LogoutRsp");
    types.GetDogStatusReq = t.number("GetDogStatusReq");
    types.GetDogStatusRsp = t.number("GetDogStatusRsp");
    types.Envelope = t.number("Envelope");
    types.Error = t.number("Error");
    return true;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return false;
  }
}

const char* licenseStatusName(int status) {
  switch (status) {
    case LICENSE_CONNECTED: return "LICENSE_CONNECTED";
    case LICENSE_LICENSED: return "LICENSE_LICENSED";
    case LICENSE_QUEUED: return "LICENSE_QUEUED";
    case LICENSE_REFUSED: return "LICENSE_REFUSED";
    case LICENSE_RELEASED: return "LICENSE_RELEASED";
    case LICENSE_LOST: return "LICENSE_LOST";
    case LICENSE_RECONNECTING: return "LICENSE_RECONNECTING";
    case LICENSE_STOPPED: return "LICENSE_STOPPED";
    case LICENSE_HEARTBEAT_OK: return "LICENSE_HEARTBEAT_OK";
    case LICENSE_DOG_OK: return "LICENSE_DOG_OK";
    case LICENSE_DOG_FAIL: return "LICENSE_DOG_FAIL";
    case LICENSE_LOGOUT_FAILED: return "LICENSE_LOGOUT_FAILED";
    case LICENSE_REQUEST_FAILED: return "LICENSE_REQUEST_FAILED";
    case LICENSE_CONNECT_FAILED: return "LICENSE_CONNECT_FAILED";
    case LICENSE_SERVER_HEARTBEAT: return "LICENSE_SERVER_HEARTBEAT";
  }
  return "LICENSE_UNKNOWN";
}

struct LicenseClient::Impl {
  struct Pending {
    std::string expect;
    bool user = false;
    std::unique_ptr<asio::steady_timer> timer;
  };

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  std::atomic<std::thread::id> ioThread{};
  std::promise<void> runDonePromise;
  std::future<void> runDone;

  ClientConfig cfg;
  MessageTypes types;
  std::function<void(int)> callback;
  std::shared_ptr<detail::FramedConn> conn;
  std::map<std::uint32_t, Pending> pending;
  asio::steady_timer ticker{io};
  asio::steady_timer reconnectTimer{io};
  std::unique_ptr<detail::Backoff> backoff;
  bool stopped = true;
  bool wantSeat = false;
  std::chrono::steady_clock::time_point lastReceived, lastPing;
  std::function<void()> onLogoutDone;  // stop() waits for it

  mutable std::mutex mutex;  // guards what the accessors read
  bool connected = false;
  bool licensed = false;
  std::string lastMessage;
  int seats = 0, seatsLeft = 0, heartbeatMs = 5000, queuePosition = 0;
  int serverHeartbeats = 0, heartbeatRsps = 0;
  DogStatus dog;

  bool onIo() const { return std::this_thread::get_id() == ioThread.load(); }

  void emit(int status) {
    if (!callback) return;
    try {
      callback(status);
    } catch (...) {
      // A callback's fault must not break the client.
    }
  }

  void setMessage(const std::string& msg) {
    std::lock_guard<std::mutex> lock(mutex);
    lastMessage = msg;
  }

  int hb() {
    std::lock_guard<std::mutex> lock(mutex);
    return heartbeatMs;
  }

  void connect(std::function<void(const std::string&)> done) {
    auto c = std::make_shared<detail::FramedConn>(io, nullptr, cfg.maxFrameBytes);
    detail::Endpoint ep;
    ep.host = cfg.host;
    ep.port = std::to_string(cfg.port);
    ep.text = "tcp://" + cfg.host + ":" + ep.port;
    c->connect(ep, cfg.connectTimeoutMs, false, [this, c, done](std::string error) {
      if (!error.empty() || stopped) {
        if (error.empty()) c->close("The license client stopped");
        return done(error.empty() ? "The license client stopped" : error);
      }
      conn = c;
      lastReceived = lastPing = std::chrono::steady_clock::now();
      c->start([this](Frame& frame) { onFrame(frame); },
               [this, c](const std::string& reason) {
                 if (conn == c) onLost(reason);
               });
      {
        std::lock_guard<std::mutex> lock(mutex);
        connected = true;
      }
      startTicker();
      emit(LICENSE_CONNECTED);
      if (wantSeat) sendLogin();
      done("");
    });
  }

  void startTicker() {
    ticker.cancel();
    tick();
  }

  void tick() {
    const int every = std::max(5, hb() / 4);
    ticker.expires_after(std::chrono::milliseconds(every));
    ticker.async_wait([this](const asio::error_code& ec) {
      if (ec || !conn) return;
      const int interval = hb();
      const auto now = std::chrono::steady_clock::now();
      if (now - lastReceived >= std::chrono::milliseconds(3 * interval)) {
        conn->close("The license server sent nothing for 3 heartbeat intervals of " + std::to_string(interval) + " ms");
        return;
      }
      if (now - lastPing >= std::chrono::milliseconds(interval)) {
        lastPing = now;
        request("HeartbeatReq", json::object(), cfg.requestTimeoutMs, false);
      }
      tick();
    });
  }

  void onLost(const std::string& reason) {
    conn.reset();
    ticker.cancel();
    for (auto& [seq, p] : pending) {
      if (p.timer) p.timer->cancel();
    }
    pending.clear();
    bool wasLicensed;
    {
      std::lock_guard<std::mutex> lock(mutex);
      wasLicensed = licensed;
      licensed = false;
      connected = false;
    }
    if (onLogoutDone) {
      auto done = std::move(onLogoutDone);
      onLogoutDone = nullptr;
      done();
    }
    if (stopped) return;
    wantSeat = wantSeat || wasLicensed;
    setMessage(reason);
    emit(LICENSE_LOST);
    if (cfg.reconnect) scheduleReconnect();
  }

  void scheduleReconnect() {
    if (stopped) return;
    const int delay = backoff->next();
    emit(LICENSE_RECONNECTING);
    reconnectTimer.expires_after(std::chrono::milliseconds(delay));
    reconnectTimer.async_wait([this](const asio::error_code& ec) {
      if (ec || stopped) return;
      connect([this](const std::string& error) {
        if (error.empty()) {
          backoff->reset();
          return;
        }
        if (stopped) return;
        setMessage(error);
        scheduleReconnect();
      });
    });
  }

  void request(const std::string& name, const json& body, int timeoutMs, bool user) {
    if (!conn) return;
    const auto seq = conn->nextSeq();
    Pending p;
    p.expect = name.substr(0, name.size() - 3) + "Rsp";
    p.user = user;
    if (timeoutMs > 0) {
      p.timer = std::make_unique<asio::steady_timer>(io, std::chrono::milliseconds(timeoutMs));
      p.timer->async_wait([this, seq, name, timeoutMs](const asio::error_code& ec) {
        if (ec) return;
        const auto it = pending.find(seq);
        if (it == pending.end()) return;
        const bool user = it->second.user;
        pending.erase(it);
        if (name == "LogoutReq" && onLogoutDone) {
          auto done = std::move(onLogoutDone);
          onLogoutDone = nullptr;
          done();
        }
        if (!user) return;
        setMessage("No answer to " + name + " within " + std::to_string(timeoutMs) + " ms");
        emit(LICENSE_REQUEST_FAILED);
      });
    }
    pending[seq] = std::move(p);
    conn->send(seq, types.number(name), body.dump());
  }

  void sendLogin() {
    const json body = {{"instanceId", cfg.instanceId}, {"host", cfg.hostName}, {"user", cfg.user}, {"wait", cfg.wait}};
    request("LoginReq", body, cfg.wait ? 0 : cfg.requestTimeoutMs, true);
  }

  void sendError(std::uint32_t seq, const std::string& msg) {
    if (conn) conn->send(seq, types.number("Error"), json({{"code", State::BAD_REQUEST}, {"msg", msg}}).dump());
  }

  void onFrame(Frame& frame) {
    lastReceived = std::chrono::steady_clock::now();
    const auto name = types.name(frame.type);
    if (!name) return sendError(frame.seq, "Unknown message type " + std::to_string(frame.type));
    if (*name == "HeartbeatReq") {
      if (conn) conn->send(frame.seq, types.number("HeartbeatRsp"), json({{"state", State::OK}, {"time", detail::nowMs()}}).dump());
      {
        std::lock_guard<std::mutex> lock(mutex);
        serverHeartbeats++;
      }
      return emit(LICENSE_SERVER_HEARTBEAT);
    }
    if (*name == "Envelope") return onEnvelope(frame);
    if (*name == "Error") return onError(frame);
    if (name->size() > 3 && name->compare(name->size() - 3, 3, "Rsp") == 0) return onResponse(*name, frame);
    sendError(frame.seq, "Message type " + *name + " is not a request the license client answers");
  }

  void onEnvelope(const Frame& frame) {
    if (!isValidUtf8(frame.body)) return;
    const auto parsed = parseEnvelope(frame.body);
    if (!parsed.ok || parsed.kind != EnvelopeKind::Push) return;
    if (parsed.value["cmd"] != "license_queued") return;
    const auto& data = parsed.value["data"];
    if (!data.is_object() || !data.contains("position") || !isCount(data["position"])) return;
    {
      std::lock_guard<std::mutex> lock(mutex);
      queuePosition = data["position"].get<int>();
    }
    emit(LICENSE_QUEUED);
  }

  void onError(const Frame& frame) {
    std::string msg = "The server reported an error";
    try {
      const auto body = json::parse(frame.body);
      if (body.is_object() && body.contains("msg") && body["msg"].is_string()) msg = body["msg"];
    } catch (const json::exception&) {
    }
    if (frame.seq == 0) {
      if (conn) conn->lastError_ = msg;  // a fault of the connection: the server closes it next
      return;
    }
    const auto it = pending.find(frame.seq);
    if (it == pending.end()) return;
    if (it->second.timer) it->second.timer->cancel();
    const bool user = it->second.user;
    pending.erase(it);
    if (!user) return;
    setMessage(msg);
    emit(LICENSE_REQUEST_FAILED);
  }

  void onResponse(const std::string& name, const Frame& frame) {
    const auto it = pending.find(frame.seq);
    if (it == pending.end() || it->second.expect != name) return;  // late, after its timeout
    if (it->second.timer) it->second.timer->cancel();
    const bool user = it->second.user;
    pending.erase(it);
    json body;
    try {
      body = json::parse(frame.body);
    } catch (const json::exception&) {
    }
    if (!body.is_object() || !isCount(body.value("state", json()))) {
      setMessage("The server's " + name + " is not a JSON object with a state code");
      if (user) emit(LICENSE_REQUEST_FAILED);
      return;
    }
    const int state = body["state"].get<int>();
    const std::string msg = body.contains("msg") && body["msg"].is_string() ? body["msg"].get<std::string>() : "";
    const auto count = [&](const char* key) { return isCount(body.value(key, json())) ? body[key].get<int>() : 0; };
    if (name == "HeartbeatRsp") {
      {
        std::lock_guard<std::mutex> lock(mutex);
        heartbeatRsps++;
      }
      if (user) emit(LICENSE_HEARTBEAT_OK);
    } else if (name == "LoginRsp") {
      if (state == State::OK) {
        const int interval = std::min(std::max(count("heartbeatMs"), kMinHeartbeatMs), kMaxTimeoutMs);
        {
          std::lock_guard<std::mutex> lock(mutex);
          licensed = true;
          seats = count("seats");
          seatsLeft = count("seatsLeft");
          heartbeatMs = interval;
          queuePosition = 0;
        }
        startTicker();
        emit(LICENSE_LICENSED);
      } else {
        wantSeat = false;
        setMessage(msg.empty() ? "The login was refused" : msg);
        emit(LICENSE_REFUSED);
      }
    } else if (name == "LogoutRsp") {
      if (state == State::OK) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          licensed = false;
          seatsLeft = count("seatsLeft");
        }
        emit(LICENSE_RELEASED);
      } else {
        setMessage(msg);
        emit(LICENSE_LOGOUT_FAILED);
      }
      if (onLogoutDone) {
        auto done = std::move(onLogoutDone);
        onLogoutDone = nullptr;
        done();
      }
    } else if (name == "GetDogStatusRsp") {
      {
        std::lock_guard<std::mutex> lock(mutex);
        dog.present = body.value("present", false);
        dog.valid = body.value("valid", false);
        dog.expired = body.value("expired", false);
        dog.customer = body.value("customer", std::string());
        dog.seats = count("seats");
        dog.expiresAt = body.value("expiresAt", std::string());
        if (state != State::OK) lastMessage = msg;
      }
      emit(state == State::OK ? LICENSE_DOG_OK : LICENSE_DOG_FAIL);
    }
  }

  /// Ends on the io thread: logout first when licensed, then close; `done` when finished.
  void shutdown(std::function<void()> done) {
    stopped = true;
    wantSeat = false;
    reconnectTimer.cancel();
    auto finish = [this, done] {
      ticker.cancel();
      for (auto& [seq, p] : pending) {
        if (p.timer) p.timer->cancel();
      }
      pending.clear();
      if (conn) conn->close("The license client stopped");
      conn.reset();
      {
        std::lock_guard<std::mutex> lock(mutex);
        connected = false;
        licensed = false;
      }
      emit(LICENSE_STOPPED);
      work.reset();
      if (done) done();
    };
    bool isLicensed;
    {
      std::lock_guard<std::mutex> lock(mutex);
      isLicensed = licensed;
    }
    if (conn && isLicensed) {
      onLogoutDone = finish;
      request("LogoutReq", json::object(), 1000, false);
    } else {
      finish();
    }
  }
};

LicenseClient::LicenseClient() : impl_(std::make_unique<Impl>()) {}

LicenseClient::~LicenseClient() {
  stop();
  if (impl_->thread.joinable()) {
    if (impl_->onIo()) impl_->thread.detach();
    else impl_->thread.join();
  }
}

int LicenseClient::start(ClientConfig& cfg, MessageType_t& messageTypes, std::function<void(int)> cb) {
  auto& d = *impl_;
  if (!d.stopped || d.thread.joinable()) {
    d.setMessage("The license client is already started");
    return -1;
  }
  const auto positive = [](int v, int max) { return v >= 1 && v <= max; };
  if (!positive(cfg.port, 65535) || !positive(cfg.heartbeatMs, kMaxTimeoutMs) ||
      !positive(cfg.reconnectMinMs, kMaxTimeoutMs) || !positive(cfg.reconnectMaxMs, kMaxTimeoutMs) ||
      !positive(cfg.connectTimeoutMs, kMaxTimeoutMs) || !positive(cfg.requestTimeoutMs, kMaxTimeoutMs) ||
      cfg.host.empty()) {
    d.setMessage("Config port must be 1 to 65535 and every interval a whole number of ms from 1 to 86400000");
    return -1;
  }
  try {
    d.types = toTable(messageTypes);
  } catch (const std::exception& e) {
    d.setMessage(e.what());
    return -1;
  }
  if (cfg.instanceId.empty()) cfg.instanceId = randomInstanceId();
  d.cfg = cfg;
  d.callback = std::move(cb);
  d.backoff = std::make_unique<detail::Backoff>(cfg.reconnectMinMs, std::max(cfg.reconnectMinMs, cfg.reconnectMaxMs));
  d.stopped = false;
  d.wantSeat = false;
  {
    std::lock_guard<std::mutex> lock(d.mutex);
    d.heartbeatMs = cfg.heartbeatMs;
    d.lastMessage.clear();
  }
  d.io.restart();
  d.work.emplace(d.io.get_executor());
  d.runDonePromise = std::promise<void>();
  d.runDone = d.runDonePromise.get_future();
  d.thread = std::thread([&d] {
    d.ioThread = std::this_thread::get_id();
    for (;;) {
      try {
        d.io.run();
        break;
      } catch (const std::exception&) {
      }
    }
    d.runDonePromise.set_value();
  });
  auto result = std::make_shared<std::promise<std::string>>();
  auto future = result->get_future();
  asio::post(d.io, [&d, result] { d.connect([result](const std::string& error) { result->set_value(error); }); });
  const std::string error = future.get();  // the connect attempt has its own timeout
  if (error.empty()) return 0;
  d.setMessage(error);
  if (cfg.reconnect) {
    asio::post(d.io, [&d] {
      d.emit(LICENSE_CONNECT_FAILED);
      d.scheduleReconnect();
    });
    return 1;
  }
  asio::post(d.io, [&d] { d.emit(LICENSE_CONNECT_FAILED); });
  stop();
  return -2;
}

void LicenseClient::stop() {
  auto& d = *impl_;
  if (!d.thread.joinable()) return;
  if (d.onIo()) {
    if (!d.stopped) d.shutdown(nullptr);
    return;
  }
  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  asio::post(d.io, [&d, done] {
    if (d.stopped && !d.conn) {
      d.work.reset();
      done->set_value();
      return;
    }
    d.shutdown([done] { done->set_value(); });
  });
  future.wait_for(std::chrono::seconds(3));
  if (d.runDone.wait_for(std::chrono::seconds(2)) != std::future_status::ready) d.io.stop();
  d.thread.join();
  d.stopped = true;
}

#define GATEHOUSE_SEND(body)                              \
  auto& d = *impl_;                                       \
  {                                                       \
    std::lock_guard<std::mutex> lock(d.mutex);            \
    if (!d.connected || !d.thread.joinable()) return -1;  \
  }                                                       \
  asio::post(d.io, [&d] { body; });                       \
  return 0;

int LicenseClient::sendHeartbeatReq() { GATEHOUSE_SEND(d.request("HeartbeatReq", json::object(), d.cfg.requestTimeoutMs, true)) }
int LicenseClient::sendLoginReq() {
  GATEHOUSE_SEND(d.wantSeat = true; d.sendLogin())
}
int LicenseClient::sendLogoutReq() { GATEHOUSE_SEND(d.wantSeat = false; d.request("LogoutReq", json::object(), d.cfg.requestTimeoutMs, true)) }
int LicenseClient::sendGetDogStatusReq() {
  GATEHOUSE_SEND(d.request("GetDogStatusReq", json::object(), d.cfg.requestTimeoutMs, true))
}
#undef GATEHOUSE_SEND

#define GATEHOUSE_GET(field)                          \
  std::lock_guard<std::mutex> lock(impl_->mutex);     \
  return impl_->field;

bool LicenseClient::connected() const { GATEHOUSE_GET(connected) }
bool LicenseClient::licensed() const { GATEHOUSE_GET(licensed) }
std::string LicenseClient::instanceId() const { return impl_->cfg.instanceId; }
std::string LicenseClient::lastMessage() const { GATEHOUSE_GET(lastMessage) }
int LicenseClient::seats() const { GATEHOUSE_GET(seats) }
int LicenseClient::seatsLeft() const { GATEHOUSE_GET(seatsLeft) }
int LicenseClient::heartbeatMs() const { GATEHOUSE_GET(heartbeatMs) }
int LicenseClient::queuePosition() const { GATEHOUSE_GET(queuePosition) }
DogStatus LicenseClient::dogStatus() const { GATEHOUSE_GET(dog) }
int LicenseClient::serverHeartbeats() const { GATEHOUSE_GET(serverHeartbeats) }
int LicenseClient::heartbeatRsps() const { GATEHOUSE_GET(heartbeatRsps) }
#undef GATEHOUSE_GET

}  // namespace gatehouse
