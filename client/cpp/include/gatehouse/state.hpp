// State codes of every response (shared/PROTOCOL.md section 2, "State codes").
#pragma once

#include <string>

namespace gatehouse {

/// The state codes of wire protocol v1.
namespace State {
inline constexpr int OK = 1;
inline constexpr int FAIL = 0;
inline constexpr int UNDEFINED_CMD = 1001;
inline constexpr int SERVER_BUSY = 1002;
inline constexpr int SERVER_OFF = 1003;
inline constexpr int TIMEOUT = 1004;
inline constexpr int RATE_LIMITED = 1005;
inline constexpr int BAD_REQUEST = 1006;
inline constexpr int NOT_LOGGED_IN = 1007;
inline constexpr int FORBIDDEN = 1008;
}  // namespace State

/// Whether a number is one of the protocol's state codes.
inline bool isStateCode(long long code) {
  return code == 0 || code == 1 || (code >= 1001 && code <= 1008);
}

/// The name of a state code, or UNKNOWN(<code>).
inline std::string stateName(int code) {
  switch (code) {
    case 1: return "OK";
    case 0: return "FAIL";
    case 1001: return "UNDEFINED_CMD";
    case 1002: return "SERVER_BUSY";
    case 1003: return "SERVER_OFF";
    case 1004: return "TIMEOUT";
    case 1005: return "RATE_LIMITED";
    case 1006: return "BAD_REQUEST";
    case 1007: return "NOT_LOGGED_IN";
    case 1008: return "FORBIDDEN";
  }
  return "UNKNOWN(" + std::to_string(code) + ")";
}

}  // namespace gatehouse
