#!/usr/bin/env python3
"""bench/bpe_reference.py — loom's byte-level BPE (include/loom/data/byte_bpe.hpp)
written again in pure Python, to check loom's merges and to time both.

The algorithm is the same, the code independent of loom's:
  chunks    a run of one byte class (letters = A-Z a-z and every byte >= 0x80,
            digits, spaces, other white space \\t\\n\\v\\f\\r, punctuation = the
            rest); a single space before a letter, digit or punctuation run
            joins it; at most 256 bytes a chunk. Here: one bytes regex, then
            matches longer than 256 bytes cut every 256 bytes (which gives the
            same chunks as loom's restart-at-the-cut loop).
  training  the pair with the highest count over all chunk occurrences (every
            adjacent position counts, overlapping ones too); ties go to the
            smaller (left, right); the new token replaces the pair left to right
            without overlap; stop at vocab_size tokens or when no pair occurs
            twice. Pair counts are kept up to date incrementally, with a heap of
            (-count, pair) entries checked against the current count when popped.
  encoding  per distinct chunk: while some adjacent pair is a merge, merge every
            occurrence of the one with the smallest merge index.

Usage:
  python3 bench/bpe_reference.py data/tinyshakespeare.txt --vocab-size 1024 \\
      --out /tmp/python_tokenizer.json --compare /tmp/loom_tokenizer.json \\
      [--loom-bench build/bench/bench_tokenizer]

--out writes the merges as a loom tokenizer file (load_tokenizer reads it).
--compare reads a tokenizer file loom wrote and checks that its merges are the
same, printing the first difference; the exit status is 1 if they differ.
--loom-bench runs bench_tokenizer (Google Benchmark, JSON output) for
BM_BpeTrain/vocab:<vocab-size> and BM_BpeEncode/vocab:<vocab-size> and prints
loom's numbers beside Python's; the benchmark always reads tinyshakespeare and
registers vocab sizes 512/1024/4096 (training) and 1024/4096 (encoding).
"""

import argparse
import heapq
import json
import re
import subprocess
import sys
import time

BYTE_TOKENS = 256
MAX_CHUNK_BYTES = 256

# The five byte classes as regex sets (bytes patterns; \x0b is \v, \x0c is \f).
_LETTER = rb"A-Za-z\x80-\xff"
_DIGIT = rb"0-9"
_OTHER_SPACE = rb"\t\n\x0b\x0c\r"
_CHUNK = re.compile(
    rb" ?[" + _LETTER + rb"]+"                                  # a letter run, with one space before it
    rb"| ?[" + _DIGIT + rb"]+"                                  # a digit run
    rb"| ?[^" + _LETTER + _DIGIT + rb" " + _OTHER_SPACE + rb"]+"  # a punctuation run
    rb"|[" + _OTHER_SPACE + rb"]+"                              # line breaks, tabs
    rb"| +(?= [^ " + _OTHER_SPACE + rb"])"                      # spaces but the last, which joins the next run
    rb"| +"                                                     # spaces at the end or before a line break
)


def split_chunks(data):
    """The chunks of a bytes object, as bytes objects."""
    chunks = []
    for match in _CHUNK.finditer(data):
        chunk = match.group()
        if len(chunk) <= MAX_CHUNK_BYTES:
            chunks.append(chunk)
        else:
            chunks.extend(chunk[i:i + MAX_CHUNK_BYTES] for i in range(0, len(chunk), MAX_CHUNK_BYTES))
    assert sum(map(len, chunks)) == len(data), "the chunk pattern skipped a byte"
    return chunks


def merge_pair(tokens, left, right, merged):
    """tokens with each (left, right), left to right and without overlap, replaced by merged."""
    out = []
    i, n = 0, len(tokens)
    while i < n:
        if i + 1 < n and tokens[i] == left and tokens[i + 1] == right:
            out.append(merged)
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out


def train(data, vocab_size):
    """The merges [(left, right), ...] learned from a bytes object."""
    if vocab_size < BYTE_TOKENS:
        raise ValueError(f"vocab_size must be at least {BYTE_TOKENS}, got {vocab_size}")
    chunk_counts = {}
    for chunk in split_chunks(data):
        chunk_counts[chunk] = chunk_counts.get(chunk, 0) + 1
    words = [list(chunk) for chunk in chunk_counts]  # each distinct chunk's current tokens
    freqs = list(chunk_counts.values())

    pair_counts = {}
    where = {}  # pair -> indices of the words that have (or had) it
    for w, tokens in enumerate(words):
        for pair in zip(tokens, tokens[1:]):
            pair_counts[pair] = pair_counts.get(pair, 0) + freqs[w]
            where.setdefault(pair, set()).add(w)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    merges = []
    while BYTE_TOKENS + len(merges) < vocab_size:
        # The top entry is current only if it still holds the pair's count.
        while heap and pair_counts.get(heap[0][1], 0) != -heap[0][0]:
            heapq.heappop(heap)
        if not heap or -heap[0][0] < 2:
            break
        _, pair = heapq.heappop(heap)
        left, right = pair
        merged = BYTE_TOKENS + len(merges)
        merges.append(pair)
        changed = set()
        for w in where.pop(pair):
            tokens = words[w]
            new_tokens = merge_pair(tokens, left, right, merged)
            if len(new_tokens) == len(tokens):
                continue  # a stale entry: an earlier merge took the pair away
            freq = freqs[w]
            for old in zip(tokens, tokens[1:]):
                pair_counts[old] -= freq
                changed.add(old)
            for new in zip(new_tokens, new_tokens[1:]):
                pair_counts[new] = pair_counts.get(new, 0) + freq
                changed.add(new)
                if merged in new:
                    where.setdefault(new, set()).add(w)
            words[w] = new_tokens
        for p in changed:
            count = pair_counts[p]
            if count > 0:
                heapq.heappush(heap, (-count, p))
            else:
                del pair_counts[p]
    return merges


