// What a ServiceClient reads from the gate's events, and the routes it lets a service declare.
#include <gtest/gtest.h>

#include "gatehouse/service_client.hpp"
#include "service_events.hpp"

using gatehouse::json;
using gatehouse::Route;
using gatehouse::ServiceClient;
using gatehouse::ServiceClientOptions;
using gatehouse::ServiceRequest;
namespace detail = gatehouse::detail;

TEST(ServiceEvents, ReadsGateDown) {
  // As cluster mode sends it: gate 2's range of clientIds (2 × 2^32 on).
  const auto down = detail::parseGateDown(json::parse(R"({"gate":2,"fromClientId":8589934592,"toClientId":8590983168})"));
  ASSERT_TRUE(down.has_value());
  EXPECT_EQ(down->gate, 2);
  EXPECT_EQ(down->fromClientId, 8589934592);
  EXPECT_EQ(down->toClientId, 8590983168);
}

TEST(ServiceEvents, IgnoresAMalformedGateDown) {
  const char* bad[] = {
      R"([])",
      R"("down")",
      R"({})",
      R"({"gate":2,"fromClientId":10})",
      R"({"gate":"2","fromClientId":10,"toClientId":20})",
      R"({"gate":2,"fromClientId":10.5,"toClientId":20})",
      R"({"gate":-1,"fromClientId":10,"toClientId":20})",
      R"({"gate":2,"fromClientId":20,"toClientId":10})",
      R"({"gate":2,"fromClientId":10,"toClientId":18446744073709551615})",
      R"({"gate":2,"fromClientId":10,"toClientId":9007199254740992})",
      R"({"gate":null,"fromClientId":10,"toClientId":20})",
  };
  for (const char* text : bad) EXPECT_FALSE(detail::parseGateDown(json::parse(text)).has_value()) << text;
}

TEST(ServiceEvents, ReadsUserBindAndClientLeave) {
  const auto bind = detail::parseUserBind(json::parse(R"({"clientId":7,"userId":42})"));
  ASSERT_TRUE(bind.has_value());
  EXPECT_EQ(bind->clientId, 7);
  EXPECT_EQ(bind->userId, 42);
  // A leave names userId 0 when no user was bound; a bind always names a user.
  const auto leave = detail::parseClientLeave(json::parse(R"({"clientId":7,"userId":0})"));
  ASSERT_TRUE(leave.has_value());
  EXPECT_EQ(leave->userId, 0);
  EXPECT_FALSE(detail::parseUserBind(json::parse(R"({"clientId":7,"userId":0})")).has_value());
  const char* bad[] = {R"(null)", R"({"clientId":7})", R"({"clientId":"7","userId":1})", R"({"clientId":0,"userId":1})",
                       R"({"clientId":7,"userId":-3})", R"({"clientId":7,"userId":true})"};
  for (const char* text : bad) {
    EXPECT_FALSE(detail::parseUserBind(json::parse(text)).has_value()) << text;
    EXPECT_FALSE(detail::parseClientLeave(json::parse(text)).has_value()) << text;
  }
}

TEST(ServiceRoutes, SaysRoutesAsRegistrationCarriesThem) {
  EXPECT_EQ(Route::by("groupId").toJson(), json::parse(R"({"by":"groupId"})"));
  EXPECT_EQ(Route::gather("groups").toJson(), json::parse(R"({"gather":"groups"})"));
}

TEST(ServiceRoutes, RefusesAFieldTheGateWouldRefuseWithItsSentence) {
  ServiceClientOptions options;
  options.addresses = {"tcp://127.0.0.1:9"};
  options.name = "routes-test";
  ServiceClient service(options);
  const auto handler = [](const ServiceRequest&) { return json::object(); };
  for (const std::string& field : std::vector<std::string>{"", "1abc", "group-id", "a.b", std::string(65, 'a')}) {
    try {
      service.handle("room_join", handler, Route::by(field));
      ADD_FAILURE() << "route field '" << field << "' was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_STREQ(e.what(),
                   "Route of room_join must be {by: field} or {gather: field}, the field 1 to 64 letters, digits or '_', "
                   "not starting with a digit");
    }
  }
  EXPECT_NO_THROW(service.handle("room_join", handler, Route::by("_room9")));
  EXPECT_NO_THROW(service.handle("room_list", handler, Route::gather(std::string(64, 'z'))));
  EXPECT_NO_THROW(service.handle("room_info", handler));
}
