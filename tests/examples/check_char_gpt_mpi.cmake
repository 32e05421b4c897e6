# char_gpt trained data-parallel by mpirun -np 2, end to end (label mpi):
#   - the job ends with 0; the header, the final validation loss and the text
#     are printed once (rank 0 alone speaks), with the data-parallel line and
#     the communication report; last.safetensors and log.csv are written;
#   - the final validation loss equals that of one process on the same batches
#     to 4 significant digits (float: only the order of the sums differs);
#   - a run interrupted at step 4 and resumed from its checkpoint under mpirun
#     finishes with the uninterrupted run's loss;
#   - a batch that does not split over the processes ends the job with exit 1
#     and a message naming the rank.
#
#   cmake -DCHAR_GPT=<exe> -DMPIEXEC=<mpiexec> "-DMPIEXEC_FLAGS=<flags>" -DDATA=<text> -DWORK_DIR=<dir> -P check_char_gpt_mpi.cmake
foreach(required CHAR_GPT MPIEXEC DATA WORK_DIR)
    if(NOT DEFINED ${required})
        message(FATAL_ERROR "check_char_gpt_mpi.cmake: -D${required}=... is required")
    endif()
endforeach()
separate_arguments(mpi_flags UNIX_COMMAND "${MPIEXEC_FLAGS}")
set(common --data ${DATA} --layers 1 --heads 2 --embedding 32 --block 32 --batch 8 --steps 8 --warmup 2
    --decay-steps 8 --eval-every 4 --eval-batches 2 --threads 1 --generate 40 --checkpoint-every 0 --plot false)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# Runs the command; fails unless it exits with `expected_code`. Sets run_output.
function(run name expected_code)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 240)
    file(WRITE ${WORK_DIR}/${name}.out "${out}${err}")
    if(NOT code STREQUAL "${expected_code}")
        message(FATAL_ERROR "${name}: exit code '${code}', expected ${expected_code}:\n${out}${err}")
    endif()
    set(run_output "${out}${err}" PARENT_SCOPE)
endfunction()

function(final_loss output variable)
    if(NOT output MATCHES "final validation loss: ([0-9.]+)")
        message(FATAL_ERROR "no final validation loss in:\n${output}")
    endif()
    set(${variable} ${CMAKE_MATCH_1} PARENT_SCOPE)
endfunction()

function(count_matches text pattern variable)
    string(REGEX MATCHALL "${pattern}" found "${text}")
    list(LENGTH found n)
    set(${variable} ${n} PARENT_SCOPE)
endfunction()

run(alone 0 ${CHAR_GPT} ${common} --out ${WORK_DIR}/alone)
final_loss("${run_output}" loss_alone)

run(together 0 ${MPIEXEC} ${mpi_flags} -np 2 ${CHAR_GPT} ${common} --out ${WORK_DIR}/together)
final_loss("${run_output}" loss_together)
foreach(once "final validation loss" "data-parallel: 2 processes, 4 rows of every batch each" "^data: |\ndata: "
        "communication: ")
    count_matches("${run_output}" "${once}" n)
    if(NOT n EQUAL 1)
        message(FATAL_ERROR "'${once}' printed ${n} times, expected once:\n${run_output}")
    endif()
endforeach()
foreach(file last.safetensors log.csv tokenizer.json)
    if(NOT EXISTS ${WORK_DIR}/together/${file})
        message(FATAL_ERROR "the data-parallel run did not write ${file}")
    endif()
endforeach()
# 4 significant digits, compared as text (the losses are printed with 9).
string(SUBSTRING "${loss_alone}" 0 5 alone_digits)
string(SUBSTRING "${loss_together}" 0 5 together_digits)
if(NOT alone_digits STREQUAL together_digits)
    message(FATAL_ERROR "2 processes ended at ${loss_together}, one process at ${loss_alone}")
endif()

run(interrupted 130 ${MPIEXEC} ${mpi_flags} -np 2 ${CHAR_GPT} ${common} --out ${WORK_DIR}/resumed --interrupt-at 4)
run(resumed 0 ${MPIEXEC} ${mpi_flags} -np 2 ${CHAR_GPT} ${common} --out ${WORK_DIR}/resumed
    --resume ${WORK_DIR}/resumed/last.safetensors)
final_loss("${run_output}" loss_resumed)
string(SUBSTRING "${loss_resumed}" 0 5 resumed_digits)
if(NOT resumed_digits STREQUAL together_digits)
    message(FATAL_ERROR "resumed under mpirun: ${loss_resumed}, uninterrupted: ${loss_together}")
endif()

set(bad ${common})
list(TRANSFORM bad REPLACE "^8$" "7")  # --batch 8 -> 7 (and --steps, --decay-steps: harmless)
run(odd_batch 1 ${MPIEXEC} ${mpi_flags} -np 2 ${CHAR_GPT} ${bad} --out ${WORK_DIR}/odd)
if(NOT run_output MATCHES "char_gpt \\(rank [01]\\): --batch 7 cannot be split over 2 processes")
    message(FATAL_ERROR "no clear message for a batch that does not split:\n${run_output}")
endif()
message(STATUS "char_gpt: one process ${loss_alone}, two ${loss_together}, resumed ${loss_resumed}")
