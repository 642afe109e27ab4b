// gatehouse_chat: a small console game client. It logs in (registering first with --register),
// joins a group (creating it when it does not exist yet), prints what the group says, and sends
// each line typed (or each --say) to the group.
//
//   gatehouse_chat --gate tcp://127.0.0.1:8081 --user alice01 --password secret123
//                  --register --group lobby --key letmein
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "gatehouse/gate_client.hpp"

namespace {

void usage() {
  std::cerr << "Usage: gatehouse_chat --gate tcp://HOST:PORT [--gate …] --user NAME --password PW [--register]\n"
               "                      --group ID --key KEY [--ca FILE] [--say TEXT]… [--wait-ms N]\n"
               "Without --say it reads lines from stdin until end of input.\n";
}

}  // namespace

int main(int argc, char** argv) {
  gatehouse::GateClientOptions options;
  std::string user, password, group, key;
  std::vector<std::string> says;
  bool registerFirst = false;
  int waitMs = 1000;
  for (int i = 1; i < argc; i++) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (flag == "--gate") options.addresses.push_back(value());
    else if (flag == "--user") user = value();
    else if (flag == "--password") password = value();
    else if (flag == "--register") registerFirst = true;
    else if (flag == "--group") group = value();
    else if (flag == "--key") key = value();
    else if (flag == "--ca") options.tlsCaFile = value();
    else if (flag == "--say") says.push_back(value());
    else if (flag == "--wait-ms") waitMs = std::atoi(value().c_str());
    else {
      usage();
      return 2;
    }
  }
  if (options.addresses.empty() || user.empty() || password.empty() || group.empty() || key.empty()) {
    usage();
    return 2;
  }

  gatehouse::GateClient client(options);
  client.on("sc_msg_group_msg", [](const gatehouse::json& data, const gatehouse::json&) {
    std::cout << "[" << data.value("groupId", "") << "] user " << data.value("fromUserId", 0) << ": "
              << (data["data"].is_object() && data["data"].contains("text") ? data["data"]["text"].get<std::string>()
                                                                            : data["data"].dump())
              << std::endl;
  });
  client.on("sc_msg_group_join", [](const gatehouse::json& data, const gatehouse::json&) {
    std::cout << "user " << data.value("userId", 0) << " joined " << data.value("groupId", "") << std::endl;
  });
  client.on("sc_msg_group_leave", [](const gatehouse::json& data, const gatehouse::json&) {
    std::cout << "user " << data.value("userId", 0) << " left " << data.value("groupId", "") << std::endl;
  });
  client.on("sc_msg_group_away", [](const gatehouse::json& data, const gatehouse::json&) {
    std::cout << "user " << data.value("userId", 0) << " dropped from " << data.value("groupId", "")
              << ", place kept " << data.value("graceMs", 0) << " ms" << std::endl;
  });
  client.on("sc_msg_group_back", [](const gatehouse::json& data, const gatehouse::json&) {
    std::cout << "user " << data.value("userId", 0) << " is back in " << data.value("groupId", "") << std::endl;
  });
  client.on("sc_msg_kicked", [](const gatehouse::json& data, const gatehouse::json&) {
    std::cout << "kicked: " << data.value("reason", "") << std::endl;
  });
  client.onState([](gatehouse::ConnectionState state, const std::string& detail) {
    if (state == gatehouse::ConnectionState::Disconnected) std::cerr << "disconnected: " << detail << std::endl;
  });

  try {
    client.connect();
    if (registerFirst) {
      try {
        client.registerAccount(user, password).get();
      } catch (const gatehouse::ResponseError& e) {
        std::cerr << "register: " << e.what() << std::endl;  // taken: log in anyway
      }
    }
    const auto login = client.login(user, password).get();
    std::cout << "logged in as " << login.username << " (user " << login.userId << ")" << std::endl;
    auto joined = client.request("cs_msg_group_join", {{"groupId", group}, {"key", key}}).get();
    if (!joined.ok() && joined.msg == "No group " + group) {
      client.requestOk("cs_msg_group_create", {{"groupId", group}, {"key", key}}).get();
      joined = client.request("cs_msg_group_join", {{"groupId", group}, {"key", key}}).get();
    }
    if (!joined.ok()) throw gatehouse::ResponseError(joined);
    std::cout << "joined group " << group << " (" << joined.data["members"].size() << " members)" << std::endl;

    auto send = [&](const std::string& text) {
      const auto sent = client.request("cs_msg_group_send", {{"groupId", group}, {"data", {{"text", text}}}}).get();
      if (!sent.ok()) std::cerr << "send: " << sent.msg << std::endl;
    };
    if (!says.empty()) {
      for (const auto& text : says) send(text);
      std::this_thread::sleep_for(std::chrono::milliseconds(waitMs));
    } else {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (!line.empty()) send(line);
      }
    }
    client.close();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "gatehouse_chat: " << e.what() << std::endl;
    return 1;
  }
}
