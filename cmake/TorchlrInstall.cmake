include(CMakePackageConfigHelpers)

install(TARGETS torchlr EXPORT torchlrTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/torchlr DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/include/torchlr/version.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/torchlr)
install(EXPORT torchlrTargets
  NAMESPACE torchlr::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/torchlr)

configure_package_config_file(cmake/torchlrConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/torchlrConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/torchlr)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/torchlrConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${CMAKE_CURRENT_BINARY_DIR}/torchlrConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/torchlrConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/torchlr)
