#!/usr/bin/python3
"""PyTorch reference for examples/char_gpt: a nanoGPT-style "baby GPT" trained on
tinyshakespeare at the character level, with the same model, data, batches,
optimizer, schedule and evaluation as loom's char_gpt, so that the two final
validation losses (and times) can be compared.

What is the same as char_gpt (karpathy/nanoGPT's shakespeare_char CPU config):
  - vocabulary: the distinct Unicode code points of the text, sorted;
  - split: the first floor(0.9 N) characters train, the rest validate;
  - batches: B = 12 windows at starting offsets drawn uniformly from
    [0, len(split) - T - 1], inputs ids[i:i+T], targets ids[i+1:i+T+1], T = 64;
  - model: token_embedding [V, 128] + learned position_embedding [64, 128]
    -> 4 pre-norm blocks (TransformerEncoderLayer: d_model 128, 4 heads,
    feed-forward 512, GELU (tanh approximation), dropout 0, biases, causal mask)
    -> final LayerNorm -> head Linear(128 -> V, no bias), optionally tied to
    token_embedding (--tie-weights, off by default);
  - initialisation (nanoGPT): every Linear/Embedding weight (and the attention
    input projection) ~ N(0, 0.02), biases 0, LayerNorm 1/0, the residual output
    projections (attention out_proj and the MLP's second Linear) ~
    N(0, 0.02 / sqrt(2 n_layer));
  - loss: mean cross-entropy over all B*T positions;
  - optimizer: AdamW(lr 1e-3, betas (0.9, 0.99), eps 1e-8), weight decay 0.1 on
    the 2-D (matmul and embedding) weights only, 0 on biases and LayerNorm;
    linear warmup over 100 iterations then cosine decay to 1e-4 at iteration
    2000 (nanoGPT's get_lr); gradient norm clipped to 1.0; 2000 iterations;
  - evaluation (nanoGPT's estimate_loss): eval mode, no grad, the mean loss of
    200 random batches of the validation split and of the train split, every
    250 steps and at the end;
  - sample: 200 characters from "\\n", temperature 1.0, context cropped to T.
Only the random numbers differ (different generators, same distributions). The
training batches, evaluation batches and sampling each have their own torch
generator seeded from --seed, so changing --eval-every or --eval-iters does not
change the training run.

Usage (Debian's python3 with python3-torch 1.13):
  /usr/bin/python3 bench/char_gpt_reference.py --steps 2000 --threads 2
  /usr/bin/python3 bench/char_gpt_reference.py --batch 32 --time-step 20 --threads 1   # one step, timed
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
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


class BabyGPT(nn.Module):
    def __init__(self, vocab, block_size=64, n_layer=4, n_head=4, n_embd=128, tie_weights=False):
        super().__init__()
        self.block_size = block_size
        self.token_embedding = nn.Embedding(vocab, n_embd)
        self.position_embedding = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList([
            nn.TransformerEncoderLayer(d_model=n_embd, nhead=n_head, dim_feedforward=4 * n_embd,
                                       dropout=0.0, activation=gelu_tanh, batch_first=True,
                                       norm_first=True)
            for _ in range(n_layer)])
        self.norm = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab, bias=False)
        if tie_weights:
            self.head.weight = self.token_embedding.weight
        init_nanogpt(self, n_layer)
        # True above the diagonal = position t may not attend to positions > t.
        self.register_buffer("causal_mask",
                             torch.triu(torch.ones(block_size, block_size, dtype=torch.bool), diagonal=1),
                             persistent=False)

    def forward(self, ids):
        T = ids.shape[1]
        assert T <= self.block_size
        positions = torch.arange(T, dtype=torch.long, device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(positions)
        mask = self.causal_mask[:T, :T]
        for block in self.blocks:
            x = block(x, src_mask=mask)
        return self.head(self.norm(x))

    @torch.no_grad()
    def generate(self, ids, new_tokens, temperature=1.0, generator=None):
        """nanoGPT's generate: crop the context to block_size, sample the next id."""
        for _ in range(new_tokens):
            context = ids[:, -self.block_size:]
            logits = self(context)[:, -1, :] / temperature
            probabilities = F.softmax(logits, dim=-1)
            following = torch.multinomial(probabilities, num_samples=1, generator=generator)
            ids = torch.cat((ids, following), dim=1)
        return ids


