# Checks that an interrupted and resumed char_rnn run is the same run as an
# uninterrupted one, bit for bit (one thread, same seed):
#
#   A: train STEPS steps
#   B: the same, but Ctrl-C after step 17 (--interrupt-at raises SIGINT there;
#      the handler saves last.safetensors and the program exits with 130)
#   C: --resume B's checkpoint and train to STEPS
#
# C's log.csv (step, train loss, validation loss; 9 significant digits) and its
# final validation loss must equal A's exactly. Run by ctest as
#   cmake -DCHAR_RNN=<exe> -DDATA=<text> -DWORK_DIR=<dir> -DSCENARIO=<name> -P check_resume.cmake

foreach(required CHAR_RNN DATA WORK_DIR SCENARIO)
    if(NOT DEFINED ${required})
        message(FATAL_ERROR "check_resume.cmake: -D${required}=... is required")
    endif()
endforeach()

set(common --data ${DATA} --threads 1 --steps 30 --eval-every 10 --eval-batches 8 --sample-every 0
    --generate 20 --checkpoint-every 7 --seed 5 --print-every 1 --hidden 32 --embedding 16 --seq 16 --batch 4)
if(SCENARIO STREQUAL "lstm_adam")
    # Adam state, a cosine schedule, dropout (the model's generator) and the
    # hidden state carried across batches.
    list(APPEND common --cell lstm --layers 2 --dropout 0.2 --optimizer adam --schedule cosine --warmup 5
        --batching stream)
elseif(SCENARIO STREQUAL "gru_sgd")
    # SGD momentum buffers, random windows (the batcher's generator) and
    # gradient accumulation.
    list(APPEND common --cell gru --layers 1 --optimizer sgd --lr 0.5 --batching random --accumulate 2)
else()
    message(FATAL_ERROR "check_resume.cmake: unknown SCENARIO '${SCENARIO}'")
endif()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

function(run_char_rnn name expected_code)
    execute_process(COMMAND ${CHAR_RNN} ${common} ${ARGN}
        RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    file(WRITE ${WORK_DIR}/${name}.out "${out}${err}")
    if(NOT code STREQUAL "${expected_code}")
        message(FATAL_ERROR "run ${name}: exit code ${code}, expected ${expected_code}\n${out}\n${err}")
    endif()
    set(run_output "${out}" PARENT_SCOPE)
endfunction()

# The step, train_loss and val_loss columns of a log (time columns differ).
function(read_losses log result)
    file(STRINGS ${log} lines)
    set(losses "")
    foreach(line IN LISTS lines)
        string(REGEX MATCH "^[^,]*,[^,]*,[^,]*" columns "${line}")
        list(APPEND losses "${columns}")
    endforeach()
    set(${result} "${losses}" PARENT_SCOPE)
endfunction()

function(final_loss output result)
    string(REGEX MATCH "final validation loss: [^ ]+" line "${output}")
    if(line STREQUAL "")
        message(FATAL_ERROR "no final validation loss in:\n${output}")
    endif()
    set(${result} "${line}" PARENT_SCOPE)
endfunction()

run_char_rnn(uninterrupted 0 --out ${WORK_DIR}/a)
final_loss("${run_output}" loss_a)

run_char_rnn(interrupted 130 --out ${WORK_DIR}/b --interrupt-at 17)
if(NOT run_output MATCHES "interrupted after step 17")
    message(FATAL_ERROR "run interrupted: no 'interrupted after step 17' message:\n${run_output}")
endif()
if(NOT EXISTS ${WORK_DIR}/b/last.safetensors)
    message(FATAL_ERROR "run interrupted: no checkpoint ${WORK_DIR}/b/last.safetensors")
endif()

run_char_rnn(resumed 0 --out ${WORK_DIR}/b --resume ${WORK_DIR}/b/last.safetensors)
if(NOT run_output MATCHES "resumed from .* at step 17")
    message(FATAL_ERROR "run resumed: no 'resumed ... at step 17' message:\n${run_output}")
endif()
final_loss("${run_output}" loss_c)

read_losses(${WORK_DIR}/a/log.csv log_a)
read_losses(${WORK_DIR}/b/log.csv log_c)
if(NOT log_a STREQUAL log_c)
    string(REPLACE ";" "\n" log_a "${log_a}")
    string(REPLACE ";" "\n" log_c "${log_c}")
    message(FATAL_ERROR "the resumed run's losses differ from the uninterrupted run's\n"
        "uninterrupted:\n${log_a}\nresumed:\n${log_c}")
endif()
if(NOT loss_a STREQUAL loss_c)
    message(FATAL_ERROR "final loss differs: uninterrupted '${loss_a}', resumed '${loss_c}'")
endif()
message(STATUS "${SCENARIO}: resumed run matches the uninterrupted one (${loss_a})")
