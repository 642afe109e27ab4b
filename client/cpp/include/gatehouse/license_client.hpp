// The client of the Gatehouse LAN license server, as the shared library libgatehouse_license.so
// with the original engine's interface:
//
//   gatehouse::LicenseClient client;
//   gatehouse::ClientConfig cfg;           // host, port, instanceId, user, reconnect…
//   gatehouse::MessageType_t types;        // the default table, or loadMessageTypes("types.json")
//   client.start(cfg, types, [](int status) { /* a LicenseStatus code */ });
//   client.sendLoginReq();                 // answered through the callback: LICENSE_LICENSED…
//   client.stop();                         // gives the seat back, closes
//
// This header includes no Asio and no JSON header: the implementation is hidden behind a
// pointer (PIMPL), and the library exports only the symbols marked GATEHOUSE_LICENSE_API.
//
// Thread model: start() starts one thread of the library (the io thread); stop() and the
// destructor end it. Every method may be called from any thread. The callback runs on the io
// thread, one call at a time; the accessors (lastMessage(), seatsLeft(), dogStatus()…) read
// the state of the latest events and may be called from the callback. Calling stop() from
// inside the callback is allowed (the thread is then joined by the destructor). The callback is
// called until stop() returns (it hears LICENSE_STOPPED last), so whatever it uses must outlive
// the client or its stop().
//
// Behaviour (as client/license_client.ts): the client heartbeats on the server's interval
// (told in LoginRsp; cfg.heartbeatMs until then), answers the server's heartbeats, and drops a
// server silent for 3 intervals (LICENSE_LOST). With cfg.reconnect it connects again with
// exponential backoff and jitter, and when it held or wanted a seat it logs in again with the
// same instance id, which takes its own seat back.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gatehouse/license_export.hpp"

namespace gatehouse {

/// The client's configuration. Durations in milliseconds.
struct ClientConfig {
  std::string host = "127.0.0.1";  ///< the license server's address
  int port = 8090;                 ///< its port
  std::string instanceId;          ///< a stable id of this program instance; random when empty
  std::string hostName = "unknown";  ///< sent in LoginReq
  std::string user = "unknown";      ///< sent in LoginReq
  bool wait = false;               ///< queue the login when no seat is free
  int heartbeatMs = 5000;          ///< until the server tells its own interval
  bool reconnect = false;          ///< reconnect with backoff and log in again
  int reconnectMinMs = 100;
  int reconnectMaxMs = 5000;
  int connectTimeoutMs = 5000;
  int requestTimeoutMs = 10000;    ///< a waiting login has none
  std::uint32_t maxFrameBytes = 1024 * 1024;
};

/// The message-type numbers; must match the server's --types file.
struct MessageType_t {
  std::uint32_t HeartbeatReq = 1;
  std::uint32_t HeartbeatRsp = 2;
  std::uint32_t LoginReq = 3;
  std::uint32_t LoginRsp = 4;
  std::uint32_t LogoutReq = 5;
  std::uint32_t LogoutRsp = 6;
  std::uint32_t GetDogStatusReq = 7;
  std::uint32_t GetDogStatusRsp = 8;
  std::uint32_t Envelope = 100;
  std::uint32_t Error = 255;
};

/// Reads a --types file (a JSON object of name to number; names left out keep their default)
/// into `types`. Returns false, with a sentence in `error`, when it cannot.
GATEHOUSE_LICENSE_API bool loadMessageTypes(const std::string& path, MessageType_t& types, std::string* error = nullptr);

/// The status codes the callback of start() receives.
enum LicenseStatus : int {
  LICENSE_CONNECTED = 1,         ///< connected to the server
  LICENSE_LICENSED = 2,          ///< a seat is granted: seats(), seatsLeft(), heartbeatMs()
  LICENSE_QUEUED = 3,            ///< the login waits in the queue: queuePosition()
  LICENSE_REFUSED = 4,           ///< the login was refused: lastMessage() says why
  LICENSE_RELEASED = 5,          ///< the seat was given back (LogoutRsp OK): seatsLeft()
  LICENSE_LOST = 6,              ///< the connection was lost (a silent server too): lastMessage()
  LICENSE_RECONNECTING = 7,      ///< a reconnect attempt is scheduled: lastMessage()
  LICENSE_STOPPED = 8,           ///< stop() finished
  LICENSE_HEARTBEAT_OK = 9,      ///< the HeartbeatRsp to sendHeartbeatReq() came
  LICENSE_DOG_OK = 10,           ///< GetDogStatusRsp OK: dogStatus()
  LICENSE_DOG_FAIL = 11,         ///< GetDogStatusRsp not OK: dogStatus(), lastMessage()
  LICENSE_LOGOUT_FAILED = 12,    ///< LogoutRsp not OK: lastMessage()
  LICENSE_REQUEST_FAILED = 13,   ///< a request timed out or was answered by an Error frame
  LICENSE_CONNECT_FAILED = 14,   ///< a connection attempt failed: lastMessage()
  LICENSE_SERVER_HEARTBEAT = 15  ///< the server's HeartbeatReq came and was answered
};

/// The name of a status code ("LICENSE_LICENSED"…).
GATEHOUSE_LICENSE_API const char* licenseStatusName(int status);

/// What GetDogStatusRsp reported about the signed license file.
struct DogStatus {
  bool present = false;
  bool valid = false;
  bool expired = false;
  std::string customer;
  int seats = 0;
  std::string expiresAt;  ///< last day of validity, YYYY-MM-DD, in UTC
};

/// A client of the license server.
class GATEHOUSE_LICENSE_API LicenseClient {
 public:
  LicenseClient();
  ~LicenseClient();
  LicenseClient(const LicenseClient&) = delete;
  LicenseClient& operator=(const LicenseClient&) = delete;

  /// Connects. Returns 0 when connected; 1 when the first attempt failed and cfg.reconnect goes
  /// on trying; -1 for an invalid config or a client already started; -2 when the attempt
  /// failed without reconnect (lastMessage() says why). cfg.instanceId is filled in when empty.
  int start(ClientConfig& cfg, MessageType_t& messageTypes, std::function<void(int)> cb);
  /// Gives the seat back when licensed (waiting up to 1 s for the answer), closes, stops
  /// reconnecting; the callback hears LICENSE_STOPPED.
  void stop();

  /// Each sends its request and returns 0, or -1 when not connected; the answer comes through
  /// the callback.
  int sendHeartbeatReq();
  int sendLoginReq();
  int sendLogoutReq();
  int sendGetDogStatusReq();

  bool connected() const;
  bool licensed() const;
  std::string instanceId() const;
  /// The sentence of the latest refusal, loss or failure.
  std::string lastMessage() const;
  int seats() const;
  int seatsLeft() const;
  int heartbeatMs() const;
  int queuePosition() const;
  DogStatus dogStatus() const;
  /// How many HeartbeatReq of the server were answered, and HeartbeatRsp received.
  int serverHeartbeats() const;
  int heartbeatRsps() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace gatehouse
