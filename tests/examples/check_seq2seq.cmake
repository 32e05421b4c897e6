# Checks the seq2seq example end to end on small runs (hidden size 16, 40
# steps: seconds):
#
#   - training prints the held-out exact match and an attention heat map, and
#     writes a log and checkpoints;
#   - a run interrupted at step 20 and resumed ends with exactly the validation
#     loss and exact match of the uninterrupted run (one thread);
#   - --beam with --coverage and the coverage penalty decodes the held-out set;
#   - --translate reads lines from a file with the trained checkpoint and
#     writes one output per line; a character outside the source vocabulary
#     and an empty line fail with a message naming the line;
#   - bad flags fail with exit code 1 and a message (penalties without --beam,
#     a file that is not a checkpoint).
#
# Run by ctest as
#   cmake -DSEQ2SEQ=<exe> -DWORK_DIR=<dir> -P check_seq2seq.cmake

foreach(required SEQ2SEQ WORK_DIR)
    if(NOT DEFINED ${required})
        message(FATAL_ERROR "check_seq2seq.cmake: -D${required}=... is required")
    endif()
endforeach()

set(common --hidden 16 --embedding 8 --batch 16 --validation 64 --eval-every 20 --checkpoint-every 20
    --print-every 100 --threads 1 --show 1)

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

include(${CMAKE_CURRENT_LIST_DIR}/run_example.cmake)
macro(run_seq2seq name expected_code)
    run_example(${SEQ2SEQ} ${name} ${expected_code} ${ARGN})
endmacro()

# The final validation loss and the exact-match line of a run's output.
function(final_result text out_var)
    string(REGEX MATCH "final validation loss: [0-9.]+" loss "${text}")
    string(REGEX MATCH "held-out exact match: [^\n]*" accuracy "${text}")
    if(loss STREQUAL "" OR accuracy STREQUAL "")
        message(FATAL_ERROR "no final validation loss or exact match in:\n${text}")
    endif()
    set(${out_var} "${loss} | ${accuracy}" PARENT_SCOPE)
endfunction()

# 1. A whole run: exact match, heat map, files.
run_seq2seq(full 0 ${common} --steps 40 --out ${WORK_DIR}/full)
require_match(full "${run_output}" "held-out exact match: [0-9]+\\.[0-9][0-9] % of 64 \\(greedy\\)")
require_match(full "${run_output}" "---- \"[^\"]+\" -> \"[-0-9]*\" \\(expected [-0-9]+\\)\n    [^\n]+\n  [-0-9$] [ .:=+*#%@-]+\n")
foreach(file log.csv last.safetensors best.safetensors)
    if(NOT EXISTS ${WORK_DIR}/full/${file})
        message(FATAL_ERROR "run full: ${file} was not written")
    endif()
endforeach()
final_result("${run_output}" uninterrupted)

# 2. Interrupted at step 20 and resumed: the same end.
run_seq2seq(interrupted 130 ${common} --steps 40 --interrupt-at 20 --out ${WORK_DIR}/resumed)
run_seq2seq(resumed 0 ${common} --steps 40 --out ${WORK_DIR}/resumed --resume ${WORK_DIR}/resumed/last.safetensors)
final_result("${run_output}" resumed)
if(NOT resumed STREQUAL uninterrupted)
    message(FATAL_ERROR "the resumed run ended with '${resumed}', the uninterrupted one with '${uninterrupted}'")
endif()

# 3. Beam search with coverage and the coverage penalty, on the numbers task with GRUs and Luong attention.
run_seq2seq(beam 0 ${common} --steps 10 --task numbers --cell gru --attention luong --coverage true --beam 3
    --coverage-penalty 0.2 --length-penalty 0.6 --out ${WORK_DIR}/beam)
require_match(beam "${run_output}" "held-out exact match: [0-9]+\\.[0-9][0-9] % of 64 \\(beam 3\\)")
require_match(beam "${run_output}" "attention luong with coverage")

# 4. --translate with the trained checkpoint.
file(WRITE ${WORK_DIR}/lines.txt "March 3, 1998\n31.12.2020\n")
execute_process(COMMAND ${SEQ2SEQ} --translate ${WORK_DIR}/lines.txt --load ${WORK_DIR}/full/last.safetensors
    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code EQUAL 0 OR NOT out MATCHES "^[-0-9]*( \\(unfinished\\))?\n[-0-9]*( \\(unfinished\\))?\n$")
    message(FATAL_ERROR "run translate: exit code ${code}, expected one output per line:\n${out}\n${err}")
endif()
file(WRITE ${WORK_DIR}/bad_lines.txt "March 3, 1998\nMärz 3\n")
run_seq2seq(bad_character 1 --translate ${WORK_DIR}/bad_lines.txt --load ${WORK_DIR}/full/last.safetensors)
require_match(bad_character "${run_output}" "at position 1 of the source on line 2 is not in the source vocabulary")
file(WRITE ${WORK_DIR}/empty_line.txt "\n")
run_seq2seq(empty_line 1 --translate ${WORK_DIR}/empty_line.txt --load ${WORK_DIR}/full/last.safetensors)
require_match(empty_line "${run_output}" "the source on line 1 is empty")

# 5. Bad flags.
run_seq2seq(bad_attention 1 ${common} --attention additive --out ${WORK_DIR}/bad)
require_match(bad_attention "${run_output}" "unknown attention 'additive' \\(expected none, bahdanau or luong\\)")
run_seq2seq(bad_coverage 1 ${common} --attention none --coverage true --out ${WORK_DIR}/bad)
require_match(bad_coverage "${run_output}" "coverage needs attention")
run_seq2seq(bad_task 1 ${common} --task sort --out ${WORK_DIR}/bad)
require_match(bad_task "${run_output}" "--task must be dates or numbers, got 'sort'")
run_seq2seq(no_checkpoint 1 --translate ${WORK_DIR}/lines.txt)
require_match(no_checkpoint "${run_output}" "--translate needs --load")
run_seq2seq(not_a_checkpoint 1 --translate ${WORK_DIR}/lines.txt --load ${WORK_DIR}/lines.txt)
require_match(not_a_checkpoint "${run_output}" "loom::safetensors: '[^']*lines.txt'")
run_seq2seq(greedy_penalty 1 ${common} --length-penalty 0.6 --out ${WORK_DIR}/bad)
require_match(greedy_penalty "${run_output}" "--length-penalty and --coverage-penalty apply to beam search: give --beam > 1")
