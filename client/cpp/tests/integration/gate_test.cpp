// GateClient and ServiceClient against the real Deno gate and services, on loopback.
#include <algorithm>
#include <atomic>
#include <future>

#include <gtest/gtest.h>

#include "gatehouse/gate_client.hpp"
#include "gatehouse/service_client.hpp"
#include "harness.hpp"

using namespace gatehouse;
using harness::eventually;

namespace {

GateClientOptions clientOptions(const std::string& url) {
  GateClientOptions o;
  o.addresses = {url};
  o.reconnect = false;
  o.requestTimeoutMs = 30000;  // generous: sanitizer builds on a busy machine are slow
  return o;
}

// A deferred future (the typed helpers') runs its request's own timeout in get().
template <class T>
T get(std::future<T> f, int ms = 15000) {
  if (f.wait_for(std::chrono::milliseconds(ms)) == std::future_status::timeout) throw std::runtime_error("future timed out");
  return f.get();
}

void getVoid(std::future<void> f, int ms = 15000) {
  if (f.wait_for(std::chrono::milliseconds(ms)) == std::future_status::timeout) throw std::runtime_error("future timed out");
  f.get();
}

const std::string kPassword = "secret123";

ServiceClientOptions serviceOptions(const harness::Gate& gate, const std::string& name, const std::string& type = "") {
  ServiceClientOptions o;
  o.addresses = {gate.tcpUrl};
  o.sskey = harness::kServiceKey;
  o.name = name;
  o.type = type;
  o.requestTimeoutMs = 30000;
  return o;
}

/// One instance of a keyed C++ service: cpp_room routed by roomId, cpp_rooms gathered.
struct RoomInstance {
  explicit RoomInstance(const harness::Gate& gate, const std::string& name)
      : service(serviceOptions(gate, name, "cpp-rooms")) {
    service
        .handle(
            "cpp_room",
            [name](const ServiceRequest& req) {
              return json{{"instance", name}, {"roomId", req.data.value("roomId", json())}, {"clientId", req.clientId}};
            },
            Route::by("roomId"))
        .handle(
            "cpp_rooms", [name](const ServiceRequest&) { return json{{"rooms", {name}}}; }, Route::gather("rooms"));
    service.start();
  }
  ServiceClient service;
};

}  // namespace

