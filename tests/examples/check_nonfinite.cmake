# Checks char_rnn's guard against a non-finite loss (--inject-nan-at makes the
# loss of one step NaN, once, as a transient fault would):
#
#   stop:    the run stops at that step with exit code 2, says which step, and
#            leaves the last good checkpoint (step 7) as it was: resuming it
#            starts at step 7
#   restore: the run reloads the step-7 checkpoint, halves the learning rate,
#            and trains to the end (exit code 0)
#
#   cmake -DCHAR_RNN=<exe> -DDATA=<text> -DWORK_DIR=<dir> -P check_nonfinite.cmake

foreach(required CHAR_RNN DATA WORK_DIR)
    if(NOT DEFINED ${required})
        message(FATAL_ERROR "check_nonfinite.cmake: -D${required}=... is required")
    endif()
endforeach()

set(common --data ${DATA} --threads 1 --steps 20 --eval-every 0 --eval-batches 4 --sample-every 0
    --generate 10 --checkpoint-every 7 --seed 3 --print-every 5 --hidden 16 --layers 1 --embedding 8
    --seq 8 --batch 2 --inject-nan-at 12)
file(REMOVE_RECURSE ${WORK_DIR})

function(run_char_rnn expected_code)
    execute_process(COMMAND ${CHAR_RNN} ${common} ${ARGN}
        RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code STREQUAL "${expected_code}")
        message(FATAL_ERROR "char_rnn ${ARGN}: exit code ${code}, expected ${expected_code}\n${out}\n${err}")
    endif()
    set(run_output "${out}" PARENT_SCOPE)
endfunction()

function(expect pattern)
    if(NOT run_output MATCHES "${pattern}")
        message(FATAL_ERROR "expected output matching '${pattern}', got:\n${run_output}")
    endif()
endfunction()

run_char_rnn(2 --out ${WORK_DIR}/stop --on-nonfinite stop)
expect("step 12: non-finite loss nan; the update was not applied\\. Stopping")
run_char_rnn(0 --out ${WORK_DIR}/stop --resume ${WORK_DIR}/stop/last.safetensors --inject-nan-at 0)
expect("resumed from .* at step 7")

run_char_rnn(0 --out ${WORK_DIR}/restore --on-nonfinite restore)
expect("step 12: non-finite loss nan; the update was not applied\\. Restored .*last\\.safetensors \\(step 7\\), learning rate scaled by 0\\.5")
expect("final validation loss: [0-9]")
message(STATUS "the NaN guard stops and restores as it should")
