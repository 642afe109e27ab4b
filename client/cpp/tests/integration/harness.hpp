// Starts the real Deno processes of Gatehouse for the C++ integration tests: each on free ports,
// ready once it prints its ready line, stopped with SIGTERM (SIGKILL after 10 s) by its pid.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

extern char** environ;

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace harness {

/// The repository's root (where deno.json is).
inline std::string root() { return GATEHOUSE_ROOT; }

/// The service key every test process shares.
inline const std::string kServiceKey = "cpp-integration-test-service-key-0123456789";

/// Removes the temporary directories of this test program when it exits.
struct TempDirs {
  std::mutex mutex;
  std::vector<std::string> paths;
  ~TempDirs() {
    for (const auto& p : paths) std::system(("rm -rf '" + p + "'").c_str());
  }
};

inline TempDirs& tempDirs() {
  static TempDirs dirs;
  return dirs;
}

/// A fresh temporary directory, removed when the test program exits.
inline std::string tempDir(const std::string& prefix = "gatehouse_cpp_") {
  std::string tmpl = "/tmp/" + prefix + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  std::lock_guard<std::mutex> lock(tempDirs().mutex);
  tempDirs().paths.push_back(buf.data());
  return buf.data();
}

/// A TCP port that was free a moment ago.
inline int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// Runs a shell command; true when it exits 0.
inline bool run(const std::string& command) { return std::system(command.c_str()) == 0; }

/// A child process whose stdout and stderr lines are kept.
class Process {
 public:
  Process(const std::string& name, std::vector<std::string> args, std::map<std::string, std::string> env = {})
      : name_(name) {
    // Everything the child needs is prepared before fork: after it, only async-signal-safe
    // calls until exec.
    env["NO_COLOR"] = "1";
    std::vector<std::string> envStrings;
    for (char** e = environ; *e; e++) {
      const std::string entry = *e;
      const auto eq = entry.find('=');
      if (eq != std::string::npos && env.count(entry.substr(0, eq))) continue;
      envStrings.push_back(entry);
    }
    for (const auto& [k, v] : env) envStrings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : envStrings) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const std::string dir = root();
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::dup2(fds[1], 2);
      ::close(fds[0]);
      ::close(fds[1]);
      if (::chdir(dir.c_str()) != 0) _exit(127);
      ::execvpe(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    ::close(fds[1]);
    fd_ = fds[0];
    reader_ = std::thread([this] { pump(); });
  }

  ~Process() {
    stop();
    if (reader_.joinable()) reader_.join();
    if (fd_ >= 0) ::close(fd_);
  }

  /// Waits for a line matching `pattern` (from line `from` on); returns its groups. Throws with
  /// the output so far when it does not come.
  std::vector<std::string> waitForLine(const std::string& pattern, int timeoutMs = 30000, std::size_t from = 0) {
    const std::regex re(pattern);
    std::unique_lock<std::mutex> lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
      for (std::size_t i = from; i < lines_.size(); i++) {
        std::smatch m;
        if (std::regex_search(lines_[i], m, re)) {
          std::vector<std::string> groups;
          for (const auto& g : m) groups.push_back(g.str());
          return groups;
        }
      }
      if (eof_ || cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        if (eof_ || std::chrono::steady_clock::now() >= deadline) {
          std::ostringstream out;
          out << name_ << (eof_ ? " ended" : " timed out") << " before printing " << pattern << ":\n";
          for (const auto& l : lines_) out << "  " << l << "\n";
          throw std::runtime_error(out.str());
        }
      }
    }
  }

  std::size_t lineCount() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_.size();
  }

  std::string output() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string all;
    for (const auto& l : lines_) all += l + "\n";
    return all;
  }

  /// SIGTERM, then waits (SIGKILL after 10 s); returns the exit status.
  int stop() {
    if (pid_ <= 0) return exitCode_;
    ::kill(pid_, SIGTERM);
    return reap(10000);
  }

  /// SIGKILL now.
  int kill() {
    if (pid_ <= 0) return exitCode_;
    ::kill(pid_, SIGKILL);
    return reap(10000);
  }

  /// Waits for the exit by itself.
  int wait(int timeoutMs) { return reap(timeoutMs, false); }

  bool running() const { return pid_ > 0; }

 private:
  int reap(int timeoutMs, bool killAfter = true) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
    for (;;) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return exitCode_;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        if (!killAfter) return -1;
        ::kill(pid_, SIGKILL);
        killAfter = false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  void pump() {
    char buf[4096];
    std::string rest;
    for (;;) {
      const ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      rest.append(buf, static_cast<std::size_t>(n));
      std::size_t nl;
      std::lock_guard<std::mutex> lock(mutex_);
      while ((nl = rest.find('\n')) != std::string::npos) {
        lines_.push_back(rest.substr(0, nl));
        if (std::getenv("GATEHOUSE_TEST_ECHO")) fprintf(stderr, "[%s] %s\n", name_.c_str(), lines_.back().c_str());
        rest.erase(0, nl + 1);
      }
      cv_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!rest.empty()) lines_.push_back(rest);
    eof_ = true;
    cv_.notify_all();
  }

  std::string name_;
  pid_t pid_ = -1;
  int fd_ = -1;
  int exitCode_ = -1;
  std::thread reader_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