TEST(GateIntegration, EchoOverTcp) {
  auto gate = harness::startGate();
  auto echo = harness::startService("echo", gate);
  GateClient client(clientOptions(gate.tcpUrl));
  client.connect();
  EXPECT_EQ(client.state(), ConnectionState::Connected);
  const auto heart = get(client.request("cs_msg_heart"));
  EXPECT_TRUE(heart.ok());
  EXPECT_TRUE(heart.data["time"].is_number());
  const auto r = get(client.request("echo", {{"text", "héllo 😀"}, {"n", 9007199254740991ull}}));
  ASSERT_TRUE(r.ok()) << r.msg;
  EXPECT_EQ(r.data["data"]["text"], "héllo 😀");
  EXPECT_EQ(r.data["data"]["n"], 9007199254740991ull);
  EXPECT_GT(r.data["clientId"].get<std::int64_t>(), 0);
  EXPECT_EQ(r.data["userId"], 0);
  EXPECT_EQ(r.data["isServiceLink"], false);
  const auto unknown = get(client.request("no_such_cmd"));
  EXPECT_EQ(unknown.state, State::UNDEFINED_CMD);
  EXPECT_EQ(unknown.msg, "No service has registered no_such_cmd");
  const auto forbidden = get(client.request("ss_msg_push", {{"clientIds", {1}}, {"cmd", "x"}}));
  EXPECT_EQ(forbidden.state, State::UNDEFINED_CMD);
  // A push the echo service sends back to this client.
  std::promise<json> pushed;
  client.on("sc_msg_echo", [&](const json& data, const json&) { pushed.set_value(data); });
  EXPECT_TRUE(get(client.request("echo_push", {{"data", {{"x", 1}}}})).ok());
  auto pushedData = pushed.get_future();
  ASSERT_EQ(pushedData.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(pushedData.get()["x"], 1);
  // A request the service does not answer in time times out on the client's side.
  const auto late = get(client.request("echo_sleep", {{"ms", 2000}}, 200));
  EXPECT_EQ(late.outcome, Outcome::TimedOut);
  EXPECT_EQ(late.state, State::TIMEOUT);
  client.close();
  EXPECT_EQ(client.state(), ConnectionState::Closed);
  const auto afterClose = get(client.request("echo"), 1000);
  EXPECT_EQ(afterClose.outcome, Outcome::Closed);
}

TEST(GateIntegration, EchoOverTls) {
  const auto dir = harness::tempDir("gatehouse_cpp_tls_");
  if (!harness::makeCertificate(dir)) GTEST_SKIP() << "openssl is not installed, so no test certificate can be made";
  auto gate = harness::startGate({"--cert", dir + "/cert.pem", "--key", dir + "/key.pem"});
  ASSERT_EQ(gate.tcpUrl.rfind("tls://", 0), 0u) << gate.tcpUrl;
  auto env = harness::serviceEnv();
  env["DENO_CERT"] = dir + "/ca.pem";
  auto echo = harness::startService("echo", gate, {}, env);
  auto options = clientOptions(gate.tcpUrl);
  options.tlsCaFile = dir + "/ca.pem";
  GateClient client(options);
  client.connect();
  const auto r = get(client.request("echo", {{"text", "over tls"}}));
  ASSERT_TRUE(r.ok()) << r.msg;
  EXPECT_EQ(r.data["data"]["text"], "over tls");
  client.close();
  // A client that does not trust the certificate is refused by TLS.
  GateClient untrusted(clientOptions(gate.tcpUrl));
  EXPECT_THROW(untrusted.connect(), ConnectError);
}

TEST(GateIntegration, AccountsKickTokensAndLogout) {
  auto gate = harness::startGate();
  auto login = harness::startService("login", gate, {"--hash-cost", "test"});
  auto echo = harness::startService("echo", gate);
  const std::string name = harness::uniqueName("cpp");

  GateClient first(clientOptions(gate.tcpUrl));
  first.connect();
  const auto userId = get(first.registerAccount(name, kPassword));
  EXPECT_GT(userId, 0);
  try {
    get(first.registerAccount(name, kPassword));
    ADD_FAILURE() << "a second register of the same name was accepted";
  } catch (const ResponseError& e) {
    EXPECT_EQ(e.state(), State::FAIL);
    EXPECT_EQ(std::string(e.what()), "Username " + name + " is taken");
  }
  try {
    get(first.login(name, "wrongpass1"));
    ADD_FAILURE();
  } catch (const ResponseError& e) {
    EXPECT_EQ(std::string(e.what()), "The username or password is wrong");
  }
  const auto info = get(first.login(name, kPassword));
  EXPECT_EQ(info.userId, userId);
  EXPECT_EQ(info.token.size(), 43u);
  EXPECT_EQ(first.userId(), userId);
  EXPECT_EQ(get(first.requestOk("echo"))["userId"], userId);

  // A second session of the account kicks the first.
  std::promise<json> kicked;
  first.on("sc_msg_kicked", [&](const json& data, const json&) { kicked.set_value(data); });
  GateClient second(clientOptions(gate.tcpUrl));
  second.connect();
  const auto info2 = get(second.login(name, kPassword));
  auto kickedData = kicked.get_future();
  ASSERT_EQ(kickedData.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(kickedData.get()["reason"].is_string());
  EXPECT_TRUE(eventually([&] { return first.token().empty(); }));
  EXPECT_EQ(get(first.requestOk("echo"))["userId"], 0);
  EXPECT_EQ(get(second.requestOk("echo"))["userId"], userId);

  // Login by token on a third connection.
  GateClient third(clientOptions(gate.tcpUrl));
  third.connect();
  const auto byToken = get(third.loginByToken(info2.token));
  EXPECT_EQ(byToken.userId, userId);
  EXPECT_EQ(byToken.username, name);
  EXPECT_EQ(get(third.requestOk("echo"))["userId"], userId);

  // Logout revokes the token.
  getVoid(third.logout());
  EXPECT_TRUE(third.token().empty());
  EXPECT_EQ(get(third.requestOk("echo"))["userId"], 0);
  GateClient fourth(clientOptions(gate.tcpUrl));
  fourth.connect();
  try {
    get(fourth.loginByToken(info2.token));
    ADD_FAILURE() << "a revoked token logged in";
  } catch (const ResponseError& e) {
    EXPECT_EQ(e.state(), State::FAIL);
    EXPECT_EQ(std::string(e.what()), "The token is not valid or has expired");
  }

  // Change the password, then delete the account.
  get(fourth.login(name, kPassword));
  const auto changed = get(fourth.changePassword(kPassword, "newsecret1"));
  EXPECT_EQ(fourth.token(), changed.token);
  try {
    getVoid(fourth.deleteAccount(kPassword));
    ADD_FAILURE();
  } catch (const ResponseError& e) {
    EXPECT_EQ(std::string(e.what()), "The password is wrong");
  }
  getVoid(fourth.deleteAccount("newsecret1"));
  try {
    get(fourth.login(name, "newsecret1"));
    ADD_FAILURE();
  } catch (const ResponseError& e) {
    EXPECT_EQ(e.state(), State::FAIL);
  }
  try {
    getVoid(fourth.logout());
    ADD_FAILURE();
  } catch (const ResponseError& e) {
    EXPECT_EQ(e.state(), State::NOT_LOGGED_IN);
  }
}

TEST(GateIntegration, CppServiceServesTypeScriptClient) {
  auto gate = harness::startGate();
  ServiceClientOptions options;
  options.addresses = {gate.tcpUrl};
  options.sskey = harness::kServiceKey;
  options.name = "cpp-service";
  ServiceClient service(options);
  std::mutex mutex;
  std::vector<std::pair<std::int64_t, std::int64_t>> leaves;
  service
      .handle("cpp_echo",
              [](const ServiceRequest& req) {
                return json{{"data", req.data}, {"clientId", req.clientId}, {"userId", req.userId}, {"from", "c++"}};
              })
      .handle("cpp_fail", [](const ServiceRequest&) -> json { throw ServiceError(State::FORBIDDEN, "Not for you"); })
      .handleAsync("cpp_push",
                   [&service](const ServiceRequest& req, Responder responder) {
                     // Answer from another thread, after pushing to the sender.
                     std::thread([&service, req, responder] {
                       const auto reached = service.push({req.clientId}, "sc_msg_cpp", {{"hello", req.clientId}}).get();
                       responder.ok({{"reached", reached}});
                     }).detach();
                   })
      .onClientLeave([&](std::int64_t clientId, std::int64_t userId) {
        std::lock_guard<std::mutex> lock(mutex);
        leaves.emplace_back(clientId, userId);
      });
  service.start();
  EXPECT_GT(service.clientId(), 0);
  EXPECT_EQ(service.registrations(), 1);

  auto runTs = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"deno", "run", "--allow-all", "client/cpp/tests/integration/ts_peer.ts", "client",
                                     gate.wsUrl};
    argv.insert(argv.end(), args.begin(), args.end());
    harness::Process ts("ts-client", argv);
    const auto m = ts.waitForLine("^RESULT (.*)$");
    EXPECT_EQ(ts.wait(10000), 0);
    return json::parse(m[1]);
  };
  const auto r = runTs({"cpp_echo", R"({"text":"from ts"})"});
  EXPECT_EQ(r["state"], State::OK);
  EXPECT_EQ(r["data"]["data"]["text"], "from ts");
  EXPECT_EQ(r["data"]["from"], "c++");
  const auto tsClientId = r["data"]["clientId"].get<std::int64_t>();
  EXPECT_GT(tsClientId, 0);
  const auto failed = runTs({"cpp_fail", "{}"});
  EXPECT_EQ(failed["state"], State::FORBIDDEN);
  EXPECT_EQ(failed["msg"], "Not for you");
  const auto pushed = runTs({"cpp_push", "{}", "wait-push"});
  EXPECT_EQ(pushed["state"], State::OK);
  EXPECT_EQ(pushed["data"]["reached"], 1);
  EXPECT_TRUE(pushed["push"].is_object()) << pushed.dump();
  // The TypeScript clients left: the service heard it.
  EXPECT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    for (const auto& [c, u] : leaves) {
      if (c == tsClientId) return true;
    }
    return false;
  }));
  // A wrong key is refused at start.
  auto wrong = options;
  wrong.sskey = "wrong";
  ServiceClient refused(wrong);
  refused.handle("x_cmd", [](const ServiceRequest&) { return json::object(); });
  try {
    refused.start();
    ADD_FAILURE() << "a wrong service key was accepted";
  } catch (const ConnectError& e) {
    EXPECT_NE(std::string(e.what()).find("The service key is wrong"), std::string::npos) << e.what();
  }
}

