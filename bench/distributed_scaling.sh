#!/usr/bin/env bash
# Data-parallel scaling on one machine, side by side in one run: the char_gpt
# and char_rnn training workloads as
#   1 process  x 1 thread
#   1 process  x 2 threads
#   2 processes x 1 thread  (mpirun; gradients overlapped with backward)
#   2 processes x 1 thread  (mpirun; one allreduce after backward)
# each over the same global batches, reporting training tokens/s (the median
# of --repeats runs) and, for the MPI runs, the time spent waiting for
# gradients after backward and its share of training time.
#
#   cmake -S . -B build -DLOOM_USE_MPI=ON && cmake --build build --target char_gpt char_rnn -j2
#   bench/distributed_scaling.sh [build dir] [repeats]
# Run it on an otherwise idle machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
REPEATS="${2:-3}"
DATA="$ROOT/data/tinyshakespeare.txt"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
MPI_FLAGS=(--oversubscribe --bind-to none)
if [[ $(id -u) -eq 0 ]]; then MPI_FLAGS+=(--allow-run-as-root); fi

declare -A ARGS=(
    [char_gpt]="--steps 30 --eval-every 0 --generate 0 --eval-batches 1 --checkpoint-every 0 --plot false --print-every 10"
    [char_rnn]="--steps 30 --eval-every 0 --generate 0 --checkpoint-every 0 --plot false --print-every 10 --batching random"
)
declare -A TOKENS_PER_STEP=([char_gpt]=$((12 * 64)) [char_rnn]=$((32 * 64)))  # the examples' default batch x length

# tokens/s from the run's log.csv: steps x tokens per step / training seconds.
tokens_per_second() {  # log.csv tokens_per_step
    awk -F, -v per_step="$2" 'NR > 1 && $1 != "" { step = $1; seconds = $5 } END { printf "%.0f", step * per_step / seconds }' "$1"
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '%-9s %-28s %12s %10s %s\n' workload configuration "tokens/s" "vs 1x1" "communication"
for program in char_gpt char_rnn; do
    exe="$BUILD/examples/$program"
    [[ -x "$exe" ]] || { echo "no $exe: build it first (see the top of this script)" >&2; exit 1; }
    baseline=""
    for config in "1x1" "1x2" "2x1 overlap" "2x1 after"; do
        rates=()
        comm=""
        for ((r = 0; r < REPEATS; ++r)); do
            out="$WORK/$program-$r"
            rm -rf "$out"
            # shellcheck disable=SC2086
            case "$config" in
                1x1) "$exe" ${ARGS[$program]} --data "$DATA" --threads 1 --out "$out" > "$out.txt" 2>&1 ;;
                1x2) "$exe" ${ARGS[$program]} --data "$DATA" --threads 2 --out "$out" > "$out.txt" 2>&1 ;;
                "2x1 overlap") mpirun "${MPI_FLAGS[@]}" -np 2 "$exe" ${ARGS[$program]} --data "$DATA" --threads 1 \
                                   --out "$out" --ddp-overlap true --ddp-bucket-kib 256 > "$out.txt" 2>&1 ;;
                "2x1 after") mpirun "${MPI_FLAGS[@]}" -np 2 "$exe" ${ARGS[$program]} --data "$DATA" --threads 1 \
                                 --out "$out" --ddp-overlap false > "$out.txt" 2>&1 ;;
            esac
            rates+=("$(tokens_per_second "$out/log.csv" "${TOKENS_PER_STEP[$program]}")")
            comm="$(grep -o 'communication: .*' "$out.txt" | sed 's/communication: //' || true)"
        done
        rate="$(median "${rates[@]}")"
        [[ -n "$baseline" ]] || baseline="$rate"
        printf '%-9s %-28s %12s %9.2fx %s\n' "$program" "$config" "$rate" "$(echo "$rate / $baseline" | bc -l)" "$comm"
    done
done
