// The license client library (libgatehouse_license.so) against the real Deno license server.
// This program links only the shared library: no Asio, no JSON.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <vector>

#include <gtest/gtest.h>

#include "gatehouse/license_client.hpp"
#include "harness.hpp"

using namespace gatehouse;

namespace {

/// Collects the statuses a callback hears.
// Declared before the clients it listens to: a client calls it until it is destroyed.
class Recorder {
 public:
  std::function<void(int)> callback() {
    return [this](int status) {
      std::lock_guard<std::mutex> lock(mutex_);
      statuses_.push_back(status);
      cv_.notify_all();
    };
  }
  /// Waits until `status` has been heard `times` times.
  bool waitFor(int status, int timeoutMs = 10000, int times = 1) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeoutMs),
                        [&] { return std::count(statuses_.begin(), statuses_.end(), status) >= times; });
  }
  int count(int status) {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(std::count(statuses_.begin(), statuses_.end(), status));
  }
  std::string history() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string out;
    for (int s : statuses_) out += std::string(licenseStatusName(s)) + " ";
    return out;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<int> statuses_;
};

/// A license server with a signed license of `seats` seats.
struct LicenseServer {
  std::string dataDir;
  std::unique_ptr<harness::Process> process;
  int port = 0;

  explicit LicenseServer(int seats, std::vector<std::string> flags = {}, int fixedPort = 0, std::string dir = "") {
    dataDir = dir.empty() ? harness::tempDir("gatehouse_cpp_license_") : dir;
    if (dir.empty()) {
      EXPECT_TRUE(harness::run("cd " + harness::root() + " && deno run --allow-all server/license/keygen.ts --data-dir " +
                               dataDir + " >/dev/null 2>&1"));
      EXPECT_TRUE(harness::run("cd " + harness::root() + " && deno run --allow-all server/license/issue.ts --data-dir " +
                               dataDir + " --customer Test --seats " + std::to_string(seats) +
                               " --expires 2099-12-31 >/dev/null 2>&1"));
    }
    start(flags, fixedPort);
  }

  void start(std::vector<std::string> flags, int fixedPort) {
    std::vector<std::string> args = {"deno", "run", "--allow-all", "server/license/main.ts", "--port",
                                     std::to_string(fixedPort), "--data-dir", dataDir};
    args.insert(args.end(), flags.begin(), flags.end());
    process = std::make_unique<harness::Process>("license", args);
    const auto m = process->waitForLine(R"(listening tcp=tcp://[^ ]+:(\d+))");
    port = std::stoi(m[1]);
  }
};

ClientConfig config(int port, const std::string& instance) {
  ClientConfig cfg;
  cfg.port = port;
  cfg.instanceId = instance;
  cfg.hostName = "test-host";
  cfg.user = "tester";
  return cfg;
}

}  // namespace

TEST(LicenseIntegration, SeatsGrantedAndRefusedAndTheDog) {
  LicenseServer server(2, {"--heartbeat-ms", "1000"});
  MessageType_t types;
  Recorder ra, rb, rc;
  LicenseClient a, b, c;
  auto ca = config(server.port, "inst-a"), cb = config(server.port, "inst-b"), cc = config(server.port, "inst-c");
  ASSERT_EQ(a.start(ca, types, ra.callback()), 0) << a.lastMessage();
  ASSERT_EQ(b.start(cb, types, rb.callback()), 0);
  ASSERT_EQ(c.start(cc, types, rc.callback()), 0);
  EXPECT_TRUE(ra.waitFor(LICENSE_CONNECTED));
  EXPECT_EQ(a.sendLoginReq(), 0);
  ASSERT_TRUE(ra.waitFor(LICENSE_LICENSED)) << ra.history() << a.lastMessage();
  EXPECT_TRUE(a.licensed());
  EXPECT_EQ(a.seats(), 2);
  EXPECT_EQ(a.seatsLeft(), 1);
  EXPECT_EQ(a.heartbeatMs(), 1000);
  b.sendLoginReq();
  ASSERT_TRUE(rb.waitFor(LICENSE_LICENSED)) << rb.history();
  EXPECT_EQ(b.seatsLeft(), 0);
  c.sendLoginReq();
  ASSERT_TRUE(rc.waitFor(LICENSE_REFUSED)) << rc.history();
  EXPECT_FALSE(c.licensed());
  EXPECT_EQ(c.lastMessage(), "All 2 seats are in use");

  EXPECT_EQ(c.sendGetDogStatusReq(), 0);
  ASSERT_TRUE(rc.waitFor(LICENSE_DOG_OK)) << rc.history();
  const auto dog = c.dogStatus();
  EXPECT_TRUE(dog.present);
  EXPECT_TRUE(dog.valid);
  EXPECT_FALSE(dog.expired);
  EXPECT_EQ(dog.customer, "Test");
  EXPECT_EQ(dog.seats, 2);
  EXPECT_EQ(dog.expiresAt, "2099-12-31");

  // The same instance id on a second connection takes the seat over; the first is dropped.
  Recorder ra2;
  LicenseClient a2;
  auto ca2 = config(server.port, "inst-a");
  ASSERT_EQ(a2.start(ca2, types, ra2.callback()), 0);
  a2.sendLoginReq();
  ASSERT_TRUE(ra2.waitFor(LICENSE_LICENSED)) << ra2.history();
  ASSERT_TRUE(ra.waitFor(LICENSE_LOST)) << ra.history();
  EXPECT_EQ(a.lastMessage(), "Instance inst-a logged in again on another connection");
}

