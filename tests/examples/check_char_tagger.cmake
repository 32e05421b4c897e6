# Checks the char_tagger example end to end on a small run (hidden size 16,
# 30 steps: seconds):
#
#   - --output both trains the softmax and the CRF tagger, each in its own
#     directory with a log and a checkpoint, and prints span precision,
#     recall and F1 for both taggers and a held-out passage;
#   - --tag lays out a given text with each tagger;
#   - resuming the CRF run from its checkpoint for 10 more steps works;
#   - bad input fails with exit code 1 and a message: an unknown --output,
#     --resume with --output both, a --tag character outside the vocabulary.
#
# Run by ctest as
#   cmake -DCHAR_TAGGER=<exe> -DDATA=<text> -DWORK_DIR=<dir> -P check_char_tagger.cmake

foreach(required CHAR_TAGGER DATA WORK_DIR)
    if(NOT DEFINED ${required})
        message(FATAL_ERROR "check_char_tagger.cmake: -D${required}=... is required")
    endif()
endforeach()

set(common --data ${DATA} --hidden 16 --embedding 8 --block 40 --batch 8 --eval-every 15 --print-every 100
    --threads 1 --show 80)

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

include(${CMAKE_CURRENT_LIST_DIR}/run_example.cmake)
macro(run_tagger name expected_code)
    run_example(${CHAR_TAGGER} ${name} ${expected_code} ${ARGN})
endmacro()

# 1. Both taggers, scores, passage and --tag.
run_tagger(both 0 ${common} --steps 30 --out ${WORK_DIR}/run --tag "Tobeornottobe.")
set(score "  0\\.[0-9][0-9][0-9][0-9] +[01]\\.[0-9][0-9][0-9][0-9] +[01]\\.[0-9][0-9][0-9][0-9]")
require_match(both "${run_output}" "BiLSTM \\+ softmax +[01]\\.[0-9]+ ")
require_match(both "${run_output}" "BiLSTM \\+ CRF +[01]\\.[0-9]+ ")
require_match(both "${run_output}" "---- held-out passage as BiLSTM \\+ CRF lays it out ----")
require_match(both "${run_output}" "---- crf: --tag ----\nTo")
foreach(file softmax/log.csv softmax/last.safetensors crf/log.csv crf/last.safetensors)
    if(NOT EXISTS ${WORK_DIR}/run/${file})
        message(FATAL_ERROR "run both: ${file} was not written")
    endif()
endforeach()

# 2. Resume the CRF run for 10 more steps.
run_tagger(resume 0 ${common} --output crf --steps 40 --out ${WORK_DIR}/run
    --resume ${WORK_DIR}/run/crf/last.safetensors)
require_match(resume "${run_output}" "resum")
require_match(resume "${run_output}" "BiLSTM \\+ CRF ")

# 3. Errors.
run_tagger(bad_output 1 ${common} --output hmm --out ${WORK_DIR}/bad)
require_match(bad_output "${run_output}" "--output must be softmax, crf or both, got 'hmm'")
run_tagger(bad_resume 1 ${common} --resume ${WORK_DIR}/run/crf/last.safetensors --out ${WORK_DIR}/bad)
require_match(bad_resume "${run_output}" "--resume needs --output softmax or crf")
run_tagger(bad_tag 1 ${common} --output crf --steps 5 --out ${WORK_DIR}/bad --tag "café")
require_match(bad_tag "${run_output}" "is not in the training text's vocabulary")
