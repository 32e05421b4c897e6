# Checks the word2vec example end to end on a small run (dimension 16, one
# epoch, narrow windows, strong subsampling: seconds even in a Debug build):
#
#   - training writes vectors.vec ("<count> 16" and one line per word),
#     context_vectors.vec and tokenizer.json, and prints the probe neighbours;
#   - a second run with the same seed writes the same files byte for byte, and
#     a run with another seed different vectors;
#   - --neighbours queries the saved vectors without training;
#   - bad input fails with exit code 1 and a message: --dim 0, an --init whose
#     vocabulary differs from the text's, a query word that is not there.
#
# Run by ctest as
#   cmake -DWORD2VEC=<exe> -DDATA=<text> -DWORK_DIR=<dir> -P check_word2vec.cmake

foreach(required WORD2VEC DATA WORK_DIR)
    if(NOT DEFINED ${required})
        message(FATAL_ERROR "check_word2vec.cmake: -D${required}=... is required")
    endif()
endforeach()

set(common --data ${DATA} --dim 16 --epochs 1 --window 3 --negative 3 --sample 1e-4 --print-every 100000 --top 3)

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

# Runs word2vec with the given arguments; fails unless the exit code is
# `expected_code`. Sets run_output (stdout and stderr) in the caller.
include(${CMAKE_CURRENT_LIST_DIR}/run_example.cmake)
macro(run_word2vec name expected_code)
    run_example(${WORD2VEC} ${name} ${expected_code} ${ARGN})
endmacro()

function(files_equal a b result)
    execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${a} ${b} RESULT_VARIABLE code)
    if(code EQUAL 0)
        set(${result} TRUE PARENT_SCOPE)
    else()
        set(${result} FALSE PARENT_SCOPE)
    endif()
endfunction()

# 1. Training writes its three files and reports.
run_word2vec(train_a 0 ${common} --seed 7 --out ${WORK_DIR}/a)
require_match(train_a "${run_output}" "epoch 1/1 \\| 100\\.0% \\| loss [0-9]")
set(neighbour_line "  [^ \n]+ +-?[01]\\.[0-9][0-9][0-9]\n")  # "  word   0.873"
require_match(train_a "${run_output}" "nearest to king:\n${neighbour_line}")
require_match(train_a "${run_output}" "trained in [0-9.]+ s")
foreach(file vectors.vec context_vectors.vec tokenizer.json)
    if(NOT EXISTS ${WORK_DIR}/a/${file})
        message(FATAL_ERROR "run train_a: no ${WORK_DIR}/a/${file}")
    endif()
endforeach()

# The header line, the number of lines, and the shape of a row. (Counted with
# a regex over the text, not as a CMake list: words like ";" would split it.)
file(STRINGS ${WORK_DIR}/a/vectors.vec header LIMIT_COUNT 1)
if(NOT header MATCHES "^([0-9]+) 16$")
    message(FATAL_ERROR "vectors.vec: the first line is '${header}', expected '<count> 16'")
endif()
set(count ${CMAKE_MATCH_1})
if(count LESS 1000)
    message(FATAL_ERROR "vectors.vec: only ${count} words (tinyshakespeare has thousands at --min-count 5)")
endif()
file(READ ${WORK_DIR}/a/vectors.vec text)
string(REGEX MATCHALL "\n" line_ends "${text}")
list(LENGTH line_ends lines)
math(EXPR expected_lines "${count} + 1")
if(NOT lines EQUAL expected_lines)
    message(FATAL_ERROR "vectors.vec: ${lines} lines, expected ${expected_lines} (the header and ${count} words)")
endif()
set(value "-?[0-9][0-9.e+-]*")
string(REPEAT " ${value}" 16 sixteen_values)
if(NOT text MATCHES "\n[^ \n]+${sixteen_values}\n")
    message(FATAL_ERROR "vectors.vec: no line of a word and 16 numbers after the header")
endif()

# 2. The same seed gives the same files; another seed other vectors.
run_word2vec(train_b 0 ${common} --seed 7 --out ${WORK_DIR}/b)
foreach(file vectors.vec context_vectors.vec)
    files_equal(${WORK_DIR}/a/${file} ${WORK_DIR}/b/${file} same)
    if(NOT same)
        message(FATAL_ERROR "two runs with --seed 7 wrote different ${file} (${WORK_DIR}/a, ${WORK_DIR}/b)")
    endif()
endforeach()
run_word2vec(train_c 0 ${common} --seed 8 --out ${WORK_DIR}/c)
files_equal(${WORK_DIR}/a/vectors.vec ${WORK_DIR}/c/vectors.vec same)
if(same)
    message(FATAL_ERROR "runs with --seed 7 and --seed 8 wrote the same vectors.vec")
endif()

# 3. Querying the saved vectors: no training, the neighbours of each word.
run_word2vec(query 0 --init ${WORK_DIR}/a --neighbours King,night --top 3)
require_match(query "${run_output}" "vectors.vec: ${count} words, dimension 16")
string(REPEAT "${neighbour_line}" 3 three_neighbours)
require_match(query "${run_output}" "nearest to king:\n${three_neighbours}nearest to night:\n${three_neighbours}")
if(run_output MATCHES "epoch ")
    message(FATAL_ERROR "run query: --neighbours trained:\n${run_output}")
endif()

# 4. Errors: exit code 1 and a message naming the problem.
run_word2vec(bad_dim 1 ${common} --dim 0 --out ${WORK_DIR}/bad)
require_match(bad_dim "${run_output}" "word2vec: --dim must be at least 1, got 0")
run_word2vec(bad_init 1 ${common} --min-count 3 --init ${WORK_DIR}/a --out ${WORK_DIR}/bad)
require_match(bad_init "${run_output}" "has a different vocabulary")
run_word2vec(bad_query 1 --init ${WORK_DIR}/a --neighbours no-such-word)
require_match(bad_query "${run_output}" "'no-such-word' is not in ")
if(EXISTS ${WORK_DIR}/bad)
    message(FATAL_ERROR "a failed run wrote ${WORK_DIR}/bad")
endif()

message(STATUS "word2vec: ${count} words, same seed same vectors, query and errors as expected")
