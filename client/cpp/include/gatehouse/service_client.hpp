// ServiceClient: a C++ backend service behind the Gatehouse gate, over framed TCP or TLS.
//
// It registers its commands (and their routes) with ss_reg_api and the service key at every
// connect (so after a reconnect too), answers the requests the gate forwards, pushes to clients,
// kicks and binds users, claims the keys of the commands routed by key (one of N instances), and
// hears the gate's events: ss_msg_client_leave, ss_msg_user_bind, ss_msg_user_unbind and
// ss_msg_gate_down.
//
// Thread model: as GateClient: one io thread per ServiceClient, started by start() and joined by
// close() or the destructor. Handlers run on the io thread, one at a time; a Responder may be
// used from any thread, once. Never wait on a future of this client inside its handlers.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gatehouse/client_types.hpp"

namespace gatehouse {

/// Options of ServiceClient.
struct ServiceClientOptions : ChannelOptions {
  /// The gate's service key (GATEHOUSE_SSKEY, or the gate's <data-dir>/sskey file).
  std::string sskey;
  /// This instance's name, for the gate's logs.
  std::string name;
  /// The service's kind; `name` when empty.
  std::string type;
  /// The gate's message limit (its --max-message-bytes, 1 MiB by default). An answer whose frame
  /// would be larger is replaced by a FAIL response saying so: the gate would refuse the frame and
  /// drop the link, and every request in flight on it with it.
  std::uint32_t maxMessageBytes = kDefaultMaxFrameBytes;
};

/// A request the gate forwarded, with the sender fields the gate stamped (a service may trust
/// them).
struct ServiceRequest {
  std::string cmd;
  json data;
  std::int64_t clientId = 0;   ///< the sender's connection
  std::int64_t userId = 0;     ///< the user bound to it, 0 when none
  /// The bound user's username as the gate stamped it (`userName`, given by the login service's
  /// ss_msg_user_login); empty when no user is bound or the binding gave none.
  std::string userName;
  bool isServiceLink = false;  ///< whether the sender is a service
  std::string clientAddr;      ///< the sender's address as the gate saw it, when it says
  json envelope;               ///< the whole request
};

/// How the gate routes a command among the instances of a service (shared/key_routes.ts,
/// PROTOCOL.md "Route by key"); every instance must declare the same route.
struct Route {
  enum class Mode {
    By,      ///< to the instance that claimed the value of data.<field> (claimKey)
    Gather,  ///< to every instance; the answers' data.<field> arrays joined
  };
  Mode mode = Mode::By;
  /// 1 to 64 letters, digits or '_', not starting with a digit.
  std::string field;

  /// `{by: field}`: routed by the key in data.<field>.
  static Route by(std::string field) { return Route{Mode::By, std::move(field)}; }
  /// `{gather: field}`: asked of every instance.
  static Route gather(std::string field) { return Route{Mode::Gather, std::move(field)}; }
  /// The route as ss_reg_api carries it.
  json toJson() const { return json{{mode == Mode::By ? "by" : "gather", field}}; }
};

/// What the gate pushes, and to whom, when a claimed key is lost with its instance (it went away
/// before releasing it).
struct KeyNotify {
  std::string cmd;  ///< the push's command
  json data = json::object();
  /// Who to tell; none given keeps those of an earlier claim of the key by this link.
  std::optional<std::vector<std::int64_t>> clientIds;
};

/// ss_msg_gate_down (cluster mode): gate `gate` went down or restarted, and every clientId with
/// fromClientId <= clientId < toClientId left, as if each had sent ss_msg_client_leave.
struct GateDown {
  std::int64_t gate = 0;
  std::int64_t fromClientId = 0;
  std::int64_t toClientId = 0;
};

/// Thrown by a handler to answer with a state other than OK.
class ServiceError : public std::runtime_error {
 public:
  ServiceError(int state, const std::string& msg) : std::runtime_error(msg), state_(state) {}
  int state() const { return state_; }

 private:
  int state_;
};

/// Answers one request, once, from any thread.
class Responder {
 public:
  /// OK with `data`.
  void ok(json data = json::object()) const;
  /// `state` (not OK) with a sentence for the user.
  void fail(int state, const std::string& msg) const;