TEST(GateIntegration, TypeScriptServiceServesCppClient) {
  auto gate = harness::startGate();
  harness::Process ts("ts-service", {"deno", "run", "--allow-all", "client/cpp/tests/integration/ts_peer.ts", "service", gate.wsUrl},
                      harness::serviceEnv());
  ts.waitForLine("ts-peer registered");
  GateClient client(clientOptions(gate.tcpUrl));
  client.connect();
  const auto r = get(client.request("ts_echo", {{"list", {1, 2, 3}}}));
  ASSERT_TRUE(r.ok()) << r.msg;
  EXPECT_EQ(r.data["from"], "typescript");
  EXPECT_EQ(r.data["data"]["list"], json({1, 2, 3}));
  EXPECT_GT(r.data["clientId"].get<std::int64_t>(), 0);
}

TEST(GateIntegration, GateRestartedUnderConnectedClients) {
  const int port = harness::freePort();
  const int tcpPort = harness::freePort();
  const auto dataDir = harness::tempDir();
  auto gate = harness::startGate({}, port, tcpPort, dataDir);
  auto login = harness::startService("login", gate, {"--hash-cost", "test"});
  auto echo = harness::startService("echo", gate);

  ServiceClientOptions serviceOptions;
  serviceOptions.addresses = {gate.tcpUrl};
  serviceOptions.sskey = harness::kServiceKey;
  serviceOptions.name = "cpp-restart";
  serviceOptions.backoffMaxMs = 500;
  ServiceClient service(serviceOptions);
  service.handle("cpp_where", [](const ServiceRequest& req) { return json{{"userId", req.userId}}; })
      .handle("cpp_keyed", [](const ServiceRequest&) { return json::object(); }, Route::by("roomId"));
  service.start();

  GateClientOptions options;
  // The first address is dead: the client moves on to the next one.
  options.addresses = {"tcp://127.0.0.1:" + std::to_string(harness::freePort()), gate.tcpUrl};
  options.heartbeatMs = 300;
  options.backoffMinMs = 50;
  options.backoffMaxMs = 500;
  GateClient client(options);
  std::atomic<int> disconnects{0};
  client.onState([&](ConnectionState s, const std::string&) {
    if (s == ConnectionState::Disconnected) disconnects++;
  });
  client.connect();
  EXPECT_EQ(client.address(), gate.tcpUrl);
  const auto name = harness::uniqueName("rst");
  get(client.registerAccount(name, kPassword));
  const auto info = get(client.login(name, kPassword));
  EXPECT_EQ(get(client.requestOk("echo"))["userId"], info.userId);
  const int connectsBefore = client.connects();

  const auto loginLines = login->lineCount();
  EXPECT_EQ(gate.process->stop(), 0);
  EXPECT_TRUE(eventually([&] { return client.state() != ConnectionState::Connected; }, 5000));
  auto again = harness::startGate({}, port, tcpPort, dataDir);
  login->waitForLine("registered again", 30000, loginLines);
  // The client reconnects and logs in again by token by itself.
  EXPECT_TRUE(eventually([&] { return client.connects() > connectsBefore && client.userId() == info.userId; }, 30000))
      << "connects " << client.connects() << " userId " << client.userId();
  EXPECT_TRUE(eventually(
      [&] {
        const auto r = client.request("echo").get();
        return r.ok() && r.data["userId"] == info.userId;
      },
      15000));
  EXPECT_EQ(client.token(), info.token);
  EXPECT_GE(disconnects.load(), 1);
  // The C++ service registered again and serves the same client.
  EXPECT_TRUE(eventually([&] { return service.registrations() >= 2; }, 15000));
  const auto where = get(client.request("cpp_where"));
  ASSERT_TRUE(where.ok()) << where.msg;
  EXPECT_EQ(where.data["userId"], info.userId);
  // It declared its route again: another instance must declare the same one to join it.
  auto unrouted = serviceOptions;
  unrouted.name = "cpp-restart-2";
  unrouted.type = "cpp-restart";
  ServiceClient conflicting(unrouted);
  conflicting.handle("cpp_keyed", [](const ServiceRequest&) { return json::object(); });
  try {
    conflicting.start();
    ADD_FAILURE() << "an instance without the route joined one with it";
  } catch (const ConnectError& e) {
    EXPECT_NE(std::string(e.what()).find("Command cpp_keyed is routed by field roomId in key space cpp-restart by the "
                                         "links that serve it: every instance must declare the same route"),
              std::string::npos)
        << e.what();
  }
  ServiceClient second(unrouted);
  second.handle("cpp_keyed", [](const ServiceRequest&) { return json::object(); }, Route::by("roomId"));
  EXPECT_NO_THROW(second.start());
}

