#include "gatehouse/service_client.hpp"

#include <atomic>
#include <map>

#include "channel.hpp"
#include "service_events.hpp"

namespace gatehouse {

struct Responder::State {
  std::weak_ptr<detail::Channel> channel;
  std::string cmd;
  std::uint64_t msgId = 0;
  json clientId;
  /// The most bytes an answer's text may have: the gate's limit less a frame header.
  std::size_t maxTextBytes = kDefaultMaxFrameBytes - kFrameHeaderBytes;
  std::atomic<bool> answered{false};

  void answer(int state, const std::string& msg, json data) {
    if (answered.exchange(true)) return;
    auto ch = channel.lock();
    if (!ch) return;
    auto rsp = makeResponse(cmd, msgId, state, msg, std::move(data), detail::nowMs());
    rsp["clientId"] = clientId;
    auto text = dumpEnvelope(rsp);
    if (text.size() > maxTextBytes) {
      // The gate would refuse the frame and drop the link: the requester hears why instead.
      auto tooLarge = makeResponse(cmd, msgId, gatehouse::State::FAIL,
                                   "The answer to " + cmd + " is over the gate's limit of " +
                                       std::to_string(maxTextBytes) + " bytes",
                                   json::object(), detail::nowMs());
      tooLarge["clientId"] = clientId;
      text = dumpEnvelope(tooLarge);
    }
    ch->sendEnvelopeText(std::move(text));
  }
};

void Responder::ok(json data) const { state_->answer(gatehouse::State::OK, "", std::move(data)); }
void Responder::fail(int state, const std::string& msg) const {
  state_->answer(state == gatehouse::State::OK ? gatehouse::State::FAIL : state, msg, json::object());
}

/// Reads one client event's data; nothing for a malformed one.
using ClientEventParser = std::optional<detail::ClientEvent> (*)(const json&);

struct ServiceClient::Impl : std::enable_shared_from_this<ServiceClient::Impl> {
  ServiceClientOptions options;
  std::shared_ptr<detail::Channel> channel;
  std::mutex mutex;
  std::map<std::string, AsyncHandler> handlers;
  std::map<std::string, Route> routes;
  using ClientHandler = std::function<void(std::int64_t, std::int64_t)>;
  /// The gate events about one client ({clientId, userId}) → their handlers; an event with any is
  /// listed in apis when registering.
  std::map<std::string, std::vector<ClientHandler>> clientEvents;
  std::vector<std::function<void(const GateDown&)>> gateDownHandlers;
  std::atomic<std::int64_t> linkId{0};
  std::atomic<int> registrations{0};
  std::atomic<bool> started{false};

  explicit Impl(ServiceClientOptions o) : options(std::move(o)), channel(std::make_shared<detail::Channel>(options)) {
    if (options.type.empty()) options.type = options.name;
  }

  json registration() {
    std::lock_guard<std::mutex> lock(mutex);
    json apis = json::array();
    for (const auto& [cmd, h] : handlers) apis.push_back(cmd);
    for (const auto& [event, list] : clientEvents) {
      if (!list.empty()) apis.push_back(event);
    }
    json data{{"type", options.type}, {"name", options.name}, {"sskey", options.sskey}, {"apis", apis}};
    if (!routes.empty()) {
      json byCmd = json::object();
      for (const auto& [cmd, route] : routes) byCmd[cmd] = route.toJson();
      data["routes"] = std::move(byCmd);
    }
    return data;
  }

  /// Registers again when a change of apis or routes comes after start().
  void registerAgain() {
    if (started && channel->state() == ConnectionState::Connected) registerApis(nullptr, false);
  }

  /// Adds a handler of a client event; the first one of an event registers it with the gate.
  void hear(const std::string& event, ClientHandler handler) {
    bool first;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto& list = clientEvents[event];
      first = list.empty();
      list.push_back(std::move(handler));
    }
    if (first) registerAgain();
  }

  /// Runs the handlers of a client event (a copy taken under the lock).
  void emitClientEvent(const std::string& event, const detail::ClientEvent& about) {
    std::vector<ClientHandler> copy;
    {
      std::lock_guard<std::mutex> lock(mutex);
      const auto it = clientEvents.find(event);
      if (it == clientEvents.end()) return;
      copy = it->second;
    }
    for (auto& h : copy) h(about.clientId, about.userId);
  }

  /// Runs a copy of `list` (taken under the lock) with `args`.
  template <class List, class... Args>
  void emit(const List& list, const Args&... args) {
    List copy;
    {
      std::lock_guard<std::mutex> lock(mutex);
      copy = list;
    }
    for (auto& h : copy) h(args...);
  }

