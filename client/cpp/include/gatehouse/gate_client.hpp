// GateClient: a C++ client of the Gatehouse gate over framed TCP or TLS.
//
// Thread model: each GateClient owns one Asio io_context run by its own thread (the "io
// thread"), started by connect() and joined by close() or the destructor. Every method may be
// called from any thread. Every handler (responses, pushes, state changes, re-login failures)
// runs on the io thread, one at a time: keep handlers short, and never wait on a future of this
// client inside one of its handlers (that would deadlock; use the callback forms there).
//
// Behaviour: requests are matched to responses by msgId, each with a timeout (Outcome::TimedOut,
// state TIMEOUT); requests made while disconnected wait for the next connection (their timeout
// runs meanwhile). A heartbeat (cs_msg_heart) goes out every heartbeatMs, and a gate silent for
// 3 intervals is dropped. After a lost connection the client reconnects with exponential
// backoff and jitter, trying the next address of the list each time, and when it holds a login
// token it logs in again by token before its queued requests go out.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include "gatehouse/client_types.hpp"

namespace gatehouse {

/// Options of GateClient.
struct GateClientOptions : ChannelOptions {
  /// A token from an earlier login: the client logs in with it at every connect.
  std::string token;
  /// How long a re-login by token after a reconnect may hold queued requests back.
  int reloginHoldMs = 5000;
};

/// What a login answers.
struct LoginInfo {
  std::int64_t userId = 0;
  std::string username;
  std::string token;
  std::int64_t expiresAt = 0;  ///< ms since the epoch
};

/// What a password change answers: the new token.
struct TokenInfo {
  std::string token;
  std::int64_t expiresAt = 0;
};

/// A client of the gate.
class GateClient {
 public:
  explicit GateClient(GateClientOptions options);
  ~GateClient();
  GateClient(const GateClient&) = delete;
  GateClient& operator=(const GateClient&) = delete;

  /// Connects; returns once connected (and logged in again when a token is held). Throws
  /// ConnectError when not connected within startWaitMs (with reconnect, the client goes on
  /// trying in the background until close()), or after the first failed attempt without it.
  void connect();
  /// Closes for good; pending requests end with Outcome::Closed.
  void close();

  /// Sends a request; `handler` hears the response (or the local outcome) on the io thread.
  void request(const std::string& cmd, json data, ResponseHandler handler, int timeoutMs = 0);
  /// Sends a request; the future holds the response (or the local outcome). Never throws for a
  /// state: check Response::ok().
  std::future<Response> request(const std::string& cmd, json data = json::object(), int timeoutMs = 0);
  /// Sends a request; the future holds the response's data, or throws ResponseError unless OK.
  std::future<json> requestOk(const std::string& cmd, json data = json::object(), int timeoutMs = 0);

  /// Hears pushes of `cmd` (sc_msg_kicked, sc_msg_group_msg, …) on the io thread.
  void on(const std::string& cmd, PushHandler handler);
  /// Hears connection state changes.
  void onState(StateHandler handler);
  /// Hears a re-login by token after a reconnect that did not succeed: `retrying` false when
  /// the token was refused and dropped, true when the login service could not answer yet.
  void onReloginFailed(std::function<void(const std::string& msg, bool retrying)> handler);

  // Account helpers (the login service). Each future throws ResponseError unless OK.
  /// cs_msg_register: the new account's userId (it does not log in).
  std::future<std::int64_t> registerAccount(const std::string& username, const std::string& password);
  /// cs_msg_login: keeps the token for re-logins; an earlier session elsewhere is kicked.
  std::future<LoginInfo> login(const std::string& username, const std::string& password);
  /// cs_msg_login_by_token, with the held token when `token` is empty.
  std::future<LoginInfo> loginByToken(const std::string& token = "");
  /// cs_msg_change_pw: every earlier token is revoked; the new one is kept.
  std::future<TokenInfo> changePassword(const std::string& password, const std::string& newPassword);
  /// cs_msg_logout: the account's tokens are revoked and the held token dropped.
  std::future<void> logout();
  /// cs_msg_delete_account: the account and its tokens go.
  std::future<void> deleteAccount(const std::string& password);

  /// The token held (empty when none), the logged-in user (0 when none).
  std::string token() const;
  std::int64_t userId() const;
  ConnectionState state() const;
  /// The address of the current or last connection.
  std::string address() const;
  /// How many connections were made so far (1 after connect(), 2 after a reconnect…).
  int connects() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gatehouse
