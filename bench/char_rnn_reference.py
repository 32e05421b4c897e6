#!/usr/bin/python3
"""PyTorch reference for examples/char_rnn: the same model, data, batches,
optimizer and number of steps, so that the two final validation losses can be
compared (the quality target: within 0.03 nats/char).

What is the same as char_rnn (see examples/char_rnn.cpp and loom/data/):
  - vocabulary: the distinct Unicode code points of the text, sorted;
  - split: the first floor(0.9 N) characters train, the rest validate;
  - batches: StreamBatcher — B contiguous streams of L = (N - 1) // B ids,
    batch k = positions [kT, kT + T) of every stream, state carried (detached)
    between batches and reset at the start of every epoch;
  - model: Embedding(V, E) -> LSTM/GRU/RNN(E, H, layers, batch_first) -> Linear(H, V),
    PyTorch's default initialisation (loom uses the same distributions);
  - loss: mean cross-entropy; SGD(lr, momentum); clip_grad_norm_(5);
  - evaluation: every validation stream batch, state carried, mean of batch means.
Only the random initial weights differ (different generators, same distributions).

Usage (Debian's python3 with python3-torch):
  /usr/bin/python3 bench/char_rnn_reference.py --steps 2000 --threads 1
"""
import argparse
import math
import os
import sys
import time

# OpenBLAS's core type and thread count are read when the library loads, so
# they are set (bench/torch_environment.py) before `import torch`.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_environment  # noqa: E402

torch_environment.configure()

import torch  # noqa: E402  (after the environment above)
import torch.nn as nn


def stream_batches(ids, batch, seq):
    """Yields (inputs, targets, first_of_epoch) forever, like loom::StreamBatcher."""
    stream_length = (len(ids) - 1) // batch
    batches_per_epoch = stream_length // seq
    data = torch.tensor(ids, dtype=torch.long)
    while True:
        for k in range(batches_per_epoch):
            starts = [b * stream_length + k * seq for b in range(batch)]
            inputs = torch.stack([data[s:s + seq] for s in starts])
            targets = torch.stack([data[s + 1:s + seq + 1] for s in starts])
            yield inputs, targets, k == 0


class CharModel(nn.Module):
    def __init__(self, vocab, embedding, hidden, layers, cell):
        super().__init__()
        self.encoder = nn.Embedding(vocab, embedding)
        rnn_class = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = rnn_class(embedding, hidden, layers, batch_first=True)
        self.decoder = nn.Linear(hidden, vocab)

    def forward(self, ids, state):
        output, state = self.rnn(self.encoder(ids), state)
        return self.decoder(output), state


def detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def evaluate(model, ids, batch, seq):
    model.eval()
    total, count, state = 0.0, 0, None
    stream_length = (len(ids) - 1) // batch
    batches = stream_length // seq
    with torch.no_grad():
        for (inputs, targets, _), _ in zip(stream_batches(ids, batch, seq), range(batches)):
            logits, state = model(inputs, state)
            total += nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)).item()
            count += 1
    model.train()
    return total / count


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/tinyshakespeare.txt")
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--embedding", type=int, default=64)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--clip", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--print-every", type=int, default=100)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    with open(args.data, encoding="utf-8") as f:
        text = f.read()
    vocabulary = sorted(set(text))
    index = {c: i for i, c in enumerate(vocabulary)}
    ids = [index[c] for c in text]
    cut = math.floor(0.9 * len(ids))
    train, validation = ids[:cut], ids[cut:]

    model = CharModel(len(vocabulary), args.embedding, args.hidden, args.layers, args.cell)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    batches = stream_batches(train, args.batch, args.seq)
    state = None
    start = time.time()
    for step in range(1, args.steps + 1):
        inputs, targets, first = next(batches)
        state = None if first else detach(state)
        logits, state = model(inputs, state)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        if step % args.print_every == 0:
            print(f"step {step}/{args.steps} loss {loss.item():.4f} ({time.time() - start:.0f}s)", flush=True)
    final = evaluate(model, validation, args.batch, args.seq)
    print(f"final validation loss: {final:.5f} nats/char ({time.time() - start:.0f}s, torch {torch.__version__},"
          f" {args.threads} thread(s))")


if __name__ == "__main__":
    main()
