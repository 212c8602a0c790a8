# Imported targets for what the cluster actions libraries depend on. Used by
# the project's own build and, installed next to it, by the package config,
# so that the build and its consumers find the same things the same way.
#
# Both functions set `result` to TRUE or FALSE and never fail themselves.

# CAF::core (and CAF::io when its library is there). Debian's CAF 0.17 ships
# neither a CMake package nor a pkg-config file, so the header and the
# libraries are searched for directly. Targets that already exist (a host
# that made its own CAF::core) are used as they are.
function(cluster_actions_import_caf result)
  find_package(Threads QUIET)
  if(NOT Threads_FOUND)
    set(${result} FALSE PARENT_SCOPE)
    return()
  endif()
  if(NOT TARGET CAF::core)
    find_path(CLUSTER_ACTIONS_CAF_INCLUDE_DIR caf/all.hpp
      DOC "Directory holding CAF's caf/all.hpp")
    find_library(CLUSTER_ACTIONS_CAF_CORE_LIBRARY caf_core
      DOC "CAF's core library")
    if(NOT CLUSTER_ACTIONS_CAF_INCLUDE_DIR OR NOT CLUSTER_ACTIONS_CAF_CORE_LIBRARY)
      set(${result} FALSE PARENT_SCOPE)
      return()
    endif()
    add_library(CAF::core UNKNOWN IMPORTED)
    set_target_properties(CAF::core PROPERTIES
      IMPORTED_LOCATION "${CLUSTER_ACTIONS_CAF_CORE_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${CLUSTER_ACTIONS_CAF_INCLUDE_DIR}"
      INTERFACE_LINK_LIBRARIES Threads::Threads)
  endif()
  if(NOT TARGET CAF::io)
    find_library(CLUSTER_ACTIONS_CAF_IO_LIBRARY caf_io
      DOC "CAF's I/O (middleman) library")
    if(CLUSTER_ACTIONS_CAF_IO_LIBRARY)
      add_library(CAF::io UNKNOWN IMPORTED)
      set_target_properties(CAF::io PROPERTIES
        IMPORTED_LOCATION "${CLUSTER_ACTIONS_CAF_IO_LIBRARY}"
        INTERFACE_LINK_LIBRARIES CAF::core)
    endif()
  endif()
  set(${result} TRUE PARENT_SCOPE)
endfunction()

# SQLite::SQLite3, for the status store of the actors library (CMake's own
# FindSQLite3 module; Debian package libsqlite3-dev).
function(cluster_actions_import_sqlite result)
  if(NOT TARGET SQLite::SQLite3)
    find_package(SQLite3 QUIET)
  endif()
  if(TARGET SQLite::SQLite3)
    set(${result} TRUE PARENT_SCOPE)
  else()
    set(${result} FALSE PARENT_SCOPE)
  endif()
endfunction()

# PkgConfig::ClusterActions_HTTPLIB, OpenSSL::SSL and OpenSSL::Crypto. cpp-httplib is a
# compiled library on Debian; its pkg-config file carries the CPPHTTPLIB_*
# feature macros, which every file including httplib.h must be compiled with
# (they change the class layouts), so the target brings them as compile
# options. The REST front uses OpenSSL itself (TLS connections, password
# hashes), the same OpenSSL that cpp-httplib is built against.
function(cluster_actions_import_httplib result)
  find_package(OpenSSL 3.0 QUIET COMPONENTS SSL Crypto)
  if(NOT TARGET OpenSSL::SSL OR NOT TARGET OpenSSL::Crypto)
    set(${result} FALSE PARENT_SCOPE)
    return()
  endif()
  if(NOT TARGET PkgConfig::ClusterActions_HTTPLIB)
    find_package(PkgConfig QUIET)
    if(NOT PKG_CONFIG_FOUND)
      set(${result} FALSE PARENT_SCOPE)
      return()
    endif()
    pkg_check_modules(ClusterActions_HTTPLIB QUIET IMPORTED_TARGET cpp-httplib)
    if(NOT TARGET PkgConfig::ClusterActions_HTTPLIB)
      set(${result} FALSE PARENT_SCOPE)
      return()
    endif()
  endif()
  set(${result} TRUE PARENT_SCOPE)
endfunction()