  void registerApis(std::function<void()> ready, bool early) {
    std::weak_ptr<Impl> weak = shared_from_this();
    channel->request("ss_reg_api", registration(), options.requestTimeoutMs, [weak, ready](Response r) {
      auto self = weak.lock();
      if (!self) return;
      if (r.ok()) {
        if (r.data.contains("clientId") && r.data["clientId"].is_number_integer()) {
          self->linkId = r.data["clientId"].get<std::int64_t>();
        }
        self->registrations++;
        if (ready) ready();
        return;
      }
      if (r.outcome == Outcome::ConnectionLost || r.outcome == Outcome::Closed) return;
      self->channel->openFailed("The gate refused the registration (" + stateName(r.state) + "): " + r.msg);
    }, early);
  }

  void onRequest(json envelope) {
    ServiceRequest req;
    req.cmd = envelope["cmd"].get<std::string>();
    req.data = envelope["data"];
    const auto readInt = [&](const char* key) -> std::int64_t {
      const auto it = envelope.find(key);
      return it != envelope.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
    };
    req.clientId = readInt("clientId");
    req.userId = readInt("userId");
    req.isServiceLink = detail::isTrue(envelope, "is_ss_link");
    if (envelope.contains("clientAddr") && envelope["clientAddr"].is_string()) req.clientAddr = envelope["clientAddr"];
    if (envelope.contains("userName") && envelope["userName"].is_string()) req.userName = envelope["userName"];
    Responder responder;
    responder.state_ = std::make_shared<Responder::State>();
    responder.state_->channel = channel;
    responder.state_->cmd = req.cmd;
    responder.state_->msgId = envelope["msgId"].get<std::uint64_t>();
    responder.state_->clientId = envelope.contains("clientId") ? envelope["clientId"] : json(0);
    responder.state_->maxTextBytes = options.maxMessageBytes > kFrameHeaderBytes
                                         ? options.maxMessageBytes - kFrameHeaderBytes
                                         : 0;
    req.envelope = std::move(envelope);
    AsyncHandler handler;
    {
      std::lock_guard<std::mutex> lock(mutex);
      const auto it = handlers.find(req.cmd);
      if (it != handlers.end()) handler = it->second;
    }
    if (!handler) return responder.fail(State::UNDEFINED_CMD, "This service does not serve " + req.cmd);
    try {
      handler(req, responder);
    } catch (const ServiceError& e) {
      responder.fail(e.state(), e.what());
    } catch (const std::exception&) {
      responder.fail(State::FAIL, "The service failed to handle " + req.cmd);
    }
  }
};

ServiceClient::ServiceClient(ServiceClientOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {
  if (impl_->options.name.empty()) throw std::invalid_argument("A service needs a name");
  std::weak_ptr<Impl> weak = impl_;
  impl_->channel->setOpenHook([weak](std::function<void()> ready) {
    if (auto impl = weak.lock()) impl->registerApis(ready, true);
  });
  impl_->channel->setRequestHandler([weak](json envelope) {
    if (auto impl = weak.lock()) impl->onRequest(std::move(envelope));
  });
  // A malformed event is ignored: the gate never sends one.
  const auto hearClientEvent = [&](const std::string& event, ClientEventParser parse) {
    impl_->channel->onPush(event, [weak, event, parse](const json& data, const json&) {
      auto impl = weak.lock();
      const auto about = parse(data);
      if (impl && about) impl->emitClientEvent(event, *about);
    });
  };
  hearClientEvent("ss_msg_client_leave", detail::parseClientLeave);
  hearClientEvent("ss_msg_user_bind", detail::parseUserBind);
  hearClientEvent("ss_msg_user_unbind", detail::parseUserBind);
  impl_->channel->onPush("ss_msg_gate_down", [weak](const json& data, const json&) {
    auto impl = weak.lock();
    const auto down = detail::parseGateDown(data);
    if (impl && down) impl->emit(impl->gateDownHandlers, *down);
  });
}

ServiceClient::~ServiceClient() { close(); }

ServiceClient& ServiceClient::handle(const std::string& cmd, Handler handler, std::optional<Route> route) {
  return handleAsync(
      cmd, [handler](const ServiceRequest& req, Responder responder) { responder.ok(handler(req)); }, std::move(route));
}

ServiceClient& ServiceClient::handleAsync(const std::string& cmd, AsyncHandler handler, std::optional<Route> route) {
  if (!isCommandName(cmd)) throw std::invalid_argument("Command " + cmd + " is not a command name");
  if (route) {
    if (const auto error = detail::routeError(cmd, *route)) throw std::invalid_argument(*error);
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->handlers[cmd] = std::move(handler);
    if (route) impl_->routes[cmd] = std::move(*route);
    else impl_->routes.erase(cmd);
  }
  impl_->registerAgain();
  return *this;
}

ServiceClient& ServiceClient::onClientLeave(std::function<void(std::int64_t, std::int64_t)> handler) {
  impl_->hear("ss_msg_client_leave", std::move(handler));
  return *this;
}

ServiceClient& ServiceClient::onUserBind(std::function<void(std::int64_t, std::int64_t)> handler) {
  impl_->hear("ss_msg_user_bind", std::move(handler));
  return *this;
}

ServiceClient& ServiceClient::onUserUnbind(std::function<void(std::int64_t, std::int64_t)> handler) {
  impl_->hear("ss_msg_user_unbind", std::move(handler));
  return *this;
}

ServiceClient& ServiceClient::onGateDown(std::function<void(const GateDown&)> handler) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->gateDownHandlers.push_back(std::move(handler));
  return *this;
}

