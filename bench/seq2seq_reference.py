#!/usr/bin/python3
"""PyTorch reference for examples/seq2seq: the same tasks, model, recipe and
evaluation, so that held-out exact match can be compared (the quality target:
loom and PyTorch within 0.5 points).

The same as seq2seq (examples/seq2seq.cpp and seq2seq_tasks.hpp,
loom/nn/seq2seq.hpp, loom/nn/memory_attention.hpp, loom/decode/seq2seq_decoder.hpp):
  - random numbers: loom::Generator (xoshiro256**, splitmix64 seeding, below()
    by rejection, Box-Muller keeping the spare) is ported bit for bit, so the
    held-out pairs (their own Generator(20261206)), the initial weights (drawn in
    loom's construction order) and the training pairs (Generator(next_u64())
    after the model) are the C++ program's own, value for value;
  - data: dates 1950..2049 in 16 formats -> ISO 8601, or numbers in words ->
    digits, 1 item in 20 held out by hash; source id = index in the source
    alphabet, target ids 0 begin, 1 end, 2 + index in the target alphabet;
  - model: BiLSTM encoder over packed lengths, s_0 = tanh(bridge_h [h_fwd; h_bwd]),
    c_0 = bridge_c [c_fwd; c_bwd]; LSTMCell decoder on [E_tgt y_{t-1}; ctx_t],
    attention (Bahdanau additive or Luong general) queried with s_{t-1} and
    masked to each source's length; output Linear on [s_t; ctx_t]; loom's
    parameter names and order;
  - recipe: teacher forcing, mean cross-entropy over the real target tokens,
    Adam(lr, 0.9, 0.999, 1e-8), global grad-norm clip 5, constant rate;
  - evaluation: held-out loss every 500 steps; at the end greedy decoding in
    batches of --batch, at most 24 tokens; a pair is right iff decoding ended
    with the end token and the string equals the target.
Only the float rounding differs (summation orders, BLAS), so the two runs start
from the same weights on the same batches and drift apart slowly.

Usage (Debian's python3 with python3-torch):
  /usr/bin/python3 bench/seq2seq_reference.py --attention bahdanau --threads 2
"""
import argparse
import datetime
import math
import os
import sys
import time


# OpenBLAS's core type and thread count are read when the library loads, so
# they are set (bench/torch_environment.py) before `import torch`.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_environment  # noqa: E402

torch_environment.configure()

import numpy as np  # noqa: E402  (after the environment above)
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

MASK = (1 << 64) - 1


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


def splitmix64_finaliser(z):  # also the held-out hash of seq2seq_tasks.hpp
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class Generator:
    """loom::Generator (loom/tensor/random.hpp), bit for bit."""

    def __init__(self, seed):
        mix, self.s = seed & MASK, []
        for _ in range(4):
            mix = (mix + 0x9E3779B97F4A7C15) & MASK
            self.s.append(splitmix64_finaliser(mix))
        self.spare = None  # the kept second Box-Muller normal

    def next_u64(self):
        s0, s1, s2, s3 = self.s
        result = (rotl((s1 * 5) & MASK, 7) * 9) & MASK
        t = (s1 << 17) & MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        self.s = [s0, s1, s2 ^ t, rotl(s3, 45)]
        return result

    def uniform(self):  # [0, 1) with 53 random bits
        return (self.next_u64() >> 11) * 2.0 ** -53

    def below(self, bound):
        limit = ((1 << 64) - bound) % bound  # rejection threshold against modulo bias
        bits = self.next_u64()
        while bits < limit:
            bits = self.next_u64()
        return bits % bound

    def normal(self):
        if self.spare is not None:
            value, self.spare = self.spare, None
            return value
        radius = math.sqrt(-2.0 * math.log(1.0 - self.uniform()))
        angle = 2.0 * math.pi * self.uniform()
        self.spare = radius * math.sin(angle)
        return radius * math.cos(angle)

    def fill(self, parameter, bound=None):
        """Tensor<float>::normal(0, 1) (bound None) or ::uniform(-bound, bound): drawn in double, rounded
        to float, a value that rounds up to `high` moved just below it (loom/tensor/tensor.hpp)."""
        if bound is None:
            values = np.array([self.normal() for _ in range(parameter.numel())]).astype(np.float32)
        else:
            low, high = -float(bound), float(bound)
            values = np.array([low + (high - low) * self.uniform() for _ in range(parameter.numel())])
            values[values >= high] = math.nextafter(high, low)
            values = values.astype(np.float32)
            values[values >= np.float32(high)] = np.nextafter(np.float32(high), np.float32(low))
        with torch.no_grad():
            parameter.copy_(torch.from_numpy(values.reshape(tuple(parameter.shape))))