TEST(LicenseIntegration, WaitQueueAndReleaseAfterStop) {
  LicenseServer server(1, {"--heartbeat-ms", "1000"});
  MessageType_t types;
  Recorder r1, rw, rl;
  auto first = std::make_unique<LicenseClient>();
  LicenseClient waiter, late;
  auto c1 = config(server.port, "q-first");
  auto cw = config(server.port, "q-waiter");
  cw.wait = true;
  ASSERT_EQ(first->start(c1, types, r1.callback()), 0);
  first->sendLoginReq();
  ASSERT_TRUE(r1.waitFor(LICENSE_LICENSED));
  ASSERT_EQ(waiter.start(cw, types, rw.callback()), 0);
  waiter.sendLoginReq();
  ASSERT_TRUE(rw.waitFor(LICENSE_QUEUED)) << rw.history();
  EXPECT_EQ(waiter.queuePosition(), 1);
  EXPECT_FALSE(waiter.licensed());
  // stop() gives the seat back, and the queued login gets it.
  first->stop();
  EXPECT_EQ(r1.count(LICENSE_STOPPED), 1);
  EXPECT_EQ(r1.count(LICENSE_RELEASED), 1) << r1.history();
  ASSERT_TRUE(rw.waitFor(LICENSE_LICENSED)) << rw.history();
  EXPECT_TRUE(waiter.licensed());
  // A logout releases it again, and a later login without waiting gets it.
  EXPECT_EQ(waiter.sendLogoutReq(), 0);
  ASSERT_TRUE(rw.waitFor(LICENSE_RELEASED)) << rw.history();
  EXPECT_EQ(waiter.seatsLeft(), 1);
  auto cl = config(server.port, "q-late");
  ASSERT_EQ(late.start(cl, types, rl.callback()), 0);
  late.sendLoginReq();
  ASSERT_TRUE(rl.waitFor(LICENSE_LICENSED)) << rl.history();
  // A client destroyed while licensed releases its seat too.
  first.reset();
  late.stop();
  Recorder ra;
  LicenseClient again;
  auto ca = config(server.port, "q-again");
  ASSERT_EQ(again.start(ca, types, ra.callback()), 0);
  again.sendLoginReq();
  ASSERT_TRUE(ra.waitFor(LICENSE_LICENSED)) << ra.history();
}

