# Checks examples/generate end to end on tiny char_rnn checkpoints (one per
# cell kind, 20 training steps, one thread):
#
#   every cell:  greedy, sample and beam run (exit code 0) and their text starts
#                with the prompt
#   lstm:        greedy is the same text in two runs; sample with the same seed
#                is the same text, with another seed a different one; beam prints
#                --n results whose scores are sorted (best first); --stop ends
#                the text at the stop string; --n samples come with separators;
#                a prompt character outside the vocabulary is an error naming it
#                (U+20AC), or with --drop-unknown a note; a missing checkpoint and
#                a file that is not a checkpoint are errors naming the file.
#                --input (one batch of prompts of different lengths, from a file
#                and from stdin): output k, under "==== prompt k/N ====", is what
#                --prompt <line k> writes alone, greedy and sampled (seed
#                --seed + k - 1); an empty line and --method beam are errors.
#
#   char_cnn, char_gpt (when -DCHAR_CNN / -DCHAR_GPT are given): a tiny model
#                of each; greedy (twice, the same text), sample and beam run
#                through the same generate program (model.kind picks the
#                decoder); char_gpt with --context-keep 0 and with the sliding
#                window, on a block of 16 so that 60 characters overflow it.
#                --input: char_cnn takes lines of different lengths, char_gpt
#                lines of one length (and says so for others).
#
#   quantized:   see the section at the end (-DQUANTIZE).
#
#   tokenizers:  an lstm trained with --tokenizer bpe decodes a prompt with a
#                character it never saw (bytes are always tokens), greedy twice
#                gives the same text, beam runs; one with --tokenizer word
#                turns an unknown prompt word into <unk> and puts spaces between
#                the generated words (piece(id, previous)).
#
#   cmake -DCHAR_RNN=<exe> -DGENERATE=<exe> -DDATA=<text> -DWORK_DIR=<dir>
#         [-DCHAR_CNN=<exe>] [-DCHAR_GPT=<exe>] [-DQUANTIZE=<exe>] -P check_generate.cmake

foreach(required CHAR_RNN GENERATE DATA WORK_DIR)
    if(NOT DEFINED ${required})
        message(FATAL_ERROR "check_generate.cmake: -D${required}=... is required")
    endif()
endforeach()

file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
# Prompts for --input: three lengths, and three of one length.
file(WRITE ${WORK_DIR}/prompts.txt "ROMEO:\nKING HENRY:\nA\n")
file(WRITE ${WORK_DIR}/same_length.txt "ROMEO:\nHENRY:\nJULIA:\n")

set(prompt "ROMEO:")

