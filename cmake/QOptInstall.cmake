#===- QOptInstall.cmake - the installable QuantOpt CMake package ----------===#
#
# `cmake --install` puts headers (sources and generated .inc), the libraries
# and tools, and lib/cmake/QuantOpt/QuantOptConfig.cmake so that another MLIR
# project can `find_package(QuantOpt)` and link `QuantOpt::QOptDialect` etc.
#
#===------------------------------------------------------------------------===#
include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(QOPT_INSTALL_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/QuantOpt)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/qopt
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
install(DIRECTORY ${PROJECT_BINARY_DIR}/include/qopt
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.inc"
        PATTERN "CMakeFiles" EXCLUDE)

get_property(QOPT_EXPORTED_LIBS GLOBAL PROPERTY QOPT_EXPORTED_LIBS)
install(TARGETS ${QOPT_EXPORTED_LIBS}
        EXPORT QuantOptTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT QuantOptTargets
        NAMESPACE QuantOpt::
        DESTINATION ${QOPT_INSTALL_CMAKE_DIR})

configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/QuantOptConfig.cmake.in
  ${PROJECT_BINARY_DIR}/QuantOptConfig.cmake
  INSTALL_DESTINATION ${QOPT_INSTALL_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR)
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/QuantOptConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/QuantOptConfig.cmake
              ${PROJECT_BINARY_DIR}/QuantOptConfigVersion.cmake
        DESTINATION ${QOPT_INSTALL_CMAKE_DIR})
