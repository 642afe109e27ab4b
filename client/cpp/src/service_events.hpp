// Internal: reads the gate's events to a service (ss_msg_client_leave, ss_msg_user_bind,
// ss_msg_gate_down) and checks the routes it declares, by the rules of shared/key_routes.ts. An
// event whose data is malformed reads as nothing: the service ignores it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "gatehouse/service_client.hpp"

namespace gatehouse::detail {

/// The largest integer a JSON number holds exactly (2^53 - 1): the gate's ids stay below it.
inline constexpr std::int64_t kMaxSafeInteger = 9007199254740991;

/// data.<key> when it is an integer from `min` to 2^53 - 1, else nothing.
inline std::optional<std::int64_t> safeInteger(const json& data, const char* key, std::int64_t min) {
  const auto it = data.find(key);
  if (it == data.end()) return std::nullopt;
  std::int64_t n;
  if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(kMaxSafeInteger)) return std::nullopt;
    n = static_cast<std::int64_t>(u);
  } else if (it->is_number_integer()) {
    n = it->get<std::int64_t>();
  } else {
    return std::nullopt;
  }
  if (n < min || n > kMaxSafeInteger) return std::nullopt;
  return n;
}

/// A client event: who it is about.
struct ClientEvent {
  std::int64_t clientId = 0;
  std::int64_t userId = 0;
};

/// {clientId, userId} of a client event, the user at least `minUserId`.
inline std::optional<ClientEvent> readClientEvent(const json& data, std::int64_t minUserId) {
  if (!data.is_object()) return std::nullopt;
  const auto clientId = safeInteger(data, "clientId", 1);
  const auto userId = safeInteger(data, "userId", minUserId);
  if (!clientId || !userId) return std::nullopt;
  return ClientEvent{*clientId, *userId};
}

/// ss_msg_client_leave {clientId, userId} (userId 0 when none was bound).
inline std::optional<ClientEvent> parseClientLeave(const json& data) { return readClientEvent(data, 0); }

/// ss_msg_user_bind and ss_msg_user_unbind {clientId, userId} (a user is always positive).
inline std::optional<ClientEvent> parseUserBind(const json& data) { return readClientEvent(data, 1); }

/// ss_msg_gate_down {gate, fromClientId, toClientId}, the range not reversed.
inline std::optional<GateDown> parseGateDown(const json& data) {
  if (!data.is_object()) return std::nullopt;
  const auto gate = safeInteger(data, "gate", 0);
  const auto from = safeInteger(data, "fromClientId", 0);
  const auto to = safeInteger(data, "toClientId", 0);
  if (!gate || !from || !to || *from > *to) return std::nullopt;
  return GateDown{*gate, *from, *to};
}

/// Whether `field` may name a route's field: 1 to 64 letters, digits or '_', not starting with a
/// digit (ROUTE_FIELD_PATTERN of shared/key_routes.ts).
inline bool isRouteField(const std::string& field) {
  if (field.empty() || field.size() > 64) return false;
  for (std::size_t i = 0; i < field.size(); i++) {
    const char c = field[i];
    const bool letter = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!letter && !(digit && i > 0)) return false;
  }
  return true;
}

/// Why `route` of `cmd` is malformed, in the gate's sentence, or nothing for a good one.
inline std::optional<std::string> routeError(const std::string& cmd, const Route& route) {
  if (isRouteField(route.field)) return std::nullopt;
  return "Route of " + cmd +
         " must be {by: field} or {gather: field}, the field 1 to 64 letters, digits or '_', not starting with a digit";
}

}  // namespace gatehouse::detail