# Runs generate; sets gen_out / gen_err in the caller.
function(run_generate name expected_code)
    execute_process(COMMAND ${GENERATE} ${ARGN}
        RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    file(WRITE ${WORK_DIR}/${name}.out "${out}")
    file(WRITE ${WORK_DIR}/${name}.err "${err}")
    if(NOT code STREQUAL "${expected_code}")
        message(FATAL_ERROR "generate ${name}: exit code ${code}, expected ${expected_code}\n"
            "args: ${ARGN}\nstdout:\n${out}\nstderr:\n${err}")
    endif()
    set(gen_out "${out}" PARENT_SCOPE)
    set(gen_err "${err}" PARENT_SCOPE)
endfunction()

function(expect_prefix name text)
    string(LENGTH "${prompt}" n)
    string(SUBSTRING "${text}" 0 ${n} head)
    if(NOT head STREQUAL prompt)
        message(FATAL_ERROR "generate ${name}: output does not start with '${prompt}':\n${text}")
    endif()
endfunction()

function(expect_match name text pattern)
    if(NOT text MATCHES "${pattern}")
        message(FATAL_ERROR "generate ${name}: expected output matching '${pattern}', got:\n${text}")
    endif()
endfunction()

# The beams' texts and scores of a beam run: "==== beam <i>/<n> score=<s> ====" then the text.
function(check_beams name text count)
    string(REGEX MATCHALL "==== beam [0-9]+/[0-9]+ score=[-+0-9.eE]+ ====\n[^\n]*" beams "${text}")
    list(LENGTH beams found)
    if(NOT found EQUAL count)
        message(FATAL_ERROR "generate ${name}: ${found} beams printed, expected ${count}:\n${text}")
    endif()
    set(previous "")
    foreach(beam IN LISTS beams)
        string(REGEX REPLACE "^==== beam [0-9]+/[0-9]+ score=([-+0-9.eE]+) ====\n.*$" "\\1" score "${beam}")
        string(REGEX REPLACE "^==== beam [0-9]+/[0-9]+ score=[-+0-9.eE]+ ====\n" "" beam_text "${beam}")
        expect_prefix("${name} (beam text)" "${beam_text}")
        if(NOT previous STREQUAL "")
            # Best first: each score at most the previous (if() compares numbers as doubles).
            if(score GREATER previous)
                message(FATAL_ERROR "generate ${name}: beam scores not sorted (${previous} then ${score}):\n${text}")
            endif()
        endif()
        set(previous "${score}")
    endforeach()
endfunction()

set(train_common --data ${DATA} --threads 1 --steps 20 --hidden 16 --layers 1 --embedding 8 --seq 16 --batch 4
    --eval-every 0 --eval-batches 2 --sample-every 0 --generate 5 --seed 3)

foreach(cell lstm gru rnn)
    execute_process(COMMAND ${CHAR_RNN} ${train_common} --cell ${cell} --out ${WORK_DIR}/${cell}
        RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code STREQUAL "0" OR NOT EXISTS ${WORK_DIR}/${cell}/last.safetensors)
        message(FATAL_ERROR "char_rnn --cell ${cell}: exit code ${code}, no checkpoint\n${out}\n${err}")
    endif()
    set(ckpt ${WORK_DIR}/${cell}/last.safetensors)
    set(common ${ckpt} --prompt ${prompt} --max-chars 60 --threads 1)

    run_generate(${cell}_greedy 0 ${common} --method greedy)
    expect_prefix(${cell}_greedy "${gen_out}")
    expect_match(${cell}_greedy "${gen_err}" "chars/s")
    expect_match(${cell}_greedy "${gen_err}" "ms per char")
    run_generate(${cell}_sample 0 ${common} --method sample --seed 1)
    expect_prefix(${cell}_sample "${gen_out}")
    run_generate(${cell}_beam 0 ${common} --method beam --beam 3 --n 3 --max-chars 20)
    check_beams(${cell}_beam "${gen_out}" 3)
endforeach()

# The other model kinds, through the same program.
set(other_common --data ${DATA} --threads 1 --steps 20 --batch 4 --eval-every 0 --eval-batches 2 --sample-every 0
    --generate 5 --seed 3)
set(other_kinds "")
if(DEFINED CHAR_CNN)
    list(APPEND other_kinds cnn)
    set(cnn_train ${CHAR_CNN} ${other_common} --channels 16 --layers 2 --seq 16)
endif()
if(DEFINED CHAR_GPT)
    list(APPEND other_kinds gpt)
    set(gpt_train ${CHAR_GPT} ${other_common} --embedding 16 --heads 2 --layers 2 --block 16)
endif()
foreach(kind IN LISTS other_kinds)
    execute_process(COMMAND ${${kind}_train} --out ${WORK_DIR}/${kind}
        RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code STREQUAL "0" OR NOT EXISTS ${WORK_DIR}/${kind}/last.safetensors)
        message(FATAL_ERROR "${kind} training: exit code ${code}, no checkpoint\n${out}\n${err}")
    endif()
    set(common ${WORK_DIR}/${kind}/last.safetensors --prompt ${prompt} --max-chars 60 --threads 1)
    run_generate(${kind}_greedy_a 0 ${common} --method greedy)
    expect_prefix(${kind}_greedy_a "${gen_out}")
    set(first "${gen_out}")
    run_generate(${kind}_greedy_b 0 ${common} --method greedy)
    if(NOT gen_out STREQUAL first)
        message(FATAL_ERROR "${kind}: greedy differs between two runs:\n${first}\n----\n${gen_out}")
    endif()
    run_generate(${kind}_sample 0 ${common} --method sample --seed 1)
    expect_prefix(${kind}_sample "${gen_out}")
    run_generate(${kind}_beam 0 ${common} --method beam --beam 3 --n 3 --max-chars 20)
    check_beams(${kind}_beam "${gen_out}" 3)
    run_generate(${kind}_batch 0 ${WORK_DIR}/${kind}/last.safetensors --input ${WORK_DIR}/same_length.txt
        --max-chars 20 --threads 1 --method greedy)
    expect_match(${kind}_batch "${gen_out}" "^==== prompt 1/3 ====\nROMEO:.*\n==== prompt 2/3 ====\nHENRY:.*\n==== prompt 3/3 ====\nJULIA:")
endforeach()
if(DEFINED CHAR_CNN)
    run_generate(cnn_batch_lengths 0 ${WORK_DIR}/cnn/last.safetensors --input ${WORK_DIR}/prompts.txt --max-chars 20
        --threads 1 --method sample)
    expect_match(cnn_batch_lengths "${gen_out}" "==== prompt 3/3 ====\nA")
endif()
if(DEFINED CHAR_GPT)
    run_generate(gpt_batch_lengths 1 ${WORK_DIR}/gpt/last.safetensors --input ${WORK_DIR}/prompts.txt --max-chars 5)
    expect_match(gpt_batch_lengths "${gen_err}" "prompts generated together must have the same length")
endif()
if(DEFINED CHAR_GPT)
    run_generate(gpt_window 0 ${WORK_DIR}/gpt/last.safetensors --prompt ${prompt} --max-chars 60 --threads 1
        --method greedy --context-keep 16)
    expect_prefix(gpt_window "${gen_out}")
    run_generate(gpt_bad_keep 1 ${WORK_DIR}/gpt/last.safetensors --max-chars 5 --context-keep 17)
    expect_match(gpt_bad_keep "${gen_err}" "context_keep 17 must be at most the block size 16")
endif()

set(ckpt ${WORK_DIR}/lstm/last.safetensors)
set(common ${ckpt} --prompt ${prompt} --max-chars 200 --threads 1)

# Greedy is deterministic.
run_generate(greedy_a 0 ${common} --method greedy)
set(greedy_a "${gen_out}")
run_generate(greedy_b 0 ${common} --method greedy)
if(NOT gen_out STREQUAL greedy_a)
    message(FATAL_ERROR "greedy differs between two runs:\n${greedy_a}\n----\n${gen_out}")
endif()
string(LENGTH "${greedy_a}" greedy_length)
if(greedy_length LESS 100)
    message(FATAL_ERROR "greedy printed ${greedy_length} bytes, expected about 206:\n${greedy_a}")
endif()

# Sampling: the seed fixes the text.
set(sampling --method sample --temperature 1.0 --top-k 40 --top-p 0.95)
run_generate(sample_seed1_a 0 ${common} ${sampling} --seed 1)
set(sample_a "${gen_out}")
expect_prefix(sample_seed1_a "${sample_a}")
run_generate(sample_seed1_b 0 ${common} ${sampling} --seed 1)
if(NOT gen_out STREQUAL sample_a)
    message(FATAL_ERROR "sample with the same seed differs:\n${sample_a}\n----\n${gen_out}")
endif()
run_generate(sample_seed2 0 ${common} ${sampling} --seed 2)
if(gen_out STREQUAL sample_a)
    message(FATAL_ERROR "sample with seeds 1 and 2 gave the same text:\n${sample_a}")
endif()

# Several samples, one after another, with a separator line between them.
run_generate(sample_n3 0 ${common} ${sampling} --seed 1 --n 3 --max-chars 40)
expect_prefix(sample_n3 "${gen_out}")
string(REGEX MATCHALL "\n---- sample [0-9]+/3 ----\n" separators "${gen_out}")
list(LENGTH separators separator_count)
if(NOT separator_count EQUAL 2)
    message(FATAL_ERROR "sample --n 3: ${separator_count} separator lines, expected 2:\n${gen_out}")
endif()

# Beam search: --n results, best first.
run_generate(beam5 0 ${common} --method beam --beam 5 --n 5 --max-chars 40)
check_beams(beam5 "${gen_out}" 5)

# --stop: generation ends at the first stop string, which is not printed; the
# escape \n in --stop is a newline.
run_generate(stop 0 ${common} --method sample --seed 1 --temperature 1.5 --max-chars 3000 --stop "\\n")
string(LENGTH "${prompt}" prompt_length)
string(SUBSTRING "${gen_out}" ${prompt_length} -1 continuation)
string(REGEX REPLACE "\n$" "" continuation "${continuation}")  # the final newline generate prints
string(FIND "${continuation}" "\n" newline_at)
string(LENGTH "${continuation}" continuation_length)
if(NOT newline_at EQUAL -1 OR continuation_length GREATER_EQUAL 3000)
    message(FATAL_ERROR "--stop '\\n': the text does not end before the first newline:\n${gen_out}")
endif()
expect_match(stop "${gen_err}" "stop")

# --input: the prompts of a file as one batch. Each output is the one its line
# gives alone, greedy and sampled (line k with --seed + k - 1).
foreach(method greedy sample)
    set(expected "")
    set(k 0)
    foreach(line "ROMEO:" "KING HENRY:" "A")
        math(EXPR seed "4 + ${k}")
        math(EXPR k "${k} + 1")
        run_generate(alone_${method}_${k} 0 ${ckpt} --prompt "${line}" --max-chars 30 --threads 1 --method ${method}
            --seed ${seed})
        string(APPEND expected "==== prompt ${k}/3 ====\n${gen_out}")
    endforeach()
    run_generate(batch_${method} 0 ${ckpt} --input ${WORK_DIR}/prompts.txt --max-chars 30 --threads 1
        --method ${method} --seed 4)
    if(NOT gen_out STREQUAL expected)
        message(FATAL_ERROR "--input ${method}: the batch differs from the prompts alone:\n${gen_out}\n----\n${expected}")
    endif()
    expect_match(batch_${method} "${gen_err}" "chars/s.*one batch of 3 prompts")
endforeach()
# "-" reads the prompts from standard input.
execute_process(COMMAND ${GENERATE} ${ckpt} --input - --max-chars 30 --threads 1 --method sample --seed 4
    INPUT_FILE ${WORK_DIR}/prompts.txt RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT code STREQUAL "0" OR NOT out STREQUAL expected)
    message(FATAL_ERROR "--input - (stdin): exit code ${code}, output:\n${out}\nexpected:\n${expected}\n${err}")
endif()
file(WRITE ${WORK_DIR}/empty_line.txt "ROMEO:\n\nA\n")
run_generate(batch_empty_line 1 ${ckpt} --input ${WORK_DIR}/empty_line.txt --max-chars 5)
expect_match(batch_empty_line "${gen_err}" "line 2 is empty")
run_generate(batch_beam 1 ${ckpt} --input ${WORK_DIR}/prompts.txt --method beam)
expect_match(batch_beam "${gen_err}" "--input works with --method greedy or sample")

# A prompt character outside the vocabulary: an error that lists it ...
run_generate(unknown 1 ${ckpt} --prompt "ROMEO€:" --max-chars 10)
expect_match(unknown "${gen_err}" "U\\+20AC")
expect_match(unknown "${gen_err}" "€")
# ... or, with --drop-unknown, a note and the text without it.
run_generate(drop_unknown 0 ${ckpt} --prompt "ROME€O:" --max-chars 10 --drop-unknown)
expect_prefix(drop_unknown "${gen_out}")
expect_match(drop_unknown "${gen_err}" "U\\+20AC")

# Other tokenizers: the checkpoint carries its tokenizer (model.tokenizer).
foreach(kind bpe word)
    execute_process(COMMAND ${CHAR_RNN} ${train_common} --tokenizer ${kind} --bpe-vocab 300 --out ${WORK_DIR}/${kind}
        RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code STREQUAL "0" OR NOT EXISTS ${WORK_DIR}/${kind}/last.safetensors OR NOT EXISTS ${WORK_DIR}/${kind}/tokenizer.json)
        message(FATAL_ERROR "char_rnn --tokenizer ${kind}: exit code ${code}, no checkpoint or tokenizer.json\n${out}\n${err}")
    endif()
    expect_match(${kind}_train "${out}" "${kind} tokenizer")
    expect_match(${kind}_train "${out}" "bits/byte")
endforeach()
set(bpe_ckpt ${WORK_DIR}/bpe/last.safetensors)
run_generate(bpe_greedy_a 0 ${bpe_ckpt} --prompt "ROMEO€:" --max-chars 30 --threads 1 --method greedy)
expect_match(bpe_greedy_a "${gen_out}" "^ROMEO€:")
set(first "${gen_out}")
run_generate(bpe_greedy_b 0 ${bpe_ckpt} --prompt "ROMEO€:" --max-chars 30 --threads 1 --method greedy)
if(NOT gen_out STREQUAL first)
    message(FATAL_ERROR "bpe: greedy differs between two runs:\n${first}\n----\n${gen_out}")
endif()
run_generate(bpe_beam 0 ${bpe_ckpt} --prompt ${prompt} --method beam --beam 3 --n 2 --max-chars 10 --threads 1)
check_beams(bpe_beam "${gen_out}" 2)
run_generate(word_greedy 0 ${WORK_DIR}/word/last.safetensors --prompt "ROMEO: zqxj" --max-chars 20 --threads 1
    --method greedy)
expect_match(word_greedy "${gen_out}" "^ROMEO: <unk>")

# A missing checkpoint: an error naming the file.
run_generate(missing 1 ${WORK_DIR}/no_such_file.safetensors --max-chars 10)
expect_match(missing "${gen_err}" "no_such_file\\.safetensors")
# A file that is not a checkpoint at all.
file(WRITE ${WORK_DIR}/not_a_checkpoint.safetensors "hello")
run_generate(not_a_checkpoint 1 ${WORK_DIR}/not_a_checkpoint.safetensors --max-chars 10)
expect_match(not_a_checkpoint "${gen_err}" "not_a_checkpoint\\.safetensors")

message(STATUS "generate: lstm/gru/rnn (and ${other_kinds}) checkpoints, bpe and word tokenizers decode; greedy and seeded sampling reproducible; beams sorted; --input batches equal the prompts alone; errors clear")

# Quantized weights (generate --weights, examples/quantize; -DQUANTIZE given):
# lstm, gru and the other model kinds generate with their weights converted at
# load to bf16 and int8 (stderr names the format); quantize --out writes an
# int8 checkpoint that generate loads as int8, beam search included, and
# refuses to convert again; --weights all --evaluate reports three formats;
# an unknown format is an error naming it.
if(DEFINED QUANTIZE)
    set(quantized_models ${WORK_DIR}/lstm/last.safetensors ${WORK_DIR}/gru/last.safetensors)
    foreach(kind IN LISTS other_kinds)
        list(APPEND quantized_models ${WORK_DIR}/${kind}/last.safetensors)
    endforeach()
    foreach(model IN LISTS quantized_models)
        foreach(format bf16 int8)
            run_generate(quantized_${format} 0 ${model} --prompt ${prompt} --max-chars 40 --threads 1
                --method greedy --weights ${format})
            expect_prefix(quantized_${format} "${gen_out}")
            expect_match(quantized_${format} "${gen_err}" ", ${format}, threads")
        endforeach()
    endforeach()
    execute_process(COMMAND ${QUANTIZE} ${WORK_DIR}/lstm/last.safetensors --weights int8
            --out ${WORK_DIR}/lstm.int8.safetensors
        RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code STREQUAL "0" OR NOT out MATCHES "wrote .*lstm.int8.safetensors")
        message(FATAL_ERROR "quantize --out: exit code ${code}\n${out}\n${err}")
    endif()
    run_generate(int8_file_greedy 0 ${WORK_DIR}/lstm.int8.safetensors --prompt ${prompt} --max-chars 40 --threads 1
        --method greedy)
    expect_match(int8_file_greedy "${gen_err}" ", int8, threads")
    run_generate(int8_file_beam 0 ${WORK_DIR}/lstm.int8.safetensors --prompt ${prompt} --max-chars 20 --threads 1
        --method beam --beam 3 --n 3)
    check_beams(int8_file_beam "${gen_out}" 3)
    run_generate(int8_file_twice 1 ${WORK_DIR}/lstm.int8.safetensors --max-chars 5 --weights bf16)
    expect_match(int8_file_twice "${gen_err}" "holds int8 weights; converting them to bf16")
    run_generate(bad_format 1 ${WORK_DIR}/lstm/last.safetensors --max-chars 5 --weights int4)
    expect_match(bad_format "${gen_err}" "unknown weight format 'int4'")
    execute_process(COMMAND ${QUANTIZE} ${WORK_DIR}/lstm/last.safetensors --weights all --evaluate ${DATA}
            --eval-tokens 300
        RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code STREQUAL "0" OR NOT out MATCHES "fp32 .*held-out.*\nbf16 .*vs fp32\nint8 .*vs fp32")
        message(FATAL_ERROR "quantize --weights all --evaluate: exit code ${code}\n${out}\n${err}")
    endif()
endif()
