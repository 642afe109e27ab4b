#include "gatehouse/gate_client.hpp"

#include "channel.hpp"

namespace gatehouse {

namespace {
bool retryable(const Response& r) {
  return r.outcome == Outcome::TimedOut ||
         (r.outcome == Outcome::Answered &&
          (r.state == State::UNDEFINED_CMD || r.state == State::SERVER_OFF || r.state == State::SERVER_BUSY ||
           r.state == State::TIMEOUT || r.state == State::RATE_LIMITED));
}

template <class T, class F>
std::future<T> typed(detail::Channel& channel, const std::string& cmd, json data, int timeoutMs, F convert) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  channel.request(cmd, std::move(data), timeoutMs, [promise, convert](Response r) {
    if (!r.ok()) {
      promise->set_exception(std::make_exception_ptr(ResponseError(r)));
      return;
    }
    try {
      if constexpr (std::is_void_v<T>) {
        convert(r);
        promise->set_value();
      } else {
        promise->set_value(convert(r));
      }
    } catch (const std::exception& e) {
      Response bad = r;
      bad.state = State::FAIL;
      bad.msg = std::string("The answer to ") + r.cmd + " has an unexpected shape: " + e.what();
      bad.outcome = Outcome::Answered;
      promise->set_exception(std::make_exception_ptr(ResponseError(bad)));
    }
  });
  return future;
}
}  // namespace

struct GateClient::Impl : std::enable_shared_from_this<GateClient::Impl> {
  GateClientOptions options;
  std::shared_ptr<detail::Channel> channel;
  mutable std::mutex mutex;
  std::string token;
  std::int64_t userId = 0;
  std::string username;
  std::vector<std::function<void(const std::string&, bool)>> reloginFailed;

  explicit Impl(GateClientOptions o) : options(std::move(o)), channel(std::make_shared<detail::Channel>(options)) {
    token = options.token;
  }

  void notifyRelogin(const std::string& msg, bool retrying) {
    std::vector<std::function<void(const std::string&, bool)>> handlers;
    {
      std::lock_guard<std::mutex> lock(mutex);
      handlers = reloginFailed;
    }
    for (auto& h : handlers) h(msg, retrying);
  }

  LoginInfo keepLogin(const Response& r) {
    LoginInfo info;
    info.userId = r.data.at("userId").get<std::int64_t>();
    info.username = r.data.at("username").get<std::string>();
    info.token = r.data.at("token").get<std::string>();
    info.expiresAt = r.data.at("expiresAt").get<std::int64_t>();
    std::lock_guard<std::mutex> lock(mutex);
    token = info.token;
    userId = info.userId;
    username = info.username;
    return info;
  }

  void dropLogin() {
    std::lock_guard<std::mutex> lock(mutex);
    token.clear();
    userId = 0;
    username.clear();
  }

  /// The open hook: log in again by token before queued requests go out.
  void relogin(std::function<void()> ready, std::chrono::steady_clock::time_point started, int connection) {
    std::string held;
    {
      std::lock_guard<std::mutex> lock(mutex);
      held = token;
      userId = 0;  // the gate forgot this connection's user
    }
    if (held.empty()) return ready();
    auto self = shared_from_this();
    channel->request(
        "cs_msg_login_by_token", json{{"token", held}}, options.requestTimeoutMs,
        [self, ready, started, connection, held](Response r) {
          if (self->channel->connects() != connection) return;  // a newer connection runs its own
          if (r.ok()) {
            try {
              self->keepLogin(r);
            } catch (const std::exception&) {
            }
            return ready();
          }
          if (r.outcome == Outcome::ConnectionLost || r.outcome == Outcome::Closed) return;
          if (!retryable(r)) {
            {
              std::lock_guard<std::mutex> lock(self->mutex);
              if (self->token == held) self->token.clear();
            }
            self->notifyRelogin(r.msg, false);
            return ready();
          }
          self->notifyRelogin(r.msg, true);
          const auto waited = std::chrono::steady_clock::now() - started;
          if (waited > std::chrono::milliseconds(self->options.reloginHoldMs)) ready();
          auto timer = std::make_shared<asio::steady_timer>(self->channel->io(), std::chrono::milliseconds(250));
          timer->async_wait([self, timer, ready, started, connection](const asio::error_code& ec) {
            if (ec || self->channel->connects() != connection) return;
            if (self->channel->state() == ConnectionState::Closed) return;
            self->relogin(ready, started, connection);
          });
        },
        true);
  }
};