 private:
  friend class ServiceClient;
  struct State;
  std::shared_ptr<State> state_;
};

/// A service of the gate.
class ServiceClient {
 public:
  /// Answers synchronously: returns the OK data, or throws ServiceError.
  using Handler = std::function<json(const ServiceRequest&)>;
  /// Answers later through the Responder.
  using AsyncHandler = std::function<void(const ServiceRequest&, Responder)>;

  explicit ServiceClient(ServiceClientOptions options);
  ~ServiceClient();
  ServiceClient(const ServiceClient&) = delete;
  ServiceClient& operator=(const ServiceClient&) = delete;

  /// Serves `cmd` (call before start(); after it, the service registers again). With `route`,
  /// the gate routes it by a key field of its data (Route::by, to the instance that claimed the
  /// key with claimKey) or gathers it from every instance (Route::gather). Throws
  /// std::invalid_argument for a command name or route field the gate would refuse.
  ServiceClient& handle(const std::string& cmd, Handler handler, std::optional<Route> route = std::nullopt);
  ServiceClient& handleAsync(const std::string& cmd, AsyncHandler handler, std::optional<Route> route = std::nullopt);
  /// Hears every client (or service link) that leaves the gate: its clientId and userId.
  ServiceClient& onClientLeave(std::function<void(std::int64_t clientId, std::int64_t userId)> handler);
  /// Hears ss_msg_user_bind: a user was bound to a client (by ss_msg_user_login, on any gate of a
  /// cluster).
  ServiceClient& onUserBind(std::function<void(std::int64_t clientId, std::int64_t userId)> handler);
  /// Hears ss_msg_user_unbind: a user's binding to a client ended while the client stays open (a
  /// logout, a login elsewhere, a bind of another user), on any gate of a cluster.
  ServiceClient& onUserUnbind(std::function<void(std::int64_t clientId, std::int64_t userId)> handler);
  /// Hears ss_msg_gate_down (cluster mode): a gate went down and its clients left. The gate sends
  /// it to services that listen for client leaves: set onClientLeave too.
  ServiceClient& onGateDown(std::function<void(const GateDown&)> handler);
  void onState(StateHandler handler);

  /// Connects and registers; returns once registered. Throws ConnectError (a wrong key, say).
  void start();
  void close();

  /// ss_msg_push: resolves with how many of the clients the gate reached.
  std::future<std::int64_t> push(const std::vector<std::int64_t>& clientIds, const std::string& cmd,
                                 json data = json::object());
  /// ss_msg_kick: sc_msg_kicked {reason} to the client, then the gate closes it.
  std::future<void> kick(std::int64_t clientId, const std::string& reason);
  /// ss_msg_user_login / ss_msg_user_logout: bind or unbind a user on a connection. The gate
  /// stamps `username` (6 to 16 letters and digits) as userName on the client's requests until
  /// it is unbound.
  std::future<void> bindUser(std::int64_t clientId, std::int64_t userId, const std::string& token = "",
                             const std::string& username = "");
  std::future<void> unbindUser(std::int64_t clientId, std::int64_t userId);
  /// ss_msg_key_claim: claims `key` (1 to 256 characters) in this service's key space (its
  /// type) for this instance, so that requests routed by that key come here until it is released
  /// or this link goes away. Resolves true when claimed (or already held here), false when
  /// another instance holds it (or this link holds the most keys allowed); throws ResponseError
  /// for any other answer (BAD_REQUEST, SERVER_OFF, a timeout). `notify` is pushed when the key
  /// is lost with this instance.
  std::future<bool> claimKey(const std::string& key, std::optional<KeyNotify> notify = std::nullopt);
  /// ss_msg_key_notify: adds and removes clientIds told when a claimed key is lost.
  std::future<void> notifyKey(const std::string& key, const std::vector<std::int64_t>& add,
                              const std::vector<std::int64_t>& remove = {});
  /// ss_msg_key_release: releases a key this instance claimed; resolves whether it held it.
  std::future<bool> releaseKey(const std::string& key);
  /// Any request through the gate (another service's command, say).
  std::future<Response> request(const std::string& cmd, json data = json::object(), int timeoutMs = 0);

  /// The gate's id of this link (0 before registration), and how many times it registered.
  std::int64_t clientId() const;
  int registrations() const;
  ConnectionState state() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace gatehouse
