// The JSON envelope of wire protocol v1 (shared/PROTOCOL.md section 2): a validator whose errors
// are the same sentences as shared/envelope.ts, and builders. Header-only; needs nlohmann/json.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gatehouse/state.hpp"

namespace gatehouse {

using json = nlohmann::json;

inline constexpr std::size_t kMaxCmdLength = 64;
inline constexpr std::size_t kMaxMsgLength = 1024;
inline constexpr int kMaxJsonDepth = 128;
/// The largest msgId: 2^53 - 1.
inline constexpr std::uint64_t kMaxMsgId = 9007199254740991ull;

/// Which of the three an envelope is.
enum class EnvelopeKind { Request, Response, Push };

/// The outcome of parsing an envelope. On success `value` is the envelope object with its
/// defaults filled in (data {} when absent; msg "" on a non-OK response without one) and msgId
/// as an integer. On failure `error` is one sentence, and `msgId`/`cmd` are what could still be
/// read so that the request can be answered.
struct EnvelopeResult {
  bool ok = false;
  EnvelopeKind kind = EnvelopeKind::Request;
  json value;
  std::string error;
  std::optional<std::uint64_t> msgId;
  std::optional<std::string> cmd;
};

/// Length of UTF-8 text in UTF-16 code units, as JavaScript's string.length counts.
inline std::size_t utf16Length(std::string_view s) {
  std::size_t units = 0;
  for (std::size_t i = 0; i < s.size(); i++) {
    const auto c = static_cast<std::uint8_t>(s[i]);
    if ((c & 0xc0) == 0x80) continue;  // continuation byte
    units += c >= 0xf0 ? 2 : 1;
  }
  return units;
}

/// Whether `cmd` is 1 to 64 of A-Z a-z 0-9 _ . : -
inline bool isCommandName(std::string_view cmd) {
  if (cmd.empty() || cmd.size() > kMaxCmdLength) return false;
  for (char c : cmd) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

/// Whether JSON text nests arrays and objects deeper than `limit` (brackets in strings do not
/// count).
inline bool nestsDeeperThan(std::string_view text, int limit) {
  if (text.size() <= static_cast<std::size_t>(limit)) return false;
  int depth = 0;
  bool inString = false;
  for (std::size_t i = 0; i < text.size(); i++) {
    const char c = text[i];
    if (inString) {
      if (c == '\\') i++;
      else if (c == '"') inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return false;
}

namespace detail {
/// A JSON number that is an integer from 1 to 2^53 - 1 (1.0 counts).
inline std::optional<std::uint64_t> asMsgId(const json& v) {
  if (v.is_number_unsigned()) {
    const auto n = v.get<std::uint64_t>();
    if (n >= 1 && n <= kMaxMsgId) return n;
    return std::nullopt;
  }
  if (v.is_number_integer()) {
    const auto n = v.get<std::int64_t>();
    if (n >= 1 && static_cast<std::uint64_t>(n) <= kMaxMsgId) return static_cast<std::uint64_t>(n);
    return std::nullopt;
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d >= 1 && d <= 9007199254740991.0 && std::floor(d) == d) {
      return static_cast<std::uint64_t>(d);
    }
  }
  return std::nullopt;
}

inline std::optional<long long> asStateCode(const json& v) {
  if (!v.is_number()) return std::nullopt;
  const double d = v.get<double>();
  if (!std::isfinite(d) || std::floor(d) != d) return std::nullopt;
  const auto n = static_cast<long long>(d);
  if (!isStateCode(n)) return std::nullopt;
  return n;
}

inline bool isTrue(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}
}  // namespace detail

/// Checks a parsed JSON value (filling in its defaults); see EnvelopeResult.
inline EnvelopeResult validateEnvelope(json value) {
  EnvelopeResult r;
  if (!value.is_object()) {
    r.error = "The envelope must be a JSON object";
    return r;
  }
  const auto cmdIt = value.find("cmd");
  if (const auto it = value.find("msgId"); it != value.end()) r.msgId = detail::asMsgId(*it);
  if (cmdIt != value.end() && cmdIt->is_string() && isCommandName(cmdIt->get<std::string>())) {
    r.cmd = cmdIt->get<std::string>();
  }
  auto fail = [&](std::string error) {
    r.error = std::move(error);
    return r;
  };
  if (cmdIt == value.end() || !cmdIt->is_string()) return fail("Field cmd is missing or not a string");
  if (!r.cmd) return fail("Field cmd must be 1 to 64 letters, digits, '_', '.', ':' or '-'");
  const bool req = detail::isTrue(value, "is_req");
  const bool resp = detail::isTrue(value, "is_resp");
  const bool push = detail::isTrue(value, "is_push");
  if (int(req) + int(resp) + int(push) != 1) {
    return fail("Exactly one of is_req, is_resp and is_push must be true");
  }
  if (const auto it = value.find("time"); it != value.end()) {
    if (!it->is_number() || !std::isfinite(it->get<double>())) {
      return fail("Field time must be a number of milliseconds");
    }
  }
  if (value.find("data") == value.end()) value["data"] = json::object();
  if (push) {
    r.ok = true;
    r.kind = EnvelopeKind::Push;
    r.value = std::move(value);
    return r;
  }
  if (!r.msgId) return fail("Field msgId must be a positive integer");
  value["msgId"] = *r.msgId;
  if (resp) {
    const auto stateIt = value.find("state");
    const auto state = stateIt == value.end() ? std::nullopt : detail::asStateCode(*stateIt);
    if (!state) return fail("Field state must be a known state code");
    value["state"] = *state;
    const auto msgIt = value.find("msg");
    if (msgIt != value.end() && !msgIt->is_string()) return fail("Field msg must be a string");
    if (msgIt != value.end() && utf16Length(msgIt->get_ref<const std::string&>()) > kMaxMsgLength) {
      return fail("Field msg must be at most 1024 characters");
    }
    if (*state != State::OK && msgIt == value.end()) value["msg"] = "";
    r.kind = EnvelopeKind::Response;
  } else {
    r.kind = EnvelopeKind::Request;
  }
  r.ok = true;
  r.value = std::move(value);
  return r;
}

/// Parses envelope text (UTF-8) and validates it, with the same sentences as shared/envelope.ts.
inline EnvelopeResult parseEnvelope(std::string_view text) {
  json value;
  try {
    value = json::parse(text.begin(), text.end());
  } catch (const json::exception&) {
    EnvelopeResult r;
    r.error = "The message is not valid JSON";
    return r;
  }
  EnvelopeResult r = validateEnvelope(std::move(value));
  if (nestsDeeperThan(text, kMaxJsonDepth)) {
    r.ok = false;
    r.value = json();
    r.error = "The message nests arrays and objects deeper than 128 levels";
  }
  return r;
}

/// Builds a request envelope.
inline json makeRequest(const std::string& cmd, std::uint64_t msgId, json data = json::object(),
                        std::int64_t timeMs = 0) {
  json j = {{"cmd", cmd}, {"is_req", true}, {"msgId", msgId}, {"data", std::move(data)}};
  if (timeMs) j["time"] = timeMs;
  return j;
}

/// Builds a response envelope: msg only when state is not OK.
inline json makeResponse(const std::string& cmd, std::uint64_t msgId, int state, std::string msg,
                         json data = json::object(), std::int64_t timeMs = 0) {
  json j = {{"cmd", cmd}, {"is_resp", true}, {"msgId", msgId}, {"state", state},
            {"data", std::move(data)}};
  if (state != State::OK) j["msg"] = std::move(msg);
  if (timeMs) j["time"] = timeMs;
  return j;
}

/// Serialises an envelope as compact UTF-8 JSON (invalid UTF-8 in strings is replaced).
inline std::string dumpEnvelope(const json& envelope) {
  return envelope.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace gatehouse
