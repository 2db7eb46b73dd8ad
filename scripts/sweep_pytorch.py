"""Train the reference MNIST-1D depth sweep in PyTorch on the CPU, to time it against resdepth.

The work matches `resdepth sweep experiments/mnist1d-depth.toml`. The data is MNIST-1D from
the reference package (4000 train, 1000 test samples). The networks are the MLPs of
scripts/bench_pytorch.py (width 100, pre-activation blocks, Kaiming-normal weights, zero
biases). Training is SGD with learning rate 0.05 and momentum 0.9, batch 100, 40 epochs, and
after every epoch both splits are evaluated in eval mode. A run whose loss is not finite stops, as in resdepth. Runs go to `--jobs` worker processes
of one thread each, deepest first. It prints one JSON line per run and then the wall time.

    python="$(scripts/pytorch-venv.sh)"
    "$python" scripts/sweep_pytorch.py --jobs 2
"""

import argparse
import json
import math
import multiprocessing
import time

import torch
from mnist1d.data import get_dataset_args, make_dataset
from torch import nn

from bench_pytorch import Mlp

VARIANTS = ["plain", "plain-bn", "residual", "residual-bn"]
WIDTH = 100
LEARNING_RATE = 0.05
MOMENTUM = 0.9
BATCH_SIZE = 100
EVAL_BATCH_SIZE = 1000


def load_data():
    data = make_dataset(get_dataset_args())
    tensors = [data["x"], data["y"], data["x_test"], data["y_test"]]
    x, y, x_test, y_test = (torch.as_tensor(t) for t in tensors)
    return x.float(), y.long(), x_test.float(), y_test.long()


def evaluate(model, inputs, targets):
    model.eval()
    loss_sum, wrong = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(targets), EVAL_BATCH_SIZE):
            logits = model(inputs[start : start + EVAL_BATCH_SIZE])
            batch = targets[start : start + EVAL_BATCH_SIZE]
            loss_sum += nn.functional.cross_entropy(logits, batch, reduction="sum").item()
            wrong += (logits.argmax(1) != batch).sum().item()
    model.train()
    return loss_sum / len(targets), wrong / len(targets)


def train_run(case):
    variant, depth, seed, epochs = case
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    x, y, x_test, y_test = DATA
    model = Mlp(WIDTH, depth, variant)
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)

    started = time.perf_counter()
    evaluate(model, x, y)
    evaluate(model, x_test, y_test)
    train_error = test_error = None
    status = "completed"
    for _ in range(epochs):
        order = torch.randperm(len(y))
        for start in range(0, len(y), BATCH_SIZE):
            batch = order[start : start + BATCH_SIZE]
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            if not math.isfinite(loss.item()):
                status = "diverged"
                break
            loss.backward()
            optimizer.step()
        if status == "diverged":
            break
        train_loss, train_error = evaluate(model, x, y)
        _, test_error = evaluate(model, x_test, y_test)
        if not math.isfinite(train_loss):
            status = "diverged"
            break

    return {
        "variant": variant,
        "depth": depth,
        "seed": seed,
        "status": status,
        "final_train_error": train_error if status == "completed" else None,
        "final_test_error": test_error if status == "completed" else None,
        "wall_seconds": time.perf_counter() - started,
    }


def init_worker(data):
    global DATA
    DATA = data


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--depths", default="2,4,8,16,32,64")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    depths = sorted(map(int, args.depths.split(",")), reverse=True)
    cases = [
        (variant, depth, seed, args.epochs)
        for depth in depths
        for variant in args.variants.split(",")
        for seed in map(int, args.seeds.split(","))
    ]
    data = load_data()
    started = time.perf_counter()
    context = multiprocessing.get_context("fork")
    with context.Pool(args.jobs, initializer=init_worker, initargs=(data,)) as pool:
        for result in pool.imap_unordered(train_run, cases):
            print(json.dumps(result), flush=True)
    wall = time.perf_counter() - started
    print(json.dumps({"runs": len(cases), "jobs": args.jobs, "wall_seconds": wall}), flush=True)


if __name__ == "__main__":
    main()
