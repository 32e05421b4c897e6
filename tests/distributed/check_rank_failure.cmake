# Runs rank_failure under mpirun and checks that the job ends, non-zero, within
# TIMEOUT seconds, with a message that says which process failed.
#   cmake -DMPIEXEC=... -DMPIEXEC_FLAGS="..." -DPROGRAM=... -DMODE=kill|throw -P check_rank_failure.cmake
separate_arguments(flags UNIX_COMMAND "${MPIEXEC_FLAGS}")
string(TIMESTAMP start "%s")
execute_process(
    COMMAND ${MPIEXEC} ${flags} -np 2 ${PROGRAM} ${MODE}
    RESULT_VARIABLE result
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output
    TIMEOUT 60)
string(TIMESTAMP end "%s")
math(EXPR seconds "${end} - ${start}")
message(STATUS "mpirun returned '${result}' after ${seconds} s:\n${output}")
if(result STREQUAL "0")
    message(FATAL_ERROR "the job with a failing process exited with 0")
endif()
if(result MATCHES "timeout|Process terminated")
    message(FATAL_ERROR "the job with a failing process did not end within 60 s: the others hung")
endif()
if(MODE STREQUAL "kill")
    set(expected "rank 1.*(signal 9|Killed)")
else()
    set(expected "rank 1: rank_failure: a deliberate error at step 5; ending the job")
endif()
if(NOT output MATCHES "${expected}")
    message(FATAL_ERROR "the output does not say what failed (expected /${expected}/)")
endif()
if(output MATCHES "finished all steps")
    message(FATAL_ERROR "a process went on after the failure")
endif()
