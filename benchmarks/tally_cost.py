"""What summing the tally costs a timed run, against writing the same rows to Spark's ``noop`` sink.

Every Spark strategy hands each model call's counts on in a ``tally`` column, and the timed job sums
that column over every row (``measure/sinks.py``): the proof that the model saw every row, which works
over Spark Connect too. This script times, in one ``local[2]`` session with the built-in model over
``--rows`` images, the same strategy's output both ways, alternating ``--rounds`` times after a warmup
of each, and prints the median seconds of each and ``tally_sum/noop = R``.

    python benchmarks/tally_cost.py [--rows 1000] [--rounds 5] [--strategy pandas_udf]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from udfbench.inputs.seeds import draw_rows, write_builtin_seeds
from udfbench.measure import sinks
from udfbench.measure.strategies import get_strategy
from udfbench.model.predictor import Predictor, tally_width
from udfbench.model.spec import prepare_model
from udfbench.plan.config import ModelConfig, SparkConfig
from udfbench.spark.cluster import session_conf, spark_session
from udfbench.spark.connect import ship_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--strategy", default="pandas_udf")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="udfbench-tally-"))
    rows = draw_rows(write_builtin_seeds(folder / "seeds", seed=42), args.rows, seed=42)
    spec, _ = prepare_model(ModelConfig(), seed=42, config_path="tally_cost")
    conf = session_conf(SparkConfig(driver_memory="2g"), task_cpus=1, threads=None)
    with spark_session("local[2]", "udfbench tally cost", conf, folder) as spark:
        predictor = Predictor.for_spec(spec, ship_model(spark, spec.data, spec.digest), 32, False, 1)
        df = spark.createDataFrame(rows).repartition(2).cache()
        df.count()
        out = get_strategy(args.strategy).transform(df, predictor, "path")
        width = tally_width(len(spec.classes))

        def noop() -> None:
            out.write.format("noop").mode("overwrite").save()

        def tally_sum() -> None:
            assert sinks.write_spark(out, "noop", folder, spec.classes, width)[0] == args.rows

        seconds: dict[str, list[float]] = {"noop": [], "tally_sum": []}
        for round_ in range(args.rounds + 1):
            for name, job in (("noop", noop), ("tally_sum", tally_sum))[:: 1 if round_ % 2 else -1]:
                started = time.perf_counter()
                job()
                if round_:  # the first round warms both up
                    seconds[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"{args.strategy}, {args.rows} images, built-in CNN 192x192, local[2], median of {args.rounds}:")
    for name, median in medians.items():
        print(f"  {name:<10} {median:7.2f} s  ({', '.join(f'{s:.2f}' for s in seconds[name])})")
    print(f"tally_sum/noop = {medians['tally_sum'] / medians['noop']:.3f}")


if __name__ == "__main__":
    main()