TEST(LicenseIntegration, HeartbeatsBothWays) {
  LicenseServer server(1, {"--heartbeat-ms", "200"});
  MessageType_t types;
  Recorder r;
  LicenseClient client;
  auto cfg = config(server.port, "hb-1");
  cfg.heartbeatMs = 5000;  // the server's 100 ms applies once licensed
  ASSERT_EQ(client.start(cfg, types, r.callback()), 0);
  client.sendLoginReq();
  ASSERT_TRUE(r.waitFor(LICENSE_LICENSED));
  EXPECT_EQ(client.heartbeatMs(), 200);
  // Over 10 intervals: the server's heartbeats were answered, ours were answered, and neither
  // side dropped the other (each drops after 3 silent intervals).
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  EXPECT_GE(client.serverHeartbeats(), 5);
  EXPECT_GE(client.heartbeatRsps(), 5);
  EXPECT_TRUE(client.licensed());
  EXPECT_EQ(r.count(LICENSE_LOST), 0) << client.lastMessage();
  EXPECT_EQ(client.sendHeartbeatReq(), 0);
  EXPECT_TRUE(r.waitFor(LICENSE_HEARTBEAT_OK));
  // Heartbeats work before a login too.
  Recorder ri;
  LicenseClient idle;
  auto ci = config(server.port, "hb-idle");
  ci.heartbeatMs = 200;
  ASSERT_EQ(idle.start(ci, types, ri.callback()), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_TRUE(idle.connected());
  EXPECT_GE(idle.serverHeartbeats(), 3);
  EXPECT_EQ(ri.count(LICENSE_LOST), 0) << idle.lastMessage();
}

TEST(LicenseIntegration, SilentServerIsDetected) {
  // A server that accepts and then says nothing.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  MessageType_t types;
  Recorder r;
  LicenseClient client;
  auto cfg = config(ntohs(addr.sin_port), "silent-1");
  cfg.heartbeatMs = 100;
  ASSERT_EQ(client.start(cfg, types, r.callback()), 0);
  const int peer = ::accept(fd, nullptr, nullptr);
  ASSERT_TRUE(r.waitFor(LICENSE_LOST, 5000)) << r.history();
  EXPECT_EQ(client.lastMessage(), "The license server sent nothing for 3 heartbeat intervals of 100 ms");
  EXPECT_FALSE(client.connected());
  ::close(peer);
  ::close(fd);
}

TEST(LicenseIntegration, TypesFileRenumbers) {
  const auto dir = harness::tempDir("gatehouse_cpp_types_");
  const auto file = dir + "/types.json";
  std::ofstream(file) << R"({"HeartbeatReq": 21, "HeartbeatRsp": 22, "LoginReq": 23, "LoginRsp": 24})";
  LicenseServer server(1, {"--heartbeat-ms", "1000", "--types", file});
  MessageType_t types;
  std::string error;
  ASSERT_TRUE(loadMessageTypes(file, types, &error)) << error;
  EXPECT_EQ(types.LoginReq, 23u);
  EXPECT_EQ(types.LogoutReq, 5u);
  Recorder r;
  LicenseClient client;
  auto cfg = config(server.port, "types-1");
  ASSERT_EQ(client.start(cfg, types, r.callback()), 0);
  client.sendLoginReq();
  ASSERT_TRUE(r.waitFor(LICENSE_LICENSED)) << r.history() << client.lastMessage();
  client.sendHeartbeatReq();
  EXPECT_TRUE(r.waitFor(LICENSE_HEARTBEAT_OK));
  // A client on the default table is not understood.
  MessageType_t defaults;
  Recorder rs;
  LicenseClient stranger;
  auto cs = config(server.port, "types-2");
  ASSERT_EQ(stranger.start(cs, defaults, rs.callback()), 0);
  stranger.sendLoginReq();
  ASSERT_TRUE(rs.waitFor(LICENSE_REQUEST_FAILED)) << rs.history();
  EXPECT_EQ(stranger.lastMessage(), "Unknown message type 3");
  EXPECT_FALSE(stranger.licensed());
  // A bad file is refused with a sentence.
  std::ofstream(dir + "/bad.json") << R"({"LoginReq": 1})";
  EXPECT_FALSE(loadMessageTypes(dir + "/bad.json", defaults, &error));
  EXPECT_EQ(error, "Message types HeartbeatReq and LoginReq share the number 1");
}

TEST(LicenseIntegration, ReconnectsAndTakesItsSeatBack) {
  const int port = harness::freePort();
  LicenseServer server(1, {"--heartbeat-ms", "200"}, port);
  MessageType_t types;
  Recorder r;
  LicenseClient client;
  auto cfg = config(port, "re-1");
  cfg.reconnect = true;
  cfg.reconnectMinMs = 50;
  cfg.reconnectMaxMs = 300;
  ASSERT_EQ(client.start(cfg, types, r.callback()), 0);
  client.sendLoginReq();
  ASSERT_TRUE(r.waitFor(LICENSE_LICENSED));
  EXPECT_EQ(server.process->stop(), 0);
  ASSERT_TRUE(r.waitFor(LICENSE_LOST)) << r.history();
  EXPECT_TRUE(r.waitFor(LICENSE_RECONNECTING));
  server.start({"--heartbeat-ms", "200"}, port);
  ASSERT_TRUE(r.waitFor(LICENSE_LICENSED, 15000, 2)) << r.history() << client.lastMessage();
  EXPECT_TRUE(client.licensed());
  // Another instance is refused: the seat is ours again.
  Recorder ro;
  LicenseClient other;
  auto co = config(port, "re-2");
  ASSERT_EQ(other.start(co, types, ro.callback()), 0);
  other.sendLoginReq();
  EXPECT_TRUE(ro.waitFor(LICENSE_REFUSED)) << ro.history();
}

TEST(LicenseIntegration, StartFailsWithoutAServer) {
  MessageType_t types;
  Recorder r;
  LicenseClient client;
  auto cfg = config(harness::freePort(), "none-1");
  EXPECT_EQ(client.start(cfg, types, r.callback()), -2);
  EXPECT_NE(client.lastMessage().find("Could not connect"), std::string::npos) << client.lastMessage();
  EXPECT_EQ(client.sendLoginReq(), -1);
  ClientConfig bad = cfg;
  bad.port = 0;
  EXPECT_EQ(client.start(bad, types, r.callback()), -1);
  MessageType_t clash;
  clash.LoginReq = 1;
  EXPECT_EQ(client.start(cfg, clash, r.callback()), -1);
  EXPECT_EQ(client.lastMessage(), "Message types HeartbeatReq and LoginReq share the number 1");
}