inline std::map<std::string, std::string> serviceEnv() { return {{"GATEHOUSE_SSKEY", kServiceKey}}; }

/// A running gate and its addresses.
struct Gate {
  std::unique_ptr<Process> process;
  std::string httpUrl, tcpUrl, wsUrl, dataDir;
};

/// Starts a gate (ports 0 unless given); `flags` are extra flags.
inline Gate startGate(std::vector<std::string> flags = {}, int port = 0, int tcpPort = 0, std::string dataDir = "",
                      std::map<std::string, std::string> env = serviceEnv()) {
  Gate gate;
  gate.dataDir = dataDir.empty() ? tempDir() : dataDir;
  std::vector<std::string> args = {"deno", "run", "--allow-all", "server/gate/main.ts", "--port", std::to_string(port),
                                   "--tcp-port", std::to_string(tcpPort), "--data-dir", gate.dataDir};
  args.insert(args.end(), flags.begin(), flags.end());
  gate.process = std::make_unique<Process>("gate", args, env);
  const auto m = gate.process->waitForLine(R"(gate listening http=(\S+) tcp=(\S+) ws=(\S+))");
  gate.httpUrl = m[1];
  gate.tcpUrl = m[2];
  gate.wsUrl = m[3];
  return gate;
}

/// Starts a service of ours (server/<name>/main.ts) connected to the gate; ready once registered.
inline std::unique_ptr<Process> startService(const std::string& name, const Gate& gate, std::vector<std::string> flags = {},
                                             std::map<std::string, std::string> env = serviceEnv()) {
  std::vector<std::string> args = {"deno", "run", "--allow-all", "server/" + name + "/main.ts", "--gate", gate.wsUrl,
                                   "--data-dir", gate.dataDir, "--name", name + "-cpp-test"};
  // The echo service serves echo_push, echo_bind, echo_kick and echo_leaves only when told they
  // are for tests.
  if (name == "echo") args.push_back("--test-commands");
  args.insert(args.end(), flags.begin(), flags.end());
  auto p = std::make_unique<Process>(name, args, env);
  p->waitForLine("registered gate=");
  return p;
}

/// Writes a test CA and a certificate it signs for 127.0.0.1 into `dir`: ca.pem, cert.pem,
/// key.pem. False without openssl.
inline bool makeCertificate(const std::string& dir) {
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  std::ofstream(dir + "/leaf.ext") << "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n";
  const std::string quiet = " >/dev/null 2>&1";
  return run("openssl req -x509 " + ec + " -keyout " + dir + "/ca.key -out " + dir +
             "/ca.pem -days 1 -subj '/CN=Gatehouse test CA' -addext basicConstraints=critical,CA:TRUE -addext "
             "keyUsage=critical,keyCertSign" + quiet) &&
         run("openssl req " + ec + " -keyout " + dir + "/key.pem -out " + dir + "/leaf.csr -subj /CN=localhost" + quiet) &&
         run("openssl x509 -req -in " + dir + "/leaf.csr -CA " + dir + "/ca.pem -CAkey " + dir +
             "/ca.key -CAcreateserial -out " + dir + "/cert.pem -days 1 -extfile " + dir + "/leaf.ext" + quiet);
}

/// Polls `check` every 20 ms until it is true or `timeoutMs` passes.
template <class F>
bool eventually(F check, int timeoutMs = 10000) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  while (std::chrono::steady_clock::now() < deadline) {
    if (check()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return check();
}

/// A unique username (6 to 16 letters and digits).
inline std::string uniqueName(const std::string& prefix) {
  static int counter = 0;
  return prefix + std::to_string(::getpid() % 10000) + std::to_string(++counter);
}

}  // namespace harness
