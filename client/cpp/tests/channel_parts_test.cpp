// Internal parts of the clients: address parsing and the reconnect backoff.
#include <set>

#include <gtest/gtest.h>

#include "framed_conn.hpp"

using gatehouse::detail::Backoff;
using gatehouse::detail::parseEndpoint;

TEST(Endpoint, ParsesTcpTlsAndBareAddresses) {
  auto ep = parseEndpoint("tcp://127.0.0.1:8081");
  EXPECT_EQ(ep.host, "127.0.0.1");
  EXPECT_EQ(ep.port, "8081");
  EXPECT_FALSE(ep.tls);
  ep = parseEndpoint("tls://gate.example:443/");
  EXPECT_EQ(ep.host, "gate.example");
  EXPECT_TRUE(ep.tls);
  ep = parseEndpoint("[::1]:9000");
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.port, "9000");
}

TEST(Endpoint, RefusesWhatItCannotUseWithASentence) {
  try {
    parseEndpoint("ws://127.0.0.1:8080/ws");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "Address ws://127.0.0.1:8080/ws must start with tcp:// or tls:// (the C++ clients speak framed TCP)");
  }
  EXPECT_THROW(parseEndpoint("tcp://127.0.0.1"), std::invalid_argument);
  EXPECT_THROW(parseEndpoint("tcp://127.0.0.1:80a"), std::invalid_argument);
  EXPECT_THROW(parseEndpoint("tcp://:80"), std::invalid_argument);
}

TEST(Backoff, DoublesWithJitterUpToTheMaximum) {
  Backoff backoff(100, 1000);
  const int steps[] = {100, 200, 400, 800, 1000, 1000};
  for (int step : steps) {
    const int delay = backoff.next();
    EXPECT_GE(delay, step / 2);
    EXPECT_LE(delay, step);
  }
  backoff.reset();
  EXPECT_LE(backoff.next(), 100);
}

TEST(Backoff, DelaysAreSpread) {
  std::set<int> seen;
  for (int i = 0; i < 50; i++) {
    Backoff backoff(1000, 1000);
    seen.insert(backoff.next());
  }
  EXPECT_GT(seen.size(), 10u);
}
