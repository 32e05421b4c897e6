# The two helpers the end-to-end example checks (tests/examples/check_*.cmake)
# share, included by each:
#
#   run_example(<program> <name> <expected exit code> <arguments...>)
#       runs the program, writes its stdout and stderr to ${WORK_DIR}/<name>.out,
#       fails unless it exits with the expected code, and sets run_output (both
#       streams) in the caller's scope;
#   require_match(<name> <text> <regex>)
#       fails, showing the text, unless it matches.

function(run_example program name expected_code)
    execute_process(COMMAND ${program} ${ARGN}
        RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    file(WRITE ${WORK_DIR}/${name}.out "${out}${err}")
    if(NOT code STREQUAL "${expected_code}")
        message(FATAL_ERROR "run ${name}: exit code ${code}, expected ${expected_code}\n${out}\n${err}")
    endif()
    set(run_output "${out}${err}" PARENT_SCOPE)
endfunction()

function(require_match name text pattern)
    if(NOT text MATCHES "${pattern}")
        message(FATAL_ERROR "run ${name}: the output does not match '${pattern}':\n${text}")
    endif()
endfunction()
