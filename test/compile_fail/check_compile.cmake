# A compile test, run by ctest: builds one object-library target of the build tree and checks
# the outcome. With -DCASE=<name> the build must fail, and the compiler must report the error at
# the line of SOURCE marked "error: <name>" (so that it failed for the reason under test, not a
# typo or a missing include); without CASE it must succeed (the control, which shows that the
# harness and the rest of the file compile).
#
#   cmake -DBUILD_DIR=<dir> -DTARGET=<target> -DSOURCE=<file> [-DCONFIG=<config>] [-DCASE=<name>]
#         -P check_compile.cmake

foreach(required BUILD_DIR TARGET SOURCE)
  if(NOT DEFINED ${required})
    message(FATAL_ERROR "check_compile.cmake: -D${required}=... is required")
  endif()
endforeach()

set(config_args "")
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(
  COMMAND "${CMAKE_COMMAND}" --build "${BUILD_DIR}" --target "${TARGET}" ${config_args}
  RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)

if(NOT DEFINED CASE)
  if(NOT status STREQUAL "0")
    message("${output}")
    message(FATAL_ERROR "the control ${TARGET} does not compile")
  endif()
  message("${TARGET} compiles, as it must")
  return()
endif()

if(status STREQUAL "0")
  message(FATAL_ERROR "${TARGET} compiled, but must not (case ${CASE})")
endif()
file(STRINGS "${SOURCE}" lines)
set(line_number 0)
set(marked "")
foreach(line IN LISTS lines)
  math(EXPR line_number "${line_number} + 1")
  if(line MATCHES "// error: ${CASE}$")
    set(marked ${line_number})
  endif()
endforeach()
if(marked STREQUAL "")
  message(FATAL_ERROR "no line of ${SOURCE} is marked 'error: ${CASE}'")
endif()
get_filename_component(source_name "${SOURCE}" NAME)
if(NOT output MATCHES "${source_name}:${marked}:")
  message("${output}")
  message(FATAL_ERROR "${TARGET} failed to compile, but not at ${source_name}:${marked} (case ${CASE})")
endif()
message("${TARGET} fails to compile at ${source_name}:${marked}, as it must")
