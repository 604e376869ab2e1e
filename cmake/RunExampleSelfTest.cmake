# Shows that RunExample.cmake fails an example that fails: a non-zero exit status fails it even
# when the output matches, output that does not match fails it even with status 0, and only both
# together pass.
#
#   cmake -P RunExampleSelfTest.cmake

set(runner "${CMAKE_CURRENT_LIST_DIR}/RunExample.cmake")

function(expect_run regex program_script want_status want_message)
  execute_process(
    COMMAND "${CMAKE_COMMAND}" "-DEXPECT=${regex}" -P "${runner}" -- sh -c "${program_script}"
    RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(want_status STREQUAL "pass" AND NOT status STREQUAL "0")
    message(FATAL_ERROR "runner refused a passing example (sh -c '${program_script}'): ${err}")
  endif()
  if(want_status STREQUAL "fail" AND status STREQUAL "0")
    message(FATAL_ERROR "runner accepted a failing example (sh -c '${program_script}')")
  endif()
  if(NOT err MATCHES "${want_message}")
    message(FATAL_ERROR "runner said '${err}', expected it to say '${want_message}'")
  endif()
endfunction()

# (No semicolons in the scripts: CMake would split the argument there.)
expect_run("accuracy: 9[5-9]" "echo 'accuracy: 97' && exit 0" pass "accuracy: 97")
expect_run("accuracy: 9[5-9]" "echo 'accuracy: 97' && exit 1" fail "exited with status 1")
expect_run("accuracy: 9[5-9]" "echo 'accuracy: 42' && exit 0" fail "does not match")
message("RunExample.cmake passes a passing example and fails both kinds of failing one")
