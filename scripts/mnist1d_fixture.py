"""Write the MNIST-1D reference fixture that the Rust generator in crates/data is tested against.

For each case (the package defaults, 5000 samples with seed 42, and a small case with shuffled
points and short signals) the fixture contains part of what `mnist1d.data.make_dataset(args)`
returns: selected train and test rows, every label, the per-class counts and the time axis. It
also contains the digit templates and the versions used.

Run it from the repository root (no network is needed once the packages are installed):

    python3 -m venv /tmp/mnist1d-venv
    /tmp/mnist1d-venv/bin/pip install -r scripts/requirements-mnist1d.txt
    /tmp/mnist1d-venv/bin/python scripts/mnist1d_fixture.py

It writes crates/data/fixtures/mnist1d.json, or the path given as the first argument.
`make_dataset` is called directly: `get_dataset` would download the published pickle instead.
The fixture was generated with Python 3.11.7, numpy 2.4.6 and scipy 1.17.1 on x86_64 Linux with
AVX-512. numpy vectorises float64 `exp` only on CPUs with AVX-512 and calls libm's `exp`
elsewhere, which rounds some values differently and changes the stored values by about 1e-16.
"""

import json
import platform
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import scipy
from mnist1d.data import get_dataset_args, get_templates, make_dataset

DEFAULT_OUTPUT = Path("crates/data/fixtures/mnist1d.json")

ARG_NAMES = [
    "num_samples",
    "train_split",
    "template_len",
    "padding",
    "scale_coeff",
    "max_translation",
    "corr_noise_scale",
    "iid_noise_scale",
    "shear_scale",
    "shuffle_seq",
    "final_seq_length",
    "seed",
]

# Each case: a name, overrides of the default arguments, and the stored rows per split as
# (number of leading rows, stride). Every `stride`-th row and the last row are stored too, so
# the rows come from the whole random stream.
CASES = [
    ("default", {}, (20, 200), (10, 100)),
    # The second case covers shuffled points, which change numpy's summation order, and a
    # dilated signal of 7 points. That is shorter than the noise filter's radius of 8 and than
    # some translations, and its odd length makes the cached normal carry from one noise array
    # to the next. Its split index is lowered by float rounding: int(330 * 0.7) == 230.
    (
        "short_shuffled",
        {
            "num_samples": 333,
            "train_split": 0.7,
            "template_len": 0,
            "padding": [3, 7],
            "scale_coeff": 1.0,
            "max_translation": 10,
            "corr_noise_scale": 0.5,
            "iid_noise_scale": 0.1,
            "shear_scale": 2.0,
            "shuffle_seq": True,
            "final_seq_length": 17,
            "seed": 4294967295,
        },
        (5, 50),
        (5, 50),
    ),
]


def row_indices(num_rows: int, head: int, stride: int) -> list[int]:
    """Return the sorted indices of the stored rows of a split with `num_rows` rows."""
    indices = set(range(min(head, num_rows)))
    indices.update(range(0, num_rows, stride))
    indices.add(num_rows - 1)
    return sorted(indices)


def to_exact_strings(array: np.ndarray) -> list:
    """Convert an array to nested lists of the shortest decimal strings that round-trip exactly.

    Strings rather than JSON numbers, because serde_json's default float parsing may round the
    last bit differently from Rust's `str::parse::<f64>`, which the Rust tests use.
    """
    values = np.asarray(array, dtype=np.float64).tolist()
    if isinstance(values, float):
        return repr(values)
    return [to_exact_strings(value) for value in values]


def make_case(name: str, overrides: dict, train_rows: tuple, test_rows: tuple) -> dict:
    """Generate one dataset and return the parts of it that the fixture stores."""
    args = get_dataset_args()
    for field, value in overrides.items():
        setattr(args, field, value)
    data = make_dataset(args)
    train_indices = row_indices(len(data["y"]), *train_rows)
    test_indices = row_indices(len(data["y_test"]), *test_rows)
    return {
        "name": name,
        "args": {field: getattr(args, field) for field in ARG_NAMES},
        "t": to_exact_strings(data["t"]),
        "train_rows": train_indices,
        "x_train_rows": to_exact_strings(data["x"][train_indices]),
        "test_rows": test_indices,
        "x_test_rows": to_exact_strings(data["x_test"][test_indices]),
        "y_train": data["y"].tolist(),
        "y_test": data["y_test"].tolist(),
        "train_class_counts": np.bincount(data["y"], minlength=10).tolist(),
        "test_class_counts": np.bincount(data["y_test"], minlength=10).tolist(),
    }


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    templates = get_templates()
    fixture = {
        "versions": {
            "python": platform.python_version(),
            "mnist1d": version("mnist1d"),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "machine": platform.machine(),
        },
        "templates": {
            "x": to_exact_strings(templates["x"]),
            "t": to_exact_strings(templates["t"]),
            "y": templates["y"].tolist(),
        },
        "cases": [make_case(*case) for case in CASES],
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w") as file:
        json.dump(fixture, file, separators=(",", ":"))
        file.write("\n")
    print(f"wrote {output} ({output.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
