// The message-type table (shared/PROTOCOL.md section 3): name <-> number, loadable from the same
// JSON file as the license server's --types. Header-only; needs nlohmann/json.
#pragma once

#include <array>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace gatehouse {

/// A name <-> number table of the ten message types.
class MessageTypes {
 public:
  static constexpr std::size_t kCount = 10;
  static constexpr std::array<const char*, kCount> kNames = {
      "HeartbeatReq", "HeartbeatRsp",    "LoginReq",        "LoginRsp", "LogoutReq",
      "LogoutRsp",    "GetDogStatusReq", "GetDogStatusRsp", "Envelope", "Error"};
  static constexpr std::array<std::uint32_t, kCount> kDefaults = {1, 2, 3, 4, 5, 6, 7, 8, 100, 255};

  MessageTypes() : numbers_(kDefaults) {}

  /// The number of a name; throws std::invalid_argument for a name the protocol does not know.
  std::uint32_t number(const std::string& name) const { return numbers_[indexOf(name)]; }

  /// The name of a number, or nothing when the table does not know it.
  std::optional<std::string> name(std::uint32_t number) const {
    for (std::size_t i = 0; i < kCount; i++) {
      if (numbers_[i] == number) return std::string(kNames[i]);
    }
    return std::nullopt;
  }

  /// Sets one number; throws std::invalid_argument when it clashes with another name's.
  void set(const std::string& name, std::uint32_t number) {
    const auto index = indexOf(name);
    for (std::size_t i = 0; i < kCount; i++) {
      if (i != index && numbers_[i] == number) {
        throw std::invalid_argument(std::string("Message types ") + kNames[i] + " and " + name +
                                    " share the number " + std::to_string(number));
      }
    }
    numbers_[index] = number;
  }

  /// A table from JSON text: an object of name -> number; names left out keep their default.
  /// Throws std::invalid_argument with a sentence naming the fault.
  static MessageTypes fromJson(const std::string& text) {
    nlohmann::json value;
    try {
      value = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
      throw std::invalid_argument("The message-type file is not valid JSON");
    }
    if (!value.is_object()) {
      throw std::invalid_argument("The message-type file must hold a JSON object of name to number");
    }
    std::array<std::uint32_t, kCount> numbers = kDefaults;
    for (auto& [key, v] : value.items()) {
      const auto index = indexOf(key);
      const bool ok = (v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0)) &&
                      v.get<std::uint64_t>() <= 0xffffffffull;
      if (!ok) throw std::invalid_argument("Message type " + key + " must be an unsigned 32-bit integer");
      numbers[index] = static_cast<std::uint32_t>(v.get<std::uint64_t>());
    }
    for (std::size_t i = 0; i < kCount; i++) {
      for (std::size_t j = i + 1; j < kCount; j++) {
        if (numbers[i] == numbers[j]) {
          throw std::invalid_argument(std::string("Message types ") + kNames[i] + " and " + kNames[j] +
                                      " share the number " + std::to_string(numbers[i]));
        }
      }
    }
    MessageTypes t;
    t.numbers_ = numbers;
    return t;
  }

  /// A table from a JSON file; throws std::invalid_argument when it cannot be read or is invalid.
  static MessageTypes fromFile(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::invalid_argument("The message-type file " + path + " cannot be read");
    std::stringstream ss;
    ss << in.rdbuf();
    return fromJson(ss.str());
  }

 private:
  static std::size_t indexOf(const std::string& name) {
    for (std::size_t i = 0; i < kCount; i++) {
      if (name == kNames[i]) return i;
    }
    throw std::invalid_argument("Message type \"" + name + "\" is not one the protocol knows");
  }

  std::array<std::uint32_t, kCount> numbers_;
};

}  // namespace gatehouse
