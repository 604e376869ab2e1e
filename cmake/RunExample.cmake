# Runs an example as a test that counts both ways: it passes only if the program exits with
# status 0 and its standard output matches EXPECT (a regular expression). ctest's
# PASS_REGULAR_EXPRESSION alone would ignore the exit status, so an example that detects its own
# failure (a missed accuracy gate, a resume that diverged) could never fail its test.
#
#   cmake -DEXPECT=<regex> -P RunExample.cmake -- <program> [arguments...]
#
# (Arguments may not contain ';', which CMake reads as a list separator.)

if(NOT DEFINED EXPECT)
  message(FATAL_ERROR "RunExample.cmake: -DEXPECT=<regex> is required")
endif()

# Everything after "--" is the command to run (CMake leaves those arguments unparsed).
set(command "")
set(after_separator FALSE)
math(EXPR last "${CMAKE_ARGC} - 1")
foreach(i RANGE ${last})
  if(after_separator)
    list(APPEND command "${CMAKE_ARGV${i}}")
  elseif(CMAKE_ARGV${i} STREQUAL "--")
    set(after_separator TRUE)
  endif()
endforeach()
if(command STREQUAL "")
  message(FATAL_ERROR "RunExample.cmake: no program given after --")
endif()

execute_process(COMMAND ${command} RESULT_VARIABLE status OUTPUT_VARIABLE output)
message("${output}")
string(JOIN " " shown ${command})
# A plain message for the reason (FATAL_ERROR would re-wrap it), then the failure itself.
if(NOT status STREQUAL "0")
  message("example failed: '${shown}' exited with status ${status}")
  message(FATAL_ERROR "example failed")
endif()
if(NOT output MATCHES "${EXPECT}")
  message("example failed: the output of '${shown}' does not match '${EXPECT}'")
  message(FATAL_ERROR "example failed")
endif()
