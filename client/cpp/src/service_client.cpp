#include "gatehouse/service_client.hpp"

#include <atomic>
#include <map>

#include "channel.hpp"

namespace gatehouse {

struct Responder::State {
  std::weak_ptr<detail::Channel> channel;
  std::string cmd;
  std::uint64_t msgId = 0;
  json clientId;
  std::atomic<bool> answered{false};

  void answer(int state, const std::string& msg, json data) {
    if (answered.exchange(true)) return;
    auto ch = channel.lock();
    if (!ch) return;
    auto rsp = makeResponse(cmd, msgId, state, msg, std::move(data), detail::nowMs());
    rsp["clientId"] = clientId;
    ch->sendEnvelope(std::move(rsp));
  }
};

void Responder::ok(json data) const { state_->answer(gatehouse::State::OK, "", std::move(data)); }
void Responder::fail(int state, const std::string& msg) const {
  state_->answer(state == gatehouse::State::OK ? gatehouse::State::FAIL : state, msg, json::object());
}

struct ServiceClient::Impl : std::enable_shared_from_this<ServiceClient::Impl> {
  ServiceClientOptions options;
  std::shared_ptr<detail::Channel> channel;
  std::mutex mutex;
  std::map<std::string, AsyncHandler> handlers;
  std::vector<std::function<void(std::int64_t, std::int64_t)>> leaveHandlers;
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
    if (!leaveHandlers.empty()) apis.push_back("ss_msg_client_leave");
    return json{{"type", options.type}, {"name", options.name}, {"sskey", options.sskey}, {"apis", apis}};
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
    req.isServiceLink = envelope.value("is_ss_link", false);
    if (envelope.contains("clientAddr") && envelope["clientAddr"].is_string()) req.clientAddr = envelope["clientAddr"];
    Responder responder;
    responder.state_ = std::make_shared<Responder::State>();
    responder.state_->channel = channel;
    responder.state_->cmd = req.cmd;
    responder.state_->msgId = envelope["msgId"].get<std::uint64_t>();
    responder.state_->clientId = envelope.contains("clientId") ? envelope["clientId"] : json(0);
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
  impl_->channel->onPush("ss_msg_client_leave", [weak](const json& data, const json&) {
    auto impl = weak.lock();
    if (!impl || !data.is_object()) return;
    const auto clientId = data.value("clientId", json(0));
    const auto userId = data.value("userId", json(0));
    if (!clientId.is_number_integer() || !userId.is_number_integer()) return;
    std::vector<std::function<void(std::int64_t, std::int64_t)>> handlers;
    {
      std::lock_guard<std::mutex> lock(impl->mutex);
      handlers = impl->leaveHandlers;
    }
    for (auto& h : handlers) h(clientId.get<std::int64_t>(), userId.get<std::int64_t>());
  });
}

ServiceClient::~ServiceClient() { close(); }

ServiceClient& ServiceClient::handle(const std::string& cmd, Handler handler) {
  return handleAsync(cmd, [handler](const ServiceRequest& req, Responder responder) { responder.ok(handler(req)); });
}

ServiceClient& ServiceClient::handleAsync(const std::string& cmd, AsyncHandler handler) {
  if (!isCommandName(cmd)) throw std::invalid_argument("Command " + cmd + " is not a command name");
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->handlers[cmd] = std::move(handler);
  }
  if (impl_->started && impl_->channel->state() == ConnectionState::Connected) impl_->registerApis(nullptr, false);
  return *this;
}

ServiceClient& ServiceClient::onClientLeave(std::function<void(std::int64_t, std::int64_t)> handler) {
  bool first;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    first = impl_->leaveHandlers.empty();
    impl_->leaveHandlers.push_back(std::move(handler));
  }
  if (first && impl_->started && impl_->channel->state() == ConnectionState::Connected) {
    impl_->registerApis(nullptr, false);
  }
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

std::future<void> ServiceClient::bindUser(std::int64_t clientId, std::int64_t userId, const std::string& token) {
  json data{{"clientId", clientId}, {"userId", userId}};
  if (!token.empty()) data["token"] = token;
  return then<void>(okData(*impl_->channel, "ss_msg_user_login", std::move(data)), [](const json&) {});
}

std::future<void> ServiceClient::unbindUser(std::int64_t clientId, std::int64_t userId) {
  return then<void>(okData(*impl_->channel, "ss_msg_user_logout", json{{"clientId", clientId}, {"userId", userId}}),
                    [](const json&) {});
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
