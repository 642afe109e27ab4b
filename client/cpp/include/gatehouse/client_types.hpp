// What GateClient and ServiceClient share: options, the response type, errors, states.
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gatehouse/frame.hpp"
#include "gatehouse/state.hpp"

namespace gatehouse {

using json = nlohmann::json;

/// Options of a connection to the gate. Every duration is in milliseconds.
struct ChannelOptions {
  /// Gate addresses, tcp://host:port or tls://host:port, tried in turn after each lost
  /// connection or failed attempt.
  std::vector<std::string> addresses;
  /// Heartbeat interval; the gate closes a client silent for 3 of its own intervals (10 000),
  /// and the client drops a gate silent for 3 of these.
  int heartbeatMs = 5000;
  /// Default request timeout.
  int requestTimeoutMs = 10000;
  /// Reconnect after a lost connection.
  bool reconnect = true;
  /// Shortest and longest reconnect delay (exponential, with jitter: each delay is drawn
  /// between half and all of its step).
  int backoffMinMs = 100;
  int backoffMaxMs = 5000;
  /// One connection attempt (TCP and TLS handshake).
  int connectTimeoutMs = 5000;
  /// How long connect()/start() wait to be connected (and registered, logged in again).
  int startWaitMs = 10000;
  /// TLS: a PEM file of trusted certificates (the system's when empty), and whether to verify
  /// the gate's certificate and host name.
  std::string tlsCaFile;
  bool tlsVerify = true;
  /// Largest frame accepted from the gate.
  std::uint32_t maxFrameBytes = kDefaultMaxFrameBytes;
};

/// How a request ended.
enum class Outcome {
  Answered,        ///< a response came (see state)
  TimedOut,        ///< no response within the timeout (state TIMEOUT)
  ConnectionLost,  ///< the connection closed after it was sent (state SERVER_OFF)
  Closed,          ///< the client was closed first (state SERVER_OFF)
};

/// A response, or the local outcome standing in for one.
struct Response {
  std::string cmd;
  int state = State::FAIL;
  std::string msg;
  json data = json::object();
  Outcome outcome = Outcome::Answered;
  /// Whether the gate or service answered OK.
  bool ok() const { return outcome == Outcome::Answered && state == State::OK; }
};

/// A response that was not OK, thrown by the helpers that return typed results.
class ResponseError : public std::runtime_error {
 public:
  explicit ResponseError(const Response& r)
      : std::runtime_error(r.msg.empty() ? stateName(r.state) : r.msg),
        state_(r.state),
        outcome_(r.outcome) {}
  int state() const { return state_; }
  Outcome outcome() const { return outcome_; }

 private:
  int state_;
  Outcome outcome_;
};

/// connect()/start() did not succeed.
class ConnectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The state of the connection to the gate.
enum class ConnectionState { Connecting, Connected, Disconnected, Closed };

/// Hears every state change, with a sentence (why it was lost, say).
using StateHandler = std::function<void(ConnectionState, const std::string&)>;
/// Hears a push: its data and the whole envelope.
using PushHandler = std::function<void(const json& data, const json& envelope)>;
/// Hears the answer to a request.
using ResponseHandler = std::function<void(Response)>;

}  // namespace gatehouse