def init_nanogpt(model, n_layer):
    """nanoGPT's initialisation (GPT._init_weights plus the c_proj special case).

    - every nn.Linear and nn.Embedding weight ~ N(0, 0.02), every Linear bias = 0;
      with --tie-weights head.weight *is* token_embedding.weight (N(0, 0.02) either way);
    - MultiheadAttention keeps its fused q/k/v projection as a bare Parameter
      (in_proj_weight [3C, C], in_proj_bias [3C]) rather than an nn.Linear, so it is
      initialised explicitly the same way (nanoGPT's c_attn);
    - the projections that write into the residual stream (nanoGPT's c_proj:
      self_attn.out_proj.weight and the MLP's linear2.weight) ~ N(0, 0.02 / sqrt(2 n_layer));
    - LayerNorm weights 1, biases 0 (PyTorch's default, as in nanoGPT).
    """
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        elif isinstance(module, nn.MultiheadAttention):
            nn.init.normal_(module.in_proj_weight, mean=0.0, std=0.02)
            nn.init.zeros_(module.in_proj_bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    residual_std = 0.02 / math.sqrt(2 * n_layer)
    for block in model.blocks:
        nn.init.normal_(block.self_attn.out_proj.weight, mean=0.0, std=residual_std)
        nn.init.normal_(block.linear2.weight, mean=0.0, std=residual_std)


def get_batch(data, batch, block, generator):
    """nanoGPT's get_batch: `batch` windows at offsets uniform in [0, len(data) - block - 1]."""
    starts = torch.randint(len(data) - block, (batch,), generator=generator)
    inputs = torch.stack([data[i:i + block] for i in starts.tolist()])
    targets = torch.stack([data[i + 1:i + 1 + block] for i in starts.tolist()])
    return inputs, targets


def loss_of(model, inputs, targets):
    logits = model(inputs)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


@torch.no_grad()
def estimate_loss(model, splits, batch, block, eval_iters, generator):
    """nanoGPT's estimate_loss: mean loss over eval_iters random batches of each split."""
    model.eval()
    result = {}
    for name, data in splits.items():
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            inputs, targets = get_batch(data, batch, block, generator)
            losses[k] = loss_of(model, inputs, targets).item()
        result[name] = losses.mean().item()
    model.train()
    return result


def get_lr(it, lr, min_lr, warmup, decay_iters):
    """nanoGPT's get_lr (it counts from 0): linear warmup, cosine decay, then min_lr."""
    if it < warmup:
        return lr * (it + 1) / (warmup + 1)
    if it > decay_iters:
        return min_lr
    decay_ratio = (it - warmup) / (decay_iters - warmup)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (lr - min_lr)


def make_optimizer(model, lr, weight_decay=0.1):
    """AdamW, decaying only the 2-D parameters (matmul and embedding weights), like
    nanoGPT's configure_optimizers. named_parameters() lists a tied weight once."""
    decay = [p for _, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for _, p in model.named_parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.99), eps=1e-8)


def resolve_data(path):
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(REPO_ROOT, path)


