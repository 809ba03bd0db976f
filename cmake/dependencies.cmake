# Imported targets for the Debian packages FlowTrack builds against (scripts/deps.sh installs them).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(Boost 1.81 EXACT REQUIRED COMPONENTS json url)
find_package(PostgreSQL REQUIRED)
find_package(spdlog REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(CURL REQUIRED)  # CURL::libcurl: outbound SMTP and HTTP
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
pkg_check_modules(GMIME REQUIRED IMPORTED_TARGET gmime-3.0)  # MIME parsing of inbound mail

# CAF 0.17 ships neither a CMake config nor a pkg-config file.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
add_library(caf::core UNKNOWN IMPORTED)
set_target_properties(caf::core PROPERTIES IMPORTED_LOCATION ${CAF_CORE_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${CAF_INCLUDE_DIR} INTERFACE_LINK_LIBRARIES Threads::Threads)
add_library(caf::io UNKNOWN IMPORTED)
set_target_properties(caf::io PROPERTIES IMPORTED_LOCATION ${CAF_IO_LIBRARY}
  INTERFACE_LINK_LIBRARIES caf::core)

# msgpack-cxx headers unpacked by scripts/deps.sh; used without Boost.
set(MSGPACK_ROOT ${PROJECT_SOURCE_DIR}/.deps/msgpack/usr/include CACHE PATH "msgpack-cxx headers")
if(NOT EXISTS ${MSGPACK_ROOT}/msgpack.hpp)
  message(FATAL_ERROR "msgpack-cxx headers not found in ${MSGPACK_ROOT}: run scripts/deps.sh")
endif()
add_library(msgpack_cxx INTERFACE)
target_include_directories(msgpack_cxx SYSTEM INTERFACE ${MSGPACK_ROOT})
target_compile_definitions(msgpack_cxx INTERFACE MSGPACK_NO_BOOST)
