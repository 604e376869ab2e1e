# Builds a tiny consumer of torchlr twice: against the installed package (find_package) and
# through add_subdirectory, then runs each. Invoked by ctest with -P.
file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

# 1. Install torchlr (library only, to keep this quick) and consume it with find_package.
run(${CMAKE_COMMAND} -S "${TORCHLR_SOURCE_DIR}" -B "${WORK_DIR}/torchlr"
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
    -DTORCHLR_BUILD_TESTS=OFF -DTORCHLR_BUILD_EXAMPLES=OFF -DTORCHLR_BUILD_TOOLS=OFF
    -DTORCHLR_INSTALL=ON "-DCMAKE_INSTALL_PREFIX=${prefix}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}/torchlr" -j 2)
run(${CMAKE_COMMAND} --install "${WORK_DIR}/torchlr")
run(${CMAKE_COMMAND} -S "${CMAKE_CURRENT_LIST_DIR}/consumer" -B "${WORK_DIR}/installed"
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
    "-DCMAKE_PREFIX_PATH=${prefix}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}/installed")
run("${WORK_DIR}/installed/consumer")
if(NOT last_output MATCHES "0\\.05\nStepLR 0\\.05\ntorchlr [0-9]+\\.[0-9]+\\.[0-9]+")
  message(FATAL_ERROR "installed consumer printed: ${last_output}")
endif()

# 2. The same consumer through add_subdirectory: torchlr's tests, tools and install stay off.
run(${CMAKE_COMMAND} -S "${CMAKE_CURRENT_LIST_DIR}/consumer" -B "${WORK_DIR}/subdirectory"
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}
    "-DTORCHLR_SUBDIRECTORY=${TORCHLR_SOURCE_DIR}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}/subdirectory" -j 2)
if(EXISTS "${WORK_DIR}/subdirectory/torchlr/test" OR EXISTS "${WORK_DIR}/subdirectory/torchlr/tools")
  message(FATAL_ERROR "add_subdirectory built torchlr's tests or tools")
endif()
run("${WORK_DIR}/subdirectory/consumer")
if(NOT last_output MATCHES "0\\.05\nStepLR 0\\.05\ntorchlr [0-9]+\\.[0-9]+\\.[0-9]+")
  message(FATAL_ERROR "add_subdirectory consumer printed: ${last_output}")
endif()
message(STATUS "both consumers built and ran")