#ifdef GATEHOUSE_CHAT
TEST(GateIntegration, ExampleChatLogsInJoinsAGroupAndChats) {
  auto gate = harness::startGate();
  auto login = harness::startService("login", gate, {"--hash-cost", "test"});
  auto group = harness::startService("group", gate);
  // A member already in the group hears what the example says.
  GateClient member(clientOptions(gate.tcpUrl));
  member.connect();
  const auto name = harness::uniqueName("mem");
  get(member.registerAccount(name, kPassword));
  get(member.login(name, kPassword));
  get(member.requestOk("cs_msg_group_create", {{"groupId", "lobby"}, {"key", "letmein"}}));
  std::promise<json> said;
  member.on("sc_msg_group_msg", [&](const json& data, const json&) { said.set_value(data); });
  harness::Process chat("chat", {GATEHOUSE_CHAT, "--gate", gate.tcpUrl, "--user", harness::uniqueName("chat"), "--password",
                                 kPassword, "--register", "--group", "lobby", "--key", "letmein", "--say", "hello from c++",
                                 "--wait-ms", "300"});
  chat.waitForLine("joined group lobby \\(2 members\\)");
  auto message = said.get_future();
  ASSERT_EQ(message.wait_for(std::chrono::seconds(15)), std::future_status::ready) << chat.output();
  EXPECT_EQ(message.get()["data"]["text"], "hello from c++");
  EXPECT_EQ(chat.wait(15000), 0) << chat.output();
}
#endif