GateClient::GateClient(GateClientOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {
  std::weak_ptr<Impl> weak = impl_;
  impl_->channel->setOpenHook([weak](std::function<void()> ready) {
    auto impl = weak.lock();
    if (!impl) return ready();
    impl->relogin(ready, std::chrono::steady_clock::now(), impl->channel->connects());
  });
  impl_->channel->onPush("sc_msg_kicked", [weak](const json&, const json&) {
    // Another connection took the session (or a service kicked this one): do not take it back.
    if (auto impl = weak.lock()) impl->dropLogin();
  });
}

GateClient::~GateClient() { close(); }

void GateClient::connect() { impl_->channel->start(); }
void GateClient::close() { impl_->channel->close(); }

void GateClient::request(const std::string& cmd, json data, ResponseHandler handler, int timeoutMs) {
  impl_->channel->request(cmd, std::move(data), timeoutMs, std::move(handler));
}

std::future<Response> GateClient::request(const std::string& cmd, json data, int timeoutMs) {
  auto promise = std::make_shared<std::promise<Response>>();
  auto future = promise->get_future();
  impl_->channel->request(cmd, std::move(data), timeoutMs, [promise](Response r) { promise->set_value(std::move(r)); });
  return future;
}

std::future<json> GateClient::requestOk(const std::string& cmd, json data, int timeoutMs) {
  return typed<json>(*impl_->channel, cmd, std::move(data), timeoutMs, [](const Response& r) { return r.data; });
}

void GateClient::on(const std::string& cmd, PushHandler handler) { impl_->channel->onPush(cmd, std::move(handler)); }
void GateClient::onState(StateHandler handler) { impl_->channel->onState(std::move(handler)); }

void GateClient::onReloginFailed(std::function<void(const std::string&, bool)> handler) {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->reloginFailed.push_back(std::move(handler));
}

std::future<std::int64_t> GateClient::registerAccount(const std::string& username, const std::string& password) {
  return typed<std::int64_t>(*impl_->channel, "cs_msg_register", json{{"username", username}, {"password", password}},
                             0, [](const Response& r) { return r.data.at("userId").get<std::int64_t>(); });
}

std::future<LoginInfo> GateClient::login(const std::string& username, const std::string& password) {
  auto impl = impl_;
  return typed<LoginInfo>(*impl_->channel, "cs_msg_login", json{{"username", username}, {"password", password}}, 0,
                          [impl](const Response& r) { return impl->keepLogin(r); });
}

std::future<LoginInfo> GateClient::loginByToken(const std::string& token) {
  const std::string use = token.empty() ? this->token() : token;
  if (use.empty()) throw std::invalid_argument("There is no token to log in with");
  auto impl = impl_;
  return typed<LoginInfo>(*impl_->channel, "cs_msg_login_by_token", json{{"token", use}}, 0,
                          [impl](const Response& r) { return impl->keepLogin(r); });
}

std::future<TokenInfo> GateClient::changePassword(const std::string& password, const std::string& newPassword) {
  auto impl = impl_;
  return typed<TokenInfo>(*impl_->channel, "cs_msg_change_pw", json{{"password", password}, {"newPassword", newPassword}},
                          0, [impl](const Response& r) {
                            TokenInfo info{r.data.at("token").get<std::string>(), r.data.at("expiresAt").get<std::int64_t>()};
                            std::lock_guard<std::mutex> lock(impl->mutex);
                            impl->token = info.token;
                            return info;
                          });
}

std::future<void> GateClient::logout() {
  auto impl = impl_;
  return typed<void>(*impl_->channel, "cs_msg_logout", json::object(), 0, [impl](const Response&) { impl->dropLogin(); });
}

std::future<void> GateClient::deleteAccount(const std::string& password) {
  auto impl = impl_;
  return typed<void>(*impl_->channel, "cs_msg_delete_account", json{{"password", password}}, 0,
                     [impl](const Response&) { impl->dropLogin(); });
}

std::string GateClient::token() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->token;
}

std::int64_t GateClient::userId() const {
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->userId;
}

ConnectionState GateClient::state() const { return impl_->channel->state(); }
std::string GateClient::address() const { return impl_->channel->address(); }
int GateClient::connects() const { return impl_->channel->connects(); }

}  // namespace gatehouse
