# The license client: a shared library with a versioned soname, exporting only the symbols
# marked GATEHOUSE_LICENSE_API (the rest, Asio and nlohmann/json included, stays hidden).
add_library(gatehouse_license SHARED src/license_client.cpp)
add_library(Gatehouse::license ALIAS gatehouse_license)
target_include_directories(gatehouse_license
  PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
  PRIVATE ${ASIO_INCLUDE_DIR} src)
target_compile_definitions(gatehouse_license PRIVATE GATEHOUSE_LICENSE_BUILDING)
target_link_libraries(gatehouse_license PRIVATE nlohmann_json::nlohmann_json OpenSSL::SSL OpenSSL::Crypto
  PUBLIC Threads::Threads)
target_link_options(gatehouse_license PRIVATE -Wl,--exclude-libs,ALL -Wl,--no-undefined
  -Wl,--version-script=${CMAKE_CURRENT_SOURCE_DIR}/cmake/license.map)
set_property(TARGET gatehouse_license APPEND PROPERTY LINK_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cmake/license.map)
set_target_properties(gatehouse_license PROPERTIES
  EXPORT_NAME license
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR})
list(APPEND GATEHOUSE_INSTALL_TARGETS gatehouse_license)