TEST(GateIntegration, HeartbeatKeepsAnIdleClientConnected) {
  // The gate closes a client silent for 3 of its intervals (900 ms here); the client's own
  // heartbeat every 200 ms keeps it on the same connection for 2.5 s.
  auto gate = harness::startGate({"--heartbeat-ms", "300"});
  auto options = clientOptions(gate.tcpUrl);
  options.heartbeatMs = 200;
  GateClient client(options);
  client.connect();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  EXPECT_EQ(client.state(), ConnectionState::Connected);
  EXPECT_EQ(client.connects(), 1);
  EXPECT_TRUE(get(client.request("cs_msg_heart")).ok());
  // A client that does not heartbeat is closed by the gate.
  auto quiet = clientOptions(gate.tcpUrl);
  quiet.heartbeatMs = 60000;
  GateClient silent(quiet);
  std::promise<std::string> lost;
  std::atomic<bool> once{false};
  silent.onState([&](ConnectionState s, const std::string& why) {
    if (s == ConnectionState::Disconnected && !once.exchange(true)) lost.set_value(why);
  });
  silent.connect();
  auto why = lost.get_future();
  ASSERT_EQ(why.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(why.get(), "Nothing received for 900 ms (3 heartbeat intervals)");
}

TEST(GateIntegration, CppInstancesServeTheKeysTheyClaim) {
  auto gate = harness::startGate();
  RoomInstance a(gate, "cpp-rooms-a");
  RoomInstance b(gate, "cpp-rooms-b");
  GateClient client(clientOptions(gate.tcpUrl));
  client.connect();
  std::promise<json> gone;
  client.on("sc_msg_room_gone", [&](const json& data, const json&) { gone.set_value(data); });

  // One claim of a key succeeds: the other instance's answers false; the owner's again true.
  KeyNotify notify;
  notify.cmd = "sc_msg_room_gone";
  notify.data = {{"roomId", "room-a"}};
  EXPECT_TRUE(get(a.service.claimKey("room-a", notify)));
  EXPECT_TRUE(get(b.service.claimKey("room-b")));
  EXPECT_FALSE(get(b.service.claimKey("room-a")));
  EXPECT_TRUE(get(a.service.claimKey("room-a")));
  try {
    get(a.service.claimKey(""));
    ADD_FAILURE() << "an empty key was claimed";
  } catch (const ResponseError& e) {
    EXPECT_EQ(e.state(), State::BAD_REQUEST);
    EXPECT_STREQ(e.what(), "Field key must be a string of 1 to 256 characters");
  }

  // Requests with each key reach the instance that claimed it, every time.
  auto room = [&](const std::string& roomId) {
    const auto r = get(client.request("cpp_room", {{"roomId", roomId}}));
    if (!r.ok()) throw std::runtime_error("cpp_room " + roomId + " answered " + r.msg);
    EXPECT_EQ(r.data["roomId"], roomId);
    return r.data;
  };
  for (int i = 0; i < 6; i++) {
    EXPECT_EQ(room("room-a")["instance"], "cpp-rooms-a");
    EXPECT_EQ(room("room-b")["instance"], "cpp-rooms-b");
  }
  // A key no instance claimed goes to either, as an unrouted request does.
  const auto unclaimed = room("room-z")["instance"].get<std::string>();
  EXPECT_TRUE(unclaimed == "cpp-rooms-a" || unclaimed == "cpp-rooms-b") << unclaimed;

  // A gathered command: both instances answer, their arrays joined.
  const auto all = get(client.request("cpp_rooms"));
  ASSERT_TRUE(all.ok()) << all.msg;
  auto rooms = all.data["rooms"].get<std::vector<std::string>>();
  std::sort(rooms.begin(), rooms.end());
  EXPECT_EQ(rooms, (std::vector<std::string>{"cpp-rooms-a", "cpp-rooms-b"}));

  // Who hears that room-a is lost: its owner may add the client, the other instance may not.
  const auto clientId = room("room-a")["clientId"].get<std::int64_t>();
  getVoid(a.service.notifyKey("room-a", {clientId}));
  try {
    getVoid(b.service.notifyKey("room-a", {clientId}));
    ADD_FAILURE() << "an instance changed who hears of a key it does not hold";
  } catch (const ResponseError& e) {
    EXPECT_EQ(e.state(), State::FAIL);
    EXPECT_STREQ(e.what(), "This link does not hold key room-a");
  }

  // A released key is free for the other instance, and its requests follow it.
  EXPECT_TRUE(get(b.service.releaseKey("room-b")));
  EXPECT_FALSE(get(b.service.releaseKey("room-b")));
  EXPECT_TRUE(get(a.service.claimKey("room-b")));
  for (int i = 0; i < 4; i++) EXPECT_EQ(room("room-b")["instance"], "cpp-rooms-a");

  // Instance a goes away holding room-a and room-b: the gate tells the client, and the keys are
  // free for b.
  a.service.close();
  auto goneData = gone.get_future();
  ASSERT_EQ(goneData.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(goneData.get(), json({{"roomId", "room-a"}}));
  EXPECT_TRUE(eventually([&] { return get(b.service.claimKey("room-a")); }));
  for (int i = 0; i < 4; i++) EXPECT_EQ(room("room-a")["instance"], "cpp-rooms-b");
}

TEST(GateIntegration, CppServiceAnswerOverTheGatesLimitIsRefusedNotTheLink) {
  auto gate = harness::startGate({"--max-message-bytes", "65536"});
  auto options = serviceOptions(gate, "cpp-big");
  options.maxMessageBytes = 65536;
  ServiceClient service(options);
  std::atomic<int> drops{0};
  service.onState([&](ConnectionState state, const std::string&) {
    if (state == ConnectionState::Disconnected) drops++;
  });
  service.handle("cpp_big", [](const ServiceRequest& req) {
    return json{{"blob", std::string(req.data.value("bytes", 0), 'x')}};
  });
  service.start();
  GateClient client(clientOptions(gate.tcpUrl));
  client.connect();

  const auto big = get(client.request("cpp_big", json{{"bytes", 100000}}));
  EXPECT_EQ(big.state, State::FAIL) << big.msg;
  EXPECT_EQ(big.msg, "The answer to cpp_big is over the gate's limit of 65504 bytes");
  // The link was not dropped: the next answer comes on it.
  const auto small = get(client.request("cpp_big", json{{"bytes", 1000}}));
  EXPECT_TRUE(small.ok()) << small.msg;
  EXPECT_EQ(small.data["blob"].get<std::string>().size(), 1000u);
  EXPECT_EQ(drops.load(), 0) << "the gate dropped the service's link";
}

TEST(GateIntegration, CppServiceHearsBindsAndStampedUserNames) {
  auto gate = harness::startGate();
  ServiceClient service(serviceOptions(gate, "cpp-who"));
  std::mutex mutex;
  std::vector<std::pair<std::int64_t, std::int64_t>> binds;
  std::vector<std::pair<std::int64_t, std::int64_t>> unbinds;
  service
      .handle("cpp_who",
              [](const ServiceRequest& req) {
                return json{{"clientId", req.clientId},
                            {"userId", req.userId},
                            {"userName", req.userName.empty() ? json() : json(req.userName)}};
              })
      .onUserBind([&](std::int64_t clientId, std::int64_t userId) {
        std::lock_guard<std::mutex> lock(mutex);
        binds.emplace_back(clientId, userId);
      })
      .onUserUnbind([&](std::int64_t clientId, std::int64_t userId) {
        std::lock_guard<std::mutex> lock(mutex);
        unbinds.emplace_back(clientId, userId);
      });
  service.start();
  // Another link binds users, as the login service does.
  ServiceClient binder(serviceOptions(gate, "cpp-binder"));
  binder.handle("cpp_binder_idle", [](const ServiceRequest&) { return json::object(); });
  binder.start();

  GateClient client(clientOptions(gate.tcpUrl));
  client.connect();
  const auto before = get(client.requestOk("cpp_who"));
  const auto clientId = before["clientId"].get<std::int64_t>();
  EXPECT_EQ(before["userId"], 0);
  EXPECT_TRUE(before["userName"].is_null());

  getVoid(binder.bindUser(clientId, 4242, "", "Alice123"));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return binds == std::vector<std::pair<std::int64_t, std::int64_t>>{{clientId, 4242}};
  })) << binds.size() << " binds heard";
  const auto after = get(client.requestOk("cpp_who"));
  EXPECT_EQ(after["userId"], 4242);
  EXPECT_EQ(after["userName"], "Alice123");

  // A binding without a username: the gate stamps none.
  getVoid(binder.unbindUser(clientId, 4242));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return unbinds == std::vector<std::pair<std::int64_t, std::int64_t>>{{clientId, 4242}};
  })) << unbinds.size() << " unbinds heard";
  getVoid(binder.bindUser(clientId, 4343));
  const auto unnamed = get(client.requestOk("cpp_who"));
  EXPECT_EQ(unnamed["userId"], 4343);
  EXPECT_TRUE(unnamed["userName"].is_null()) << unnamed.dump();
  EXPECT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return binds.size() == 2 && binds[1] == std::make_pair(clientId, std::int64_t(4343));
  }));
  // A bind of another user on the same client ends the first binding: its unbind is heard first.
  getVoid(binder.bindUser(clientId, 4444));
  EXPECT_TRUE(eventually([&] {
    std::lock_guard<std::mutex> lock(mutex);
    return unbinds.size() == 2 && unbinds[1] == std::make_pair(clientId, std::int64_t(4343)) &&
           binds.size() == 3 && binds[2] == std::make_pair(clientId, std::int64_t(4444));
  })) << unbinds.size() << " unbinds, " << binds.size() << " binds heard";
}

