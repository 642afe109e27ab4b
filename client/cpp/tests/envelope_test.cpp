// The envelope validator against shared/testdata/envelopes.json, and the message-type table.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "gatehouse/envelope.hpp"
#include "gatehouse/message_types.hpp"

using gatehouse::json;

namespace {

const json& vectors() {
  static const json v = [] {
    std::ifstream in(GATEHOUSE_TESTDATA "/envelopes.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str());
  }();
  return v;
}

const char* kindName(gatehouse::EnvelopeKind kind) {
  switch (kind) {
    case gatehouse::EnvelopeKind::Request: return "request";
    case gatehouse::EnvelopeKind::Response: return "response";
    case gatehouse::EnvelopeKind::Push: return "push";
  }
  return "?";
}

}  // namespace

TEST(EnvelopeVectors, AcceptEachGoodVector) {
  ASSERT_GE(vectors()["good"].size(), 20u);
  for (const auto& v : vectors()["good"]) {
    const auto r = gatehouse::parseEnvelope(v["text"].get<std::string>());
    ASSERT_TRUE(r.ok) << v["name"] << ": " << r.error;
    EXPECT_EQ(r.value, v["envelope"]) << v["name"];
    EXPECT_EQ(kindName(r.kind), v["kind"].get<std::string>()) << v["name"];
  }
}

TEST(EnvelopeVectors, RefuseEachBadVectorWithItsSentence) {
  ASSERT_GE(vectors()["bad"].size(), 30u);
  for (const auto& v : vectors()["bad"]) {
    const auto r = gatehouse::parseEnvelope(v["text"].get<std::string>());
    EXPECT_FALSE(r.ok) << v["name"];
    EXPECT_EQ(r.error, v["error"].get<std::string>()) << v["name"];
    if (v.contains("msgId")) {
      ASSERT_TRUE(r.msgId.has_value()) << v["name"];
      EXPECT_EQ(*r.msgId, v["msgId"].get<std::uint64_t>()) << v["name"];
    } else {
      EXPECT_FALSE(r.msgId.has_value()) << v["name"];
    }
    if (v.contains("cmd")) {
      ASSERT_TRUE(r.cmd.has_value()) << v["name"];
      EXPECT_EQ(*r.cmd, v["cmd"].get<std::string>()) << v["name"];
    } else {
      EXPECT_FALSE(r.cmd.has_value()) << v["name"];
    }
  }
}

TEST(Envelope, InvalidUtf8TextIsNotJson) {
  const auto r = gatehouse::parseEnvelope("{\"cmd\":\"\x80\",\"is_req\":true,\"msgId\":1}");
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error, "The message is not valid JSON");
}

TEST(Envelope, BuildersMakeValidEnvelopes) {
  const auto req = gatehouse::makeRequest("echo", 7, {{"text", "hi"}}, 1700000000000);
  auto r = gatehouse::parseEnvelope(req.dump());
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.kind, gatehouse::EnvelopeKind::Request);
  const auto rsp = gatehouse::makeResponse("echo", 7, gatehouse::State::FAIL, "No");
  r = gatehouse::parseEnvelope(rsp.dump());
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(r.value["msg"], "No");
  EXPECT_FALSE(gatehouse::makeResponse("echo", 7, gatehouse::State::OK, "x").contains("msg"));
}

TEST(Envelope, Utf16LengthCountsAsJavaScript) {
  EXPECT_EQ(gatehouse::utf16Length("abc"), 3u);
  EXPECT_EQ(gatehouse::utf16Length("é⏱"), 2u);
  EXPECT_EQ(gatehouse::utf16Length("😀"), 2u);
}

TEST(MessageTypes, DefaultsAndRenumbering) {
  gatehouse::MessageTypes types;
  EXPECT_EQ(types.number("Envelope"), 100u);
  EXPECT_EQ(types.name(255), std::optional<std::string>("Error"));
  const auto renumbered = gatehouse::MessageTypes::fromJson(R"({"HeartbeatReq": 11, "HeartbeatRsp": 12})");
  EXPECT_EQ(renumbered.number("HeartbeatReq"), 11u);
  EXPECT_EQ(renumbered.number("LoginReq"), 3u);
  EXPECT_FALSE(renumbered.name(1).has_value());
  try {
    gatehouse::MessageTypes::fromJson(R"({"Nope": 1})");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "Message type \"Nope\" is not one the protocol knows");
  }
  EXPECT_THROW(gatehouse::MessageTypes::fromJson(R"({"LoginReq": 1})"), std::invalid_argument);
  EXPECT_THROW(gatehouse::MessageTypes::fromJson(R"({"LoginReq": -1})"), std::invalid_argument);
  EXPECT_THROW(gatehouse::MessageTypes::fromJson("[]"), std::invalid_argument);
}