void ServiceClient::onState(StateHandler handler) { impl_->channel->onState(std::move(handler)); }

void ServiceClient::start() {
  impl_->started = true;
  impl_->channel->start();
}

void ServiceClient::close() { impl_->channel->close(); }

namespace {
std::future<json> okData(detail::Channel& channel, const std::string& cmd, json data, int timeoutMs = 0) {
  auto promise = std::make_shared<std::promise<json>>();
  auto future = promise->get_future();
  channel.request(cmd, std::move(data), timeoutMs, [promise](Response r) {
    if (r.ok()) promise->set_value(std::move(r.data));
    else promise->set_exception(std::make_exception_ptr(ResponseError(r)));
  });
  return future;
}

template <class T, class F>
std::future<T> then(std::future<json> f, F convert) {
  return std::async(std::launch::deferred, [f = std::move(f), convert]() mutable { return convert(f.get()); });
}
}  // namespace

std::future<std::int64_t> ServiceClient::push(const std::vector<std::int64_t>& clientIds, const std::string& cmd,
                                              json data) {
  return then<std::int64_t>(okData(*impl_->channel, "ss_msg_push", json{{"clientIds", clientIds}, {"cmd", cmd}, {"data", std::move(data)}}),
                            [](const json& d) { return d.value("reached", std::int64_t(0)); });
}

std::future<void> ServiceClient::kick(std::int64_t clientId, const std::string& reason) {
  return then<void>(okData(*impl_->channel, "ss_msg_kick", json{{"clientId", clientId}, {"reason", reason}}),
                    [](const json&) {});
}

std::future<void> ServiceClient::bindUser(std::int64_t clientId, std::int64_t userId, const std::string& token,
                                          const std::string& username) {
  json data{{"clientId", clientId}, {"userId", userId}};
  if (!token.empty()) data["token"] = token;
  if (!username.empty()) data["username"] = username;
  return then<void>(okData(*impl_->channel, "ss_msg_user_login", std::move(data)), [](const json&) {});
}

std::future<void> ServiceClient::unbindUser(std::int64_t clientId, std::int64_t userId) {
  return then<void>(okData(*impl_->channel, "ss_msg_user_logout", json{{"clientId", clientId}, {"userId", userId}}),
                    [](const json&) {});
}

std::future<bool> ServiceClient::claimKey(const std::string& key, std::optional<KeyNotify> notify) {
  json data{{"key", key}};
  if (notify) {
    json n{{"cmd", notify->cmd}, {"data", notify->data}};
    if (notify->clientIds) n["clientIds"] = *notify->clientIds;
    data["notify"] = std::move(n);
  }
  auto promise = std::make_shared<std::promise<bool>>();
  auto future = promise->get_future();
  impl_->channel->request("ss_msg_key_claim", std::move(data), 0, [promise](Response r) {
    // OK: claimed, or held here already; FAIL: another instance holds it (or this link holds
    // the most keys allowed); anything else is an error.
    if (r.ok()) promise->set_value(true);
    else if (r.outcome == Outcome::Answered && r.state == State::FAIL) promise->set_value(false);
    else promise->set_exception(std::make_exception_ptr(ResponseError(r)));
  });
  return future;
}

std::future<void> ServiceClient::notifyKey(const std::string& key, const std::vector<std::int64_t>& add,
                                           const std::vector<std::int64_t>& remove) {
  json data{{"key", key}};
  if (!add.empty()) data["add"] = add;
  if (!remove.empty()) data["remove"] = remove;
  return then<void>(okData(*impl_->channel, "ss_msg_key_notify", std::move(data)), [](const json&) {});
}

std::future<bool> ServiceClient::releaseKey(const std::string& key) {
  return then<bool>(okData(*impl_->channel, "ss_msg_key_release", json{{"key", key}}), [](const json& d) {
    const auto it = d.find("released");
    if (it == d.end() || !it->is_boolean()) {
      Response r;
      r.cmd = "ss_msg_key_release";
      r.msg = "The gate answered ss_msg_key_release without a boolean released";
      throw ResponseError(r);
    }
    return it->get<bool>();
  });
}

std::future<Response> ServiceClient::request(const std::string& cmd, json data, int timeoutMs) {
  auto promise = std::make_shared<std::promise<Response>>();
  auto future = promise->get_future();
  impl_->channel->request(cmd, std::move(data), timeoutMs, [promise](Response r) { promise->set_value(std::move(r)); });
  return future;
}

std::int64_t ServiceClient::clientId() const { return impl_->linkId; }
int ServiceClient::registrations() const { return impl_->registrations; }
ConnectionState ServiceClient::state() const { return impl_->channel->state(); }

}  // namespace gatehouse
