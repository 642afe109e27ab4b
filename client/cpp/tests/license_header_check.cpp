// The license client's public header must not drag in Asio or nlohmann/json (PIMPL).
#include "gatehouse/license_client.hpp"

#ifdef ASIO_VERSION
#error "gatehouse/license_client.hpp includes Asio"
#endif
#ifdef NLOHMANN_JSON_VERSION_MAJOR
#error "gatehouse/license_client.hpp includes nlohmann/json"
#endif

int main() {
  gatehouse::LicenseClient client;
  return client.connected() ? 1 : 0;
}
