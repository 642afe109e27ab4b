// ServiceClient: a C++ backend service behind the Gatehouse gate, over framed TCP or TLS.
//
// It registers its commands with ss_reg_api and the service key at every connect (so after a
// reconnect too), answers the requests the gate forwards, pushes to clients, kicks and binds
// users, and hears ss_msg_client_leave events.
//
// Thread model: as GateClient: one io thread per ServiceClient, started by start() and joined by
// close() or the destructor. Handlers run on the io thread, one at a time; a Responder may be
// used from any thread, once. Never wait on a future of this client inside its handlers.
#pragma once

#include <cstdint>
#include <functional>
#include <future>
#include <memory>
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
};

/// A request the gate forwarded, with the sender fields the gate stamped (a service may trust
/// them).
struct ServiceRequest {
  std::string cmd;
  json data;
  std::int64_t clientId = 0;   ///< the sender's connection
  std::int64_t userId = 0;     ///< the user bound to it, 0 when none
  bool isServiceLink = false;  ///< whether the sender is a service
  std::string clientAddr;      ///< the sender's address as the gate saw it, when it says
  json envelope;               ///< the whole request
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

  /// Serves `cmd` (call before start(); after it, the service registers again).
  ServiceClient& handle(const std::string& cmd, Handler handler);
  ServiceClient& handleAsync(const std::string& cmd, AsyncHandler handler);
  /// Hears every client (or service link) that leaves the gate: its clientId and userId.
  ServiceClient& onClientLeave(std::function<void(std::int64_t clientId, std::int64_t userId)> handler);
  void onState(StateHandler handler);

  /// Connects and registers; returns once registered. Throws ConnectError (a wrong key, say).
  void start();
  void close();

  /// ss_msg_push: resolves with how many of the clients the gate reached.
  std::future<std::int64_t> push(const std::vector<std::int64_t>& clientIds, const std::string& cmd,
                                 json data = json::object());
  /// ss_msg_kick: sc_msg_kicked {reason} to the client, then the gate closes it.
  std::future<void> kick(std::int64_t clientId, const std::string& reason);
  /// ss_msg_user_login / ss_msg_user_logout: bind or unbind a user on a connection.
  std::future<void> bindUser(std::int64_t clientId, std::int64_t userId, const std::string& token = "");
  std::future<void> unbindUser(std::int64_t clientId, std::int64_t userId);
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
