"""Peak memory of the ``python`` strategy at N and 10 N rows: it must not grow with the row count.

The founding study's loop decoded every image into one array and died at 3000 rows. Each size runs
in a fresh process (peak RSS never goes down within one); the last line reads
``peak(10N)/peak(N) = R``, and R should stay below 1.3.

    python benchmarks/python_memory.py [--rows 300] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path


def measure(rows: int, batch_size: int) -> int:
    """Run the python strategy over ``rows`` rows in this process; return peak RSS in KiB."""
    from udfbench.config import ModelConfig
    from udfbench.dataset import draw_rows, write_builtin_seeds
    from udfbench.model import prepare_model
    from udfbench.predictor import LocalTally, Predictor, Tally, tally_width
    from udfbench.strategies import get_strategy

    seeds = write_builtin_seeds(Path(tempfile.mkdtemp()) / "seeds", seed=42)
    spec, _ = prepare_model(ModelConfig(), seed=42, config_path="benchmark")
    tally = LocalTally(tally_width(2))
    predictor = Predictor.for_spec(spec, spec.data, batch_size, skip_bad=False, threads=None).with_tally(
        tally
    )
    index = draw_rows(seeds, rows, seed=42)
    chunks = (index.iloc[start : start + batch_size] for start in range(0, rows, batch_size))
    for _chunk in get_strategy("python").predict_local(chunks, predictor, "path"):
        pass
    assert Tally.from_vector(tally.value).rows == rows
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(measure(args.child, args.batch_size))
        return
    peaks = {}
    for rows in (args.rows, 10 * args.rows):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(rows), "--batch-size", str(args.batch_size)],
            check=True,
            capture_output=True,
            text=True,
        )
        peaks[rows] = int(out.stdout.strip().splitlines()[-1])
        print(f"python strategy, {rows} rows, batch {args.batch_size}: peak RSS {peaks[rows] / 1024:.0f} MiB")
    print(f"peak(10N)/peak(N) = {peaks[10 * args.rows] / peaks[args.rows]:.3f}")


if __name__ == "__main__":
    main()