TEST(GateIntegration, CppServiceHearsAGateOfItsClusterGoDown) {
  if (!harness::run("command -v nats-server >/dev/null 2>&1")) {
    GTEST_SKIP() << "nats-server is not installed (apt-get install nats-server), so no cluster can be made";
  }
  const auto natsPort = std::to_string(harness::freePort());
  harness::Process nats("nats-server", {"nats-server", "-a", "127.0.0.1", "-p", natsPort, "-js", "-sd",
                                        harness::tempDir("gatehouse_cpp_nats_")});
  nats.waitForLine("Server is ready");
  const std::string natsUrl = "nats://127.0.0.1:" + natsPort;
  auto gateA = harness::startGate({"--cluster", natsUrl, "--gate-id", "cpp-a"});
  auto gateB = harness::startGate({"--cluster", natsUrl, "--gate-id", "cpp-b"});

  ServiceClient service(serviceOptions(gateA, "cpp-downs"));
  std::mutex mutex;
  std::vector<GateDown> downs;
  service.handle("cpp_where", [](const ServiceRequest& req) { return json{{"clientId", req.clientId}}; })
      .onClientLeave([](std::int64_t, std::int64_t) {})
      .onGateDown([&](const GateDown& down) {
        std::lock_guard<std::mutex> lock(mutex);
        downs.push_back(down);
      });
  service.start();

  // A client of gate B reaches the service on gate A across the cluster.
  GateClient client(clientOptions(gateB.tcpUrl));
  client.connect();
  std::int64_t clientId = 0;
  ASSERT_TRUE(eventually(
      [&] {
        const auto r = client.request("cpp_where").get();
        if (r.ok()) clientId = r.data["clientId"].get<std::int64_t>();
        return r.ok();
      },
      30000));

  // Gate B stops: the service hears that its range of clientIds, the client's among them, left.
  EXPECT_EQ(gateB.process->stop(), 0);
  EXPECT_TRUE(eventually(
      [&] {
        std::lock_guard<std::mutex> lock(mutex);
        for (const auto& d : downs) {
          if (d.fromClientId <= clientId && clientId < d.toClientId) return true;
        }
        return false;
      },
      30000))
      << "client " << clientId << ", " << downs.size() << " gate downs heard\n"
      << gateA.process->output();
}
