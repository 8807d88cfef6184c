#===- QOptAddLibrary.cmake - one helper for every qopt library ------------===#
#
# qopt_add_library(NAME SOURCES... [NO_MLIR] [DEPENDS tablegen targets]
#                  [LINK_LIBS libs...])
# Adds a static library `QOpt<Name>` that links the shared `MLIR` target (and
# whatever else it names), exports it as `QuantOpt::<NAME>` and records it for
# installation.
#
#===------------------------------------------------------------------------===#
set_property(GLOBAL PROPERTY QOPT_EXPORTED_LIBS "")

function(qopt_add_library name)
  cmake_parse_arguments(ARG "NO_MLIR" "" "DEPENDS;LINK_LIBS" ${ARGN})
  add_library(${name} STATIC ${ARG_UNPARSED_ARGUMENTS})
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:include>)
  # MLIR's imported targets carry no include directories: forward them so
  # that consumers of the installed package compile against the same tree.
  # NO_MLIR libraries (shared with the runtime) must not see them at all.
  if(NOT ARG_NO_MLIR)
    target_include_directories(${name} SYSTEM PUBLIC
      ${MLIR_INCLUDE_DIRS} ${LLVM_INCLUDE_DIRS})
  endif()
  target_link_libraries(${name} PUBLIC ${ARG_LINK_LIBS})
  add_library(QuantOpt::${name} ALIAS ${name})
  set_property(GLOBAL APPEND PROPERTY QOPT_EXPORTED_LIBS ${name})
endfunction()