def encode(data, merges):
    """The token ids of a bytes object: merges applied lowest index first, chunk by chunk."""
    ranks = {pair: i for i, pair in enumerate(merges)}
    none = len(merges)
    cache = {}
    ids = []
    for chunk in split_chunks(data):
        tokens = cache.get(chunk)
        if tokens is None:
            tokens = list(chunk)
            while len(tokens) >= 2:
                best = min(ranks.get(pair, none) for pair in zip(tokens, tokens[1:]))
                if best == none:
                    break
                left, right = merges[best]
                tokens = merge_pair(tokens, left, right, BYTE_TOKENS + best)
            cache[chunk] = tokens
        ids.extend(tokens)
    return ids


def decode(ids, merges):
    table = [bytes([b]) for b in range(BYTE_TOKENS)]
    for left, right in merges:
        table.append(table[left] + table[right])
    return b"".join(table[i] for i in ids)


def tokenizer_json(merges):
    return {"format": "loom-tokenizer", "version": 1, "kind": "bpe", "merges": [[l, r] for l, r in merges]}


def read_loom_merges(path):
    with open(path, encoding="utf-8") as f:
        document = json.load(f)
    if document.get("format") != "loom-tokenizer" or document.get("kind") != "bpe":
        raise SystemExit(f"{path}: not a loom bpe tokenizer file (format {document.get('format')!r}, "
                         f"kind {document.get('kind')!r})")
    return [tuple(pair) for pair in document["merges"]]


def token_text(pair, merges):
    """The bytes a merge makes, for printing."""
    return decode(list(pair), merges)


def compare(python_merges, loom_merges):
    """True if the two lists are the same; otherwise prints the first difference."""
    for i, (mine, theirs) in enumerate(zip(python_merges, loom_merges)):
        if mine != theirs:
            print(f"FIRST DIFFERENCE at merge {i} (token {BYTE_TOKENS + i}): python {list(mine)} "
                  f"{token_text(mine, python_merges)!r}, loom {list(theirs)} {token_text(theirs, loom_merges)!r}")
            return False
    if len(python_merges) != len(loom_merges):
        print(f"FIRST DIFFERENCE: python learned {len(python_merges)} merges, loom {len(loom_merges)} "
              f"(the first {min(len(python_merges), len(loom_merges))} agree)")
        return False
    print(f"identical: all {len(python_merges)} merges agree with loom's")
    return True


def run_loom_bench(binary, vocab_size):
    """loom's (train seconds, encode MB/s) from bench_tokenizer's JSON output."""
    pattern = f"^BM_BpeTrain/vocab:{vocab_size}$|^BM_BpeEncode/vocab:{vocab_size}$"
    result = subprocess.run([binary, f"--benchmark_filter={pattern}", "--benchmark_format=json"],
                            check=True, capture_output=True, text=True)
    train_seconds = encode_mb_per_s = None
    if not result.stdout.strip():  # Google Benchmark prints nothing when no name matches
        result = None
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    for bench in json.loads(result.stdout)["benchmarks"] if result else []:
        if bench["name"].startswith("BM_BpeTrain/"):
            train_seconds = bench["real_time"] * scale[bench["time_unit"]]
        elif bench["name"].startswith("BM_BpeEncode/"):
            encode_mb_per_s = bench["bytes_per_second"] / 1e6
    if train_seconds is None or encode_mb_per_s is None:
        raise SystemExit(f"{binary} has no benchmarks matching {pattern} (registered vocab sizes: "
                         "train 512/1024/4096, encode 1024/4096)")
    return train_seconds, encode_mb_per_s


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("text", help="the training file (read as bytes)")
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--out", help="write the merges here as a loom tokenizer JSON file")
    parser.add_argument("--compare", metavar="PATH", help="a loom tokenizer.json to compare the merges with")
    parser.add_argument("--loom-bench", metavar="BINARY", help="bench_tokenizer, to print loom's timings too")
    args = parser.parse_args()

    with open(args.text, "rb") as f:
        data = f.read()

    start = time.perf_counter()
    merges = train(data, args.vocab_size)
    train_seconds = time.perf_counter() - start

    start = time.perf_counter()
    ids = encode(data, merges)
    encode_seconds = time.perf_counter() - start
    encode_mb_per_s = len(data) / 1e6 / encode_seconds
    assert decode(ids, merges) == data, "decode(encode(text)) differs from the text"

    print(f"{args.text}: {len(data)} bytes, {len(split_chunks(data))} chunks")
    print(f"python: {BYTE_TOKENS + len(merges)} tokens ({len(merges)} merges) in {train_seconds:.2f} s; "
          f"encode {len(ids)} tokens ({len(data) / len(ids):.3f} bytes/token) in {encode_seconds:.2f} s "
          f"= {encode_mb_per_s:.2f} MB/s")

    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(tokenizer_json(merges), f)
            f.write("\n")
        print(f"wrote {args.out}")

    same = True
    if args.compare:
        same = compare(merges, read_loom_merges(args.compare))

    if args.loom_bench:
        loom_train, loom_encode = run_loom_bench(args.loom_bench, args.vocab_size)
        print(f"{'':8}{'train s':>10}{'encode MB/s':>14}")
        print(f"{'python':8}{train_seconds:10.3f}{encode_mb_per_s:14.2f}")
        print(f"{'loom':8}{loom_train:10.3f}{loom_encode:14.2f}")
        print(f"loom / python speed: training {train_seconds / loom_train:.1f}x, "
              f"encoding {loom_encode / encode_mb_per_s:.1f}x")

    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
