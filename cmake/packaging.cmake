# Installation layout and the Debian package.
#
# Build the .deb (Release, no sanitizers, no tests; installs under /usr):
#   cmake -S . -B build/deb -G Ninja -DCMAKE_BUILD_TYPE=Release -DZCRECV_BUILD_TESTS=OFF
#   cmake --build build/deb -j 2
#   (cd build/deb && cpack -G DEB)        # -> build/deb/zcrecv_VERSION_ARCH.deb
# Install it with `apt-get install ./build/deb/zcrecv_*.deb`, which also installs the shared
# libraries it links (found by dpkg-shlibdeps).

include(GNUInstallDirs)

# The binaries are installed by the top-level CMakeLists.txt (bin/). Units go where systemd looks
# for the units of packages; the package installs under /usr (CPACK_PACKAGING_INSTALL_PREFIX).
install(FILES
  ${PROJECT_SOURCE_DIR}/systemd/zcrecv.service
  ${PROJECT_SOURCE_DIR}/systemd/zcrecv.socket
  ${PROJECT_SOURCE_DIR}/systemd/zcrecv-accept.socket
  ${PROJECT_SOURCE_DIR}/systemd/zcrecv-accept@.service
  DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/docs/zcrecv.1 ${PROJECT_SOURCE_DIR}/docs/zcsend.1
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
# /etc whatever the prefix: the units read /etc/zcrecv/zcrecv.toml.
install(FILES ${PROJECT_SOURCE_DIR}/config/zcrecv.toml DESTINATION /etc/zcrecv)

set(CPACK_PACKAGE_NAME zcrecv)
set(CPACK_PACKAGE_VENDOR "zcrecv")
set(CPACK_PACKAGE_CONTACT "zcrecv maintainers <zcrecv@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "receive TCP and Unix streams straight into files with splice(2)")
set(CPACK_PACKAGE_DESCRIPTION
  "zcrecv listens on TCP and Unix stream sockets and writes each connection into its own \
rotating files, moving the bytes socket -> pipe -> file with splice(2). It ships a hardened \
systemd service with socket activation, readiness, reload and watchdog notification, and a \
per-connection (Accept=yes) variant.")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS systemd)

# dpkg keeps an edited configuration file on upgrade and asks before replacing it: it must be
# listed as a conffile (debhelper does this for /etc; CPack does not).
file(WRITE ${PROJECT_BINARY_DIR}/debian/conffiles "/etc/zcrecv/zcrecv.toml\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${PROJECT_BINARY_DIR}/debian/conffiles
  ${PROJECT_SOURCE_DIR}/cmake/debian/postinst
  ${PROJECT_SOURCE_DIR}/cmake/debian/prerm
  ${PROJECT_SOURCE_DIR}/cmake/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
