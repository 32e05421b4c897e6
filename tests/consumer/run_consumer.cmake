# Builds and runs the consumer project in tests/consumer, as a ctest:
#
#   cmake -DMODE=subdirectory|package -DWORK_DIR=<scratch dir>
#         -DLOOM_SOURCE_DIR=<loom source> -DLOOM_BINARY_DIR=<configured loom build>
#         -DCONSUMER_SOURCE_DIR=<tests/consumer>
#         [-DCMAKE_CXX_COMPILER=...] [-DLOOM_GENERATOR=...] [-DLOOM_MAKE_PROGRAM=...]
#         [-DEigen3_DIR=...] [-DCONFIG=<build type>] [-DLOOM_USE_OPENMP=ON|OFF]
#         -P run_consumer.cmake
#
# package mode:      cmake --install <loom build> --prefix WORK_DIR/prefix, then
#                    find_package(loom 0.1) with CMAKE_PREFIX_PATH=WORK_DIR/prefix
# subdirectory mode: add_subdirectory(LOOM_SOURCE_DIR)
# Any failing step stops with FATAL_ERROR and shows that step's output.
cmake_minimum_required(VERSION 3.20)

foreach(_var MODE WORK_DIR LOOM_SOURCE_DIR CONSUMER_SOURCE_DIR)
    if(NOT DEFINED ${_var} OR "${${_var}}" STREQUAL "")
        message(FATAL_ERROR "run_consumer.cmake: -D${_var}=... is required")
    endif()
endforeach()
if(NOT MODE MATCHES "^(subdirectory|package)$")
    message(FATAL_ERROR "run_consumer.cmake: MODE must be subdirectory or package, not '${MODE}'")
endif()

# Runs one step; on failure prints its command and output and stops.
function(loom_step name)
    execute_process(
        COMMAND ${ARGN}
        RESULT_VARIABLE result
        OUTPUT_VARIABLE output
        ERROR_VARIABLE output)
    if(NOT result EQUAL 0)
        string(REPLACE ";" " " command "${ARGN}")
        message(FATAL_ERROR
            "consumer (${MODE}): step '${name}' failed (${result})\n"
            "command: ${command}\n"
            "output:\n${output}")
    endif()
    message(STATUS "consumer (${MODE}): ${name}: ok")
    set(step_output "${output}" PARENT_SCOPE)
endfunction()

set(_build_dir "${WORK_DIR}/build")
set(_prefix "${WORK_DIR}/prefix")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

set(_config_args)
set(_build_config_args)
if(DEFINED CONFIG AND NOT CONFIG STREQUAL "")
    list(APPEND _config_args "-DCMAKE_BUILD_TYPE=${CONFIG}")
    list(APPEND _build_config_args --config "${CONFIG}")
endif()
if(DEFINED LOOM_GENERATOR AND NOT LOOM_GENERATOR STREQUAL "")
    list(APPEND _config_args -G "${LOOM_GENERATOR}")
endif()
if(DEFINED LOOM_MAKE_PROGRAM AND NOT LOOM_MAKE_PROGRAM STREQUAL "")
    list(APPEND _config_args "-DCMAKE_MAKE_PROGRAM=${LOOM_MAKE_PROGRAM}")
endif()
if(DEFINED CMAKE_CXX_COMPILER AND NOT CMAKE_CXX_COMPILER STREQUAL "")
    list(APPEND _config_args "-DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER}")
endif()
if(DEFINED Eigen3_DIR AND NOT Eigen3_DIR STREQUAL "" AND NOT Eigen3_DIR MATCHES "NOTFOUND$")
    list(APPEND _config_args "-DEigen3_DIR=${Eigen3_DIR}")
endif()

if(MODE STREQUAL "package")
    if(NOT DEFINED LOOM_BINARY_DIR OR NOT EXISTS "${LOOM_BINARY_DIR}/CMakeCache.txt")
        message(FATAL_ERROR "run_consumer.cmake: package mode needs -DLOOM_BINARY_DIR=<configured loom build>")
    endif()
    loom_step("install loom"
        "${CMAKE_COMMAND}" --install "${LOOM_BINARY_DIR}" --prefix "${_prefix}" ${_build_config_args})
    file(GLOB_RECURSE _installed_configs "${_prefix}/*/loomConfig.cmake")
    if(NOT _installed_configs)
        message(FATAL_ERROR "consumer (package): cmake --install produced no loomConfig.cmake under ${_prefix}")
    endif()
    if(NOT EXISTS "${_prefix}/include/loom/loom.hpp")
        message(FATAL_ERROR "consumer (package): cmake --install did not install include/loom/loom.hpp")
    endif()
    list(APPEND _config_args
        -DLOOM_CONSUMER_MODE=package
        "-DCMAKE_PREFIX_PATH=${_prefix}"
        # Only the fresh install may satisfy find_package(loom).
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
else()
    list(APPEND _config_args
        -DLOOM_CONSUMER_MODE=subdirectory
        "-DLOOM_SOURCE_DIR=${LOOM_SOURCE_DIR}")
    if(DEFINED LOOM_USE_OPENMP AND NOT LOOM_USE_OPENMP STREQUAL "")
        list(APPEND _config_args "-DLOOM_USE_OPENMP=${LOOM_USE_OPENMP}")
    endif()
endif()

loom_step("configure"
    "${CMAKE_COMMAND}" -S "${CONSUMER_SOURCE_DIR}" -B "${_build_dir}" ${_config_args})

if(MODE STREQUAL "package")
    # Make sure the loom that was found is the one just installed.
    file(STRINGS "${_build_dir}/CMakeCache.txt" _loom_dir_line REGEX "^loom_DIR:")
    string(REGEX REPLACE "^loom_DIR:[A-Z]+=" "" _found_dir "${_loom_dir_line}")
    file(REAL_PATH "${_prefix}" _prefix_real)
    file(REAL_PATH "${_found_dir}" _found_real)
    string(FIND "${_found_real}" "${_prefix_real}/" _at)
    if(NOT _at EQUAL 0)
        message(FATAL_ERROR "consumer (package): find_package(loom) found '${_found_dir}', "
                            "not the install in ${_prefix}")
    endif()
endif()

loom_step("build"
    "${CMAKE_COMMAND}" --build "${_build_dir}" ${_build_config_args})

set(_exe "${_build_dir}/bin/consumer")
if(NOT EXISTS "${_exe}" AND EXISTS "${_exe}.exe")
    set(_exe "${_exe}.exe")
endif()
if(NOT EXISTS "${_exe}")
    message(FATAL_ERROR "consumer (${MODE}): the build produced no ${_exe}")
endif()

loom_step("run" "${_exe}")
message(STATUS "consumer (${MODE}): passed")