def time_training_step(model, optimizer, splits, args):
    """The median time of one training step (forward, backward, clipping, AdamW)
    on a fixed batch, like bench/vs_libtorch's gpt_train."""
    inputs, targets = get_batch(splits["train"], args.batch, args.block, torch.Generator().manual_seed(args.seed))

    def one_step():
        loss = loss_of(model, inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(3):
        one_step()
    times = []
    for _ in range(args.time_step):
        started = time.perf_counter()
        one_step()
        times.append(time.perf_counter() - started)
    times.sort()
    print(f"training step (batch {args.batch}, block {args.block}, {args.threads} thread(s)): "
          f"median {1000 * times[len(times) // 2]:.1f} ms over {args.time_step} steps", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="data/tinyshakespeare.txt",
                        help="text file; a relative path not found from the current directory is "
                             "taken relative to the repository root (the script's parent's parent)")
    parser.add_argument("--steps", type=int, default=2000, help="training iterations (max_iters)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op and OpenBLAS threads")
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--block", type=int, default=64, help="context length (block_size)")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--min-lr", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=100, help="warmup iterations")
    parser.add_argument("--decay-iters", type=int, default=2000, help="lr_decay_iters")
    parser.add_argument("--eval-iters", type=int, default=200, help="batches per split per evaluation")
    parser.add_argument("--eval-every", type=int, default=250, help="steps between evaluations (0: end only)")
    parser.add_argument("--tie-weights", action="store_true", help="head.weight = token_embedding.weight")
    parser.add_argument("--time-step", type=int, default=0, metavar="N",
                        help="only time N training steps on one batch (after 3 warm-up steps), print the "
                             "median ms per step and exit; --batch 32 --time-step 20 is the gpt_train "
                             "workload of bench/vs_libtorch, for comparing with Python PyTorch")
    parser.add_argument("--compile-free", action="store_true",
                        help="no effect: this script never uses torch.compile (torch 1.13 has none); "
                             "accepted so command lines can say so explicitly")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    train_generator = torch.Generator().manual_seed(args.seed + 1)
    eval_generator = torch.Generator().manual_seed(args.seed + 2)
    sample_generator = torch.Generator().manual_seed(args.seed + 3)

    with open(resolve_data(args.data), encoding="utf-8") as f:
        text = f.read()
    vocabulary = sorted(set(text))
    index = {c: i for i, c in enumerate(vocabulary)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    cut = math.floor(0.9 * len(ids))
    splits = {"train": ids[:cut], "val": ids[cut:]}

    model = BabyGPT(len(vocabulary), block_size=args.block, tie_weights=args.tie_weights)
    optimizer = make_optimizer(model, args.lr)
    parameters = sum(p.numel() for p in model.parameters())
    print(f"vocabulary {len(vocabulary)}, train {cut} chars, validation {len(ids) - cut} chars, "
          f"{parameters} parameters{' (tied)' if args.tie_weights else ''}, torch {torch.__version__}, "
          f"{args.threads} thread(s)", flush=True)

    if args.time_step > 0:
        time_training_step(model, optimizer, splits, args)
        return

    def evaluate(step):
        losses = estimate_loss(model, splits, args.batch, args.block, args.eval_iters, eval_generator)
        print(f"step {step}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}", flush=True)
        return losses

    train_seconds = 0.0
    for step in range(1, args.steps + 1):
        started = time.perf_counter()
        lr = get_lr(step - 1, args.lr, args.min_lr, args.warmup, args.decay_iters)
        for group in optimizer.param_groups:
            group["lr"] = lr
        inputs, targets = get_batch(splits["train"], args.batch, args.block, train_generator)
        loss = loss_of(model, inputs, targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        loss_value = loss.item()
        train_seconds += time.perf_counter() - started
        if step % 100 == 0 or step == 1 or step == args.steps:
            print(f"step {step}/{args.steps} loss {loss_value:.4f} lr {lr:.2e} "
                  f"({train_seconds:.1f}s training, {1000 * train_seconds / step:.1f} ms/step)", flush=True)
        if args.eval_every > 0 and step % args.eval_every == 0 and step != args.steps:
            evaluate(step)

    final = evaluate(args.steps)
    print(f"final validation loss: {final['val']:.5f} nats/char ({train_seconds:.0f} s training)")
    print(f"train seconds: {train_seconds:.2f}")

    start = torch.tensor([[index["\n"]]], dtype=torch.long)
    model.eval()
    sample = model.generate(start, 200, temperature=1.0, generator=sample_generator)[0, 1:].tolist()
    print("sample:")
    print("".join(vocabulary[i] for i in sample), flush=True)


if __name__ == "__main__":
    main()
