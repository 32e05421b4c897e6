# Checks the char_bert example end to end on a tiny model (1 layer, d 32,
# windows of 24 characters, 20 steps on one thread: seconds even in a Debug
# build):
#
#   - training prints the validation loss and the masked-token accuracy at
#     every evaluation, the final accuracy, validation examples (masked input,
#     prediction, truth) and the --fill sentence filled both ways, and writes
#     log.csv, last/best.safetensors and tokenizer.json;
#   - a second run with the same seed gets the same final accuracy and loss;
#     a run interrupted at step 10 and resumed from its checkpoint too (the
#     window and masking generators are checkpointed);
#   - --load fills a sentence from the saved checkpoint without training;
#   - bad input fails with exit code 1 and a message: a --fill character the
#     vocabulary lacks, a --fill longer than the block, --mask-probability 0,
#     --load without --fill, a missing checkpoint.
#
# Run by ctest as
#   cmake -DCHAR_BERT=<exe> -DDATA=<text> -DWORK_DIR=<dir> -P check_char_bert.cmake

foreach(required CHAR_BERT DATA WORK_DIR)
    if(NOT DEFINED ${required})
        message(FATAL_ERROR "check_char_bert.cmake: -D${required}=... is required")
    endif()
endforeach()

set(common --data ${DATA} --layers 1 --heads 2 --embedding 32 --block 24 --batch 8 --steps 20
    --warmup 2 --decay-steps 20 --eval-every 10 --eval-batches 4 --examples 2 --threads 1
    --checkpoint-every 0 --print-every 10 --plot false)
set(sentence "To be or ___ to be")

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# Runs char_bert with the given arguments; fails unless the exit code is
# `expected_code`. Sets run_output (stdout and stderr) in the caller.
include(${CMAKE_CURRENT_LIST_DIR}/run_example.cmake)
macro(run_char_bert name expected_code)
    run_example(${CHAR_BERT} ${name} ${expected_code} ${ARGN})
endmacro()

# The final line without its timing: "final validation: masked-token accuracy
# 12.34% (56 of 789), masked loss 3.2100 nats/masked char".
set(final_pattern "final validation: masked-token accuracy [0-9.]+% \\([0-9]+ of [0-9]+\\), masked loss [0-9.]+ nats/masked char")
function(final_line name text result)
    if(NOT text MATCHES "${final_pattern}")
        message(FATAL_ERROR "run ${name}: no final validation line:\n${text}")
    endif()
    set(${result} "${CMAKE_MATCH_0}" PARENT_SCOPE)
endfunction()

# 1. Training: evaluations, the final score, examples, the fill, the files.
run_char_bert(train_a 0 ${common} --seed 7 --fill ${sentence} --out ${WORK_DIR}/a)
require_match(train_a "${run_output}" "bidirectional")
require_match(train_a "${run_output}" "step 10: validation loss [0-9.]+ nats/masked char")
require_match(train_a "${run_output}" "step 10: masked-token accuracy [0-9.]+% \\([0-9]+ of [0-9]+\\)")
require_match(train_a "${run_output}" "masked:    [^\n]*_[^\n]*\npredicted: [^\n]+\ntruth:     [^\n]+\n +[ x^]*[x^]")
# Both fillings keep the known characters and fill every blank (a line break
# shows as the 3-byte "⏎", hence [^_\n]+ rather than exactly three bytes).
require_match(train_a "${run_output}" "most confident first: To be or [^_\n]+ to be\n")
require_match(train_a "${run_output}" "all in one pass: +To be or [^_\n]+ to be\n")
final_line(train_a "${run_output}" final_a)
foreach(file log.csv last.safetensors best.safetensors tokenizer.json)
    if(NOT EXISTS ${WORK_DIR}/a/${file})
        message(FATAL_ERROR "run train_a: no ${WORK_DIR}/a/${file}")
    endif()
endforeach()

# 2. The same seed gives the same result; so does an interrupted and resumed run.
run_char_bert(train_b 0 ${common} --seed 7 --fill= --out ${WORK_DIR}/b)
final_line(train_b "${run_output}" final_b)
if(NOT final_b STREQUAL final_a)
    message(FATAL_ERROR "two runs with --seed 7 differ:\n  ${final_a}\n  ${final_b}")
endif()
run_char_bert(interrupted 130 ${common} --seed 7 --fill= --interrupt-at 10 --out ${WORK_DIR}/c)
require_match(interrupted "${run_output}" "interrupted after step 10")
run_char_bert(resumed 0 ${common} --seed 7 --fill= --out ${WORK_DIR}/c --resume ${WORK_DIR}/c/last.safetensors)
require_match(resumed "${run_output}" "resumed from [^\n]* at step 10")
final_line(resumed "${run_output}" final_c)
if(NOT final_c STREQUAL final_a)
    message(FATAL_ERROR "an interrupted and resumed run differs from an uninterrupted one:\n  ${final_a}\n  ${final_c}")
endif()

# 3. Filling from the checkpoint, without training.
run_char_bert(load 0 --load ${WORK_DIR}/a/last.safetensors --fill "Now is the w_nter")
require_match(load "${run_output}" "bert 1 layers, 2 heads, d 32, block 24")
require_match(load "${run_output}" "most confident first: Now is the w[^_\n]+nter\n")
if(run_output MATCHES "step [0-9]+")
    message(FATAL_ERROR "run load: --load trained:\n${run_output}")
endif()

# 4. Errors: exit code 1 and a message naming the problem.
run_char_bert(bad_character 1 ${common} --fill "snow @ ___" --out ${WORK_DIR}/bad)
require_match(bad_character "${run_output}" "char_bert: --fill: character '[^']+' at position 5 is not in the model's vocabulary")
run_char_bert(too_long 1 ${common} --fill "a sentence much longer than twenty-four characters" --out ${WORK_DIR}/bad)
require_match(too_long "${run_output}" "more than the model's block size 24")
run_char_bert(bad_probability 1 ${common} --mask-probability 0 --out ${WORK_DIR}/bad)
require_match(bad_probability "${run_output}" "--mask-probability must be in \\(0, 1\\]")
run_char_bert(load_nothing 1 --load ${WORK_DIR}/a/last.safetensors --fill=)
require_match(load_nothing "${run_output}" "nothing to do without --fill")
run_char_bert(load_missing 1 --load ${WORK_DIR}/no-such.safetensors)
require_match(load_missing "${run_output}" "no-such\\.safetensors")
if(EXISTS ${WORK_DIR}/bad/last.safetensors)
    message(FATAL_ERROR "a failed run wrote ${WORK_DIR}/bad/last.safetensors")
endif()

message(STATUS "char_bert: ${final_a}; same seed same result, resume exact, --load and errors as expected")