# ---- the tasks (examples/seq2seq_tasks.hpp) ----------------------------------
SOURCE_ALPHABET = " ,-./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
TARGET_ALPHABET = "-0123456789"
BEGIN, END, OFFSET = 0, 1, 2
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
        "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
FIRST_DAY = datetime.date(1950, 1, 1)
DAYS = (datetime.date(2049, 12, 31) - FIRST_DAY).days + 1


def held_out(item):
    return splitmix64_finaliser((item + 0x9E3779B97F4A7C15) & MASK) % 20 == 0


def format_date(d, f):
    month, day, year = MONTHS[d.month - 1], str(d.day), str(d.year)
    short, mm, dd, yy = month[:3], f"{d.month:02d}", f"{d.day:02d}", f"{d.year % 100:02d}"
    weekday = WEEKDAYS[d.isoweekday() % 7]
    suffix = "th" if 11 <= d.day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d.day % 10, "th")
    return [f"{month} {day}, {year}", f"{day} {month} {year}", f"{short} {day}, {year}", f"{day} {short} {year}",
            f"{weekday}, {month} {day}, {year}", f"{weekday[:3]}, {day} {short} {year}", f"{mm}/{dd}/{year}",
            f"{dd}.{mm}.{year}", f"{d.month}/{day}/{yy}", f"{day}.{d.month}.{yy}", f"{year}/{mm}/{dd}",
            f"the {day}{suffix} of {month}, {year}", f"{month} {day}{suffix}, {year}".upper(), f"{year}{mm}{dd}",
            f"{day}-{short}-{yy}", f"{short.upper()} {dd} {year}"][f]


