// Uses each installed library once: the frame codec, GateClient, and the license client.
#include <iostream>

#include "gatehouse/envelope.hpp"
#include "gatehouse/frame.hpp"
#include "gatehouse/gate_client.hpp"
#include "gatehouse/license_client.hpp"
#include "gatehouse/service_client.hpp"

int main() {
  const auto frame = gatehouse::encodeFrame(1, 100, gatehouse::makeRequest("echo", 1).dump());
  const auto decoded = gatehouse::decodeFrame(frame);
  gatehouse::GateClientOptions options;
  options.addresses = {"tcp://127.0.0.1:1"};
  options.reconnect = false;
  gatehouse::GateClient client(options);
  gatehouse::LicenseClient license;
  std::cout << "frame of " << frame.size() << " bytes, type " << decoded.type << ", license "
            << gatehouse::licenseStatusName(gatehouse::LICENSE_LICENSED) << std::endl;
  return decoded.type == 100 && !license.connected() ? 0 : 1;
}
