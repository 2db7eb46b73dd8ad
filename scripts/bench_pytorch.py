"""Time training steps of the resdepth MLPs in PyTorch on the CPU, one thread.

The networks, initialisation, optimizer and batch match `resdepth bench`
(crates/runner/src/bench.rs): a linear stem 40 -> width, `depth` pre-activation blocks
h [+] W ReLU(BN(h)) + b, a head W ReLU(BN(h)) + b -> 10 classes, Kaiming-normal weights with
zero biases, SGD with learning rate 0 and momentum 0.9, one fixed batch of standard normal
inputs. Each case runs `steps` warm-up steps, then `repeats` timed blocks of `steps` steps, and
prints one JSON line with the median milliseconds per step.

    python="$(scripts/pytorch-venv.sh)"
    "$python" scripts/bench_pytorch.py --widths 100 --depths 16
"""

import argparse
import math
import json
import statistics
import time

import torch
from torch import nn

VARIANTS = ["plain", "plain-bn", "residual", "residual-bn"]
INPUT_SIZE = 40
NUM_CLASSES = 10


class Block(nn.Module):
    def __init__(self, width, batch_norm):
        super().__init__()
        self.batch_norm = nn.BatchNorm1d(width) if batch_norm else None
        self.linear = nn.Linear(width, width)

    def forward(self, h):
        if self.batch_norm is not None:
            h = self.batch_norm(h)
        return self.linear(torch.relu(h))


class Mlp(nn.Module):
    def __init__(self, width, depth, variant):
        super().__init__()
        batch_norm = variant.endswith("-bn")
        self.shortcut = variant.startswith("residual")
        self.stem = nn.Linear(INPUT_SIZE, width)
        self.blocks = nn.ModuleList(Block(width, batch_norm) for _ in range(depth))
        self.head_batch_norm = nn.BatchNorm1d(width) if batch_norm else None
        self.head = nn.Linear(width, NUM_CLASSES)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.kaiming_normal_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        h = self.stem(x)
        for block in self.blocks:
            branch = block(h)
            h = h + branch if self.shortcut else branch
        if self.head_batch_norm is not None:
            h = self.head_batch_norm(h)
        return self.head(torch.relu(h))


def time_case(variant, width, depth, batch_size, steps, repeats):
    torch.manual_seed(0)
    model = Mlp(width, depth, variant)
    # At learning rate 0 the update does its full work and no network diverges, as in resdepth.
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)
    inputs = torch.randn(batch_size, INPUT_SIZE)
    targets = torch.randint(0, NUM_CLASSES, (batch_size,))
    loss_function = nn.CrossEntropyLoss()

    def run(count):
        for _ in range(count):
            optimizer.zero_grad()
            loss = loss_function(model(inputs), targets)
            loss.item()
            loss.backward()
            optimizer.step()

    run(steps)
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run(steps)
        timings.append((time.perf_counter() - started) * 1000 / steps)
    return statistics.median(timings)


def matmul_ceiling(size=1024, repeats=20):
    """Returns the GFLOP/s of one thread's float32 `size`^3 matrix product, the best of
    `repeats`."""
    a = torch.randn(size, size)
    b = torch.randn(size, size)
    torch.mm(a, b)
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="100,256,1024")
    parser.add_argument("--depths", default="4,16,64")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--matmul-ceiling",
        action="store_true",
        help="print the GFLOP/s of a 1024^3 matrix product on one thread and exit",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.matmul_ceiling:
        line = {"framework": f"pytorch-{torch.__version__}", "matmul_gflop_per_second": matmul_ceiling()}
        print(json.dumps(line), flush=True)
        return
    for width in map(int, args.widths.split(",")):
        for depth in map(int, args.depths.split(",")):
            for variant in args.variants.split(","):
                ms = time_case(variant, width, depth, args.batch_size, args.steps, args.repeats)
                line = {
                    "batch_size": args.batch_size,
                    "depth": depth,
                    "framework": f"pytorch-{torch.__version__}",
                    "ms_per_step": ms,
                    "steps": args.steps,
                    "variant": variant,
                    "width": width,
                }
                print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
