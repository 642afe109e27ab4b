// GateClient and ServiceClient against the real Deno gate and services, on loopback.
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

template <class T>
T get(std::future<T> f, int ms = 15000) {
  if (f.wait_for(std::chrono::milliseconds(ms)) != std::future_status::ready) throw std::runtime_error("future timed out");
  return f.get();
}

void getVoid(std::future<void> f, int ms = 15000) {
  if (f.wait_for(std::chrono::milliseconds(ms)) != std::future_status::ready) throw std::runtime_error("future timed out");
  f.get();
}

const std::string kPassword = "secret123";

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
  service.handle("cpp_where", [](const ServiceRequest& req) { return json{{"userId", req.userId}}; });
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