def number_words(n):  # "three hundred forty-two thousand seven"
    def below_thousand(k):
        hundreds, k = (ONES[k // 100] + " hundred" if k >= 100 else ""), k % 100
        if hundreds and k == 0:
            return hundreds
        rest = ONES[k] if k < 20 else TENS[k // 10] + ("-" + ONES[k % 10] if k % 10 else "")
        return (hundreds + " " if hundreds else "") + rest
    thousands = below_thousand(n // 1000) + " thousand" if n >= 1000 else ""
    if thousands and n % 1000 == 0:
        return thousands
    return (thousands + " " if thousands else "") + below_thousand(n % 1000)


def draw_pair(task, validation, g):
    """seq2seq_tasks::draw_pair: rejection until the item is on the wanted side of the split."""
    while True:
        if task == "dates":
            day = g.below(DAYS)
            if held_out(day) != validation:
                continue
            date = FIRST_DAY + datetime.timedelta(days=day)
            return format_date(date, g.below(16)), date.isoformat()
        n = g.below(1000000)
        if held_out(n) == validation:
            return number_words(n), str(n)


def make_batch(pairs):
    """loom::make_seq2seq_batch with pad = END (the padding is masked everywhere)."""
    sources = [[SOURCE_ALPHABET.index(c) for c in s] for s, _ in pairs]
    targets = [[BEGIN] + [OFFSET + TARGET_ALPHABET.index(c) for c in t] + [END] for _, t in pairs]
    S, T = max(map(len, sources)), max(map(len, targets))
    source = torch.tensor([s + [END] * (S - len(s)) for s in sources])
    target = torch.tensor([t + [END] * (T - len(t)) for t in targets])
    return source, torch.tensor([len(s) for s in sources]), target, torch.tensor([len(t) for t in targets])


# ---- the model (loom/nn/seq2seq.hpp, loom/nn/memory_attention.hpp) -------------
class Seq2Seq(nn.Module):
    def __init__(self, attention, coverage, embedding, hidden, generator):
        super().__init__()
        E, H, M = embedding, hidden, 2 * hidden
        self.attention_kind, self.coverage = attention, coverage
        self.source_embedding = nn.Embedding(len(SOURCE_ALPHABET), E)
        self.encoder = nn.LSTM(E, H, batch_first=True, bidirectional=True)
        self.bridge_h, self.bridge_c = nn.Linear(M, H), nn.Linear(M, H)
        self.target_embedding = nn.Embedding(OFFSET + len(TARGET_ALPHABET), E)
        self.decoder = nn.LSTMCell(E + (M if attention != "none" else 0), H)
        coverage_layer = nn.Linear(1, H, bias=False)  # loom builds it always, registers it with coverage only
        if attention != "none":
            self.attention = a = nn.Module()
            a.memory_layer = nn.Linear(M, H, bias=attention == "bahdanau")  # Bahdanau: W_h, b_h; Luong: W_a
        if attention == "bahdanau":  # attention size A = H
            a.query_layer, a.energy = nn.Linear(H, H, bias=False), nn.Linear(H, 1, bias=False)  # W_s, v^T
            if coverage:
                a.coverage_layer = coverage_layer
        elif attention == "luong" and coverage:
            a.coverage_weight = nn.Parameter(torch.zeros(1))
        self.output = nn.Linear(H + (M if attention != "none" else 0), len(TARGET_ALPHABET) + OFFSET)

        # loom's initial values, in the order loom's constructors draw them: the members of Seq2Seq's
        # initialiser list (in declaration order: the output layer before the encoder), then the body's
        # encoder, decoder and attention. A recurrent module first draws a u64 for its dropout generator.
        def linear(*layers):
            for layer in layers:  # uniform(+-1/sqrt(in)), the bound computed in float
                for p in [layer.weight] + ([layer.bias] if layer.bias is not None else []):
                    generator.fill(p, np.float32(1) / np.sqrt(np.float32(layer.in_features)))
        def recurrent(module, suffixes):
            generator.next_u64()
            for s in suffixes:
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    generator.fill(getattr(module, name + s), np.float32(1) / np.sqrt(np.float32(H)))
        generator.fill(self.source_embedding.weight)
        linear(self.bridge_h, self.bridge_c)
        generator.fill(self.target_embedding.weight)
        linear(self.output)
        recurrent(self.encoder, ["_l0", "_l0_reverse"])
        recurrent(self.decoder, [""])
        if attention == "bahdanau":
            linear(a.memory_layer, a.query_layer, a.energy, coverage_layer)
        elif attention == "luong":
            linear(a.memory_layer)

    def encode(self, source, lengths):
        packed = pack_padded_sequence(self.source_embedding(source), lengths, batch_first=True, enforce_sorted=False)
        out, (h_n, c_n) = self.encoder(packed)
        memory, _ = pad_packed_sequence(out, batch_first=True, total_length=source.shape[1])  # zero past n_b
        h0 = torch.tanh(self.bridge_h(torch.cat([h_n[0], h_n[1]], 1)))
        c0 = self.bridge_c(torch.cat([c_n[0], c_n[1]], 1))
        keys = self.attention.memory_layer(memory) if self.attention_kind != "none" else None
        mask = torch.arange(source.shape[1])[None, :] < lengths[:, None]
        coverage = torch.zeros(source.shape) if self.coverage else None
        return (memory, keys, mask), (h0, c0, coverage)

    def step(self, embedded, state, memory):
        """One decoder step; returns (next state, features, attention weights)."""
        h, c, coverage = state
        if self.attention_kind == "none":
            h, c = self.decoder(embedded, (h, c))
            return (h, c, None), h, None
        values, keys, mask = memory
        if self.attention_kind == "bahdanau":  # e_i = v^T tanh(W_h m_i + b_h + W_s s_{t-1} (+ w_c cov_i))
            z = keys + self.attention.query_layer(h)[:, None, :]
            if self.coverage:
                z = z + coverage[:, :, None] * self.attention.coverage_layer.weight[:, 0]
            scores = self.attention.energy(torch.tanh(z)).squeeze(2)
        else:  # Luong general: e_i = s_{t-1}^T W_a m_i (+ w_c cov_i)
            scores = torch.bmm(keys, h[:, :, None]).squeeze(2)
            if self.coverage:
                scores = scores + self.attention.coverage_weight * coverage
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), 1)
        context = torch.bmm(weights[:, None, :], values).squeeze(1)
        h, c = self.decoder(torch.cat([embedded, context], 1), (h, c))
        return (h, c, coverage + weights if self.coverage else None), torch.cat([h, context], 1), weights

    def loss(self, source, source_lengths, target, target_lengths, coverage_weight):
        """Teacher-forced mean cross-entropy over the real target tokens (and the coverage loss)."""
        memory, state = self.encode(source, source_lengths)
        steps = target.shape[1] - 1
        embedded = self.target_embedding(target[:, :-1])
        features, coverage_sum = [], 0.0
        for t in range(steps):
            before = state[2]
            state, feature, weights = self.step(embedded[:, t], state, memory)
            features.append(feature)
            if self.coverage:  # sum_i min(a_t,i, cov_{t-1},i) over the rows still running
                running = (t + 1 < target_lengths).to(weights.dtype)[:, None]
                coverage_sum = coverage_sum + torch.minimum(weights * running, before).sum()
        logits = self.output(torch.stack(features, 1))
        labels = target[:, 1:].masked_fill(torch.arange(steps)[None, :] + 1 >= target_lengths[:, None], -100)
        cross_entropy = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
        if not self.coverage:
            return cross_entropy, cross_entropy
        return cross_entropy + coverage_weight * coverage_sum / float((target_lengths - 1).sum()), cross_entropy

    @torch.no_grad()
    def translate_greedy(self, source, lengths, max_length):
        """loom::translate_greedy: every row steps until all rows have emitted the end token."""
        memory, state = self.encode(source, lengths)
        rows = source.shape[0]
        previous = torch.full((rows,), BEGIN, dtype=torch.long)
        tokens, finished = [[] for _ in range(rows)], [False] * rows
        for _ in range(max_length):
            if all(finished):
                break
            state, feature, _ = self.step(self.target_embedding(previous), state, memory)
            previous = self.output(feature).argmax(1)  # the first maximum, as std::max_element
            for b, best in enumerate(previous.tolist()):
                if not finished[b]:
                    finished[b] = best == END
                    tokens[b] += [] if finished[b] else [best]
        return tokens, finished


def target_text(ids):
    # ids 0 (begin) would index outside the alphabet in the C++ target_text; here it becomes '?'.
    return "".join(TARGET_ALPHABET[i - OFFSET] if i >= OFFSET else "?" for i in ids)


@torch.no_grad()
def evaluate(model, pairs, args, decode):
    """The held-out token-weighted cross-entropy and (decode) greedy exact match, in batches of --batch."""
    total, tokens, correct = 0.0, 0, 0
    for start in range(0, len(pairs), args.batch):
        part = pairs[start:start + args.batch]
        source, source_lengths, target, target_lengths = make_batch(part)
        part_tokens = int((target_lengths - 1).sum())
        cross_entropy = model.loss(source, source_lengths, target, target_lengths, args.coverage_weight)[1]
        total += cross_entropy.item() * part_tokens
        tokens += part_tokens
        if decode:
            outputs, finished = model.translate_greedy(source, source_lengths, args.max_length)
            correct += sum(f and target_text(o) == p[1] for o, f, p in zip(outputs, finished, part))
    return total / tokens, correct / len(pairs)


def duration(seconds):  # loom::format_duration: "1h2m5s", "3m0s", "42s"
    t = int(seconds + 0.5)
    return (f"{t // 3600}h" if t >= 3600 else "") + (f"{t % 3600 // 60}m" if t >= 60 else "") + f"{t % 60}s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="dates", choices=["dates", "numbers"])
    parser.add_argument("--attention", default="bahdanau", choices=["none", "bahdanau", "luong"])
    parser.add_argument("--coverage", action="store_true", help="coverage in the scores and the coverage loss")
    for flag, kind, default in [("--coverage-weight", float, 1.0), ("--embedding", int, 32), ("--hidden", int, 128),
                                ("--steps", int, 3000), ("--batch", int, 64), ("--lr", float, 2e-3),
                                ("--clip", float, 5.0), ("--validation", int, 1000), ("--max-length", int, 24),
                                ("--eval-every", int, 500), ("--seed", int, 1234), ("--threads", int, 1)]:
        parser.add_argument(flag, type=kind, default=default)
    args = parser.parse_args()
    if args.coverage and args.attention == "none":
        parser.error("--coverage needs --attention bahdanau or luong")
    torch.set_num_threads(args.threads)

    held_generator = Generator(20261206)  # seq2seq_tasks::held_out_pairs: its own seed, one generator
    held = [draw_pair(args.task, True, held_generator) for _ in range(args.validation)]
    generator = Generator(args.seed)
    model = Seq2Seq(args.attention, args.coverage, args.embedding, args.hidden, generator)
    pairs = Generator(generator.next_u64())  # after the model's draws, as in seq2seq.cpp
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-8)
    parameters = sum(p.numel() for p in model.parameters())
    print(f'task: {args.task} (e.g. "{held[0][0]}" -> "{held[0][1]}"), {len(held)} held out; model: lstm '
          f'encoder-decoder, attention {args.attention}{" with coverage" if args.coverage else ""}, {parameters} '
          f'parameters, adam lr {args.lr:g}, schedule constant, clip {args.clip:g} (torch {torch.__version__}, '
          f'{args.threads} thread(s))', flush=True)
    tokens_per_batch = args.batch * (sum(len(t) + 1 for _, t in held) // len(held))

    start = time.time()
    for step in range(1, args.steps + 1):
        batch = make_batch([draw_pair(args.task, False, pairs) for _ in range(args.batch)])
        loss = model.loss(*batch, args.coverage_weight)[0]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        if step % args.eval_every == 0 or step == args.steps:
            elapsed = time.time() - start
            print(f"step {step}/{args.steps} | loss {loss.item():.4f} | {tokens_per_batch * step / elapsed / 1000:.1f}k"
                  f" tok/s | ETA {duration(elapsed / step * (args.steps - step))}", flush=True)
        if step % args.eval_every == 0 and step != args.steps:
            print(f"step {step}: validation loss {evaluate(model, held, args, False)[0]:.4f} nats/char", flush=True)
    final_loss = evaluate(model, held, args, False)[0]
    seconds = time.time() - start
    print(f"final validation loss: {final_loss:.9g} nats/char ({duration(seconds)} training, {seconds:.1f} s)")
    loss, exact = evaluate(model, held, args, True)
    print(f"held-out exact match: {100 * exact:.2f} % of {len(held)} (greedy), held-out loss {loss:.4f} nats/char")


if __name__ == "__main__":
    main()
