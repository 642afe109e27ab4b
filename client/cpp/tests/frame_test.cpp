// The frame codec against shared/testdata/frames.json: every vector, every split point.
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "gatehouse/frame.hpp"

using gatehouse::Frame;
using gatehouse::FrameDecoder;
using gatehouse::FrameError;
using nlohmann::json;

namespace {

json loadVectors() {
  std::ifstream in(GATEHOUSE_TESTDATA "/frames.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

const json& vectors() {
  static const json v = loadVectors();
  return v;
}

std::string fromHex(const std::string& hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string toHex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

void expectFrame(const Frame& frame, const json& vector) {
  const std::string name = vector["name"];
  EXPECT_EQ(frame.seq, vector["seq"].get<std::uint32_t>()) << name;
  EXPECT_EQ(frame.type, vector["type"].get<std::uint32_t>()) << name;
  EXPECT_EQ(frame.body, vector["body"].get<std::string>()) << name;
  EXPECT_EQ(toHex(frame.binary), vector["binaryHex"].get<std::string>()) << name;
}

}  // namespace

TEST(FrameVectors, ArePresent) {
  EXPECT_GE(vectors()["good"].size(), 7u);
  EXPECT_GE(vectors()["bad"].size(), 4u);
  EXPECT_GE(vectors()["badText"].size(), 5u);
}

TEST(FrameVectors, EncodeGivesExactlyEachGoodVector) {
  for (const auto& v : vectors()["good"]) {
    const auto bytes = gatehouse::encodeFrame(v["seq"], v["type"], v["body"].get<std::string>(),
                                              fromHex(v["binaryHex"]));
    EXPECT_EQ(toHex(bytes), v["hex"].get<std::string>()) << v["name"];
  }
}

TEST(FrameVectors, DecodeEachGoodVectorSplitAtEveryPoint) {
  for (const auto& v : vectors()["good"]) {
    const std::string bytes = fromHex(v["hex"]);
    expectFrame(gatehouse::decodeFrame(bytes), v);
    for (std::size_t split = 0; split <= bytes.size(); split++) {
      FrameDecoder decoder;
      auto first = decoder.push(bytes.data(), split);
      auto second = decoder.push(bytes.data() + split, bytes.size() - split);
      first.insert(first.end(), second.begin(), second.end());
      ASSERT_EQ(first.size(), 1u) << v["name"] << " split at " << split;
      expectFrame(first[0], v);
      EXPECT_EQ(decoder.bufferedBytes(), 0u);
    }
  }
}

TEST(FrameVectors, DecodeEachGoodVectorByteByByte) {
  for (const auto& v : vectors()["good"]) {
    const std::string bytes = fromHex(v["hex"]);
    FrameDecoder decoder;
    std::vector<Frame> frames;
    for (std::size_t i = 0; i < bytes.size(); i++) {
      auto got = decoder.push(bytes.data() + i, 1);
      EXPECT_EQ(got.size(), i + 1 == bytes.size() ? 1u : 0u);
      frames.insert(frames.end(), got.begin(), got.end());
    }
    ASSERT_EQ(frames.size(), 1u);
    expectFrame(frames[0], v);
  }
}

TEST(FrameVectors, DecodeTheStreamOfAllGoodFramesSplitAtEveryPoint) {
  std::string stream;
  for (const auto& v : vectors()["good"]) stream += fromHex(v["hex"]);
  const auto& good = vectors()["good"];
  for (std::size_t split = 0; split <= stream.size(); split++) {
    FrameDecoder decoder;
    auto frames = decoder.push(stream.data(), split);
    auto rest = decoder.push(stream.data() + split, stream.size() - split);
    frames.insert(frames.end(), rest.begin(), rest.end());
    ASSERT_EQ(frames.size(), good.size()) << "split at " << split;
    for (std::size_t i = 0; i < frames.size(); i++) expectFrame(frames[i], good[i]);
  }
}

TEST(FrameVectors, RefuseEachBadHeaderAsSoonAsItIsWhole) {
  for (const auto& v : vectors()["bad"]) {
    const std::string bytes = fromHex(v["hex"]);
    const std::string fault = v["fault"];
    const std::uint32_t max = v["maxFrameBytes"];
    // Every split of the header: no fault before the 32nd byte, the fault at it.
    for (std::size_t split = 0; split < gatehouse::kFrameHeaderBytes; split++) {
      FrameDecoder decoder(max);
      EXPECT_TRUE(decoder.push(bytes.data(), split).empty());
      try {
        decoder.push(bytes.data() + split, gatehouse::kFrameHeaderBytes - split);
        ADD_FAILURE() << v["name"] << ": no fault at split " << split;
      } catch (const FrameError& error) {
        EXPECT_EQ(gatehouse::frameFaultName(error.fault()), fault) << v["name"];
        EXPECT_LE(decoder.bufferedBytes(), gatehouse::kFrameHeaderBytes);
      }
      // The stream stays refused.
      EXPECT_THROW(decoder.push("x", 1), FrameError);
    }
    try {
      gatehouse::readFrameHeader(reinterpret_cast<const std::uint8_t*>(bytes.data()), max);
      ADD_FAILURE() << v["name"];
    } catch (const FrameError& error) {
      EXPECT_EQ(gatehouse::frameFaultName(error.fault()), fault) << v["name"];
    }
  }
}

TEST(FrameVectors, GoodFramesBeforeABadHeaderAreHandedBack) {
  const auto& good = vectors()["good"];
  for (const auto& bad : vectors()["bad"]) {
    if (bad["maxFrameBytes"].get<std::uint32_t>() < gatehouse::kDefaultMaxFrameBytes) continue;
    const std::string stream = fromHex(good[1]["hex"]) + fromHex(good[2]["hex"]) + fromHex(bad["hex"]);
    FrameDecoder decoder;
    try {
      decoder.push(stream);
      ADD_FAILURE() << bad["name"];
    } catch (const FrameError& error) {
      ASSERT_EQ(error.framesBefore.size(), 2u) << bad["name"];
      expectFrame(error.framesBefore[0], good[1]);
      expectFrame(error.framesBefore[1], good[2]);
    }
  }
}

TEST(FrameVectors, BadTextDecodesButIsNotUtf8) {
  for (const auto& v : vectors()["badText"]) {
    const auto frame = gatehouse::decodeFrame(fromHex(v["hex"]));
    EXPECT_EQ(frame.seq, v["seq"].get<std::uint32_t>());
    EXPECT_EQ(frame.type, v["type"].get<std::uint32_t>());
    EXPECT_EQ(toHex(frame.body), v["bodyHex"].get<std::string>());
    EXPECT_FALSE(gatehouse::isValidUtf8(frame.body)) << v["name"];
  }
  for (const auto& v : vectors()["good"]) {
    EXPECT_TRUE(gatehouse::isValidUtf8(v["body"].get<std::string>())) << v["name"];
  }
}

TEST(Frame, DecodeFrameRefusesALengthThatDoesNotMatch) {
  const auto bytes = gatehouse::encodeFrame(1, 100, "{}");
  EXPECT_THROW(gatehouse::decodeFrame(bytes + "x"), FrameError);
  EXPECT_THROW(gatehouse::decodeFrame(bytes.substr(0, 20)), FrameError);
}
