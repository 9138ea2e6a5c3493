"""What shipping the saved model to a Spark Connect session's Python workers costs, two ways.

Connect has no broadcast, so the model reaches the workers either as a file shipped with the session
(``addArtifacts(..., file=True)``, read through ``SparkFiles``: what udfbench does) or inside the UDF's
closure (pickled with the UDF, so sent with every task). For the built-in CNN's saved bytes and for a
model of ``--big-mb`` MB (random bytes), on a local Connect server on 2 cores, this prints per session:
the upload, and the seconds a job of ``--tasks`` tasks takes to hand each task's worker the model's
bytes, against the same job with no model. Last line: ``closure_job/file_job = R`` for the big model.

    python benchmarks/model_shipping.py [--big-mb 100] [--tasks 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from udfbench.model.spec import prepare_model
from udfbench.plan.config import ClusterConfig, ModelConfig, SparkConfig
from udfbench.spark.cluster import session_conf, spark_session
from udfbench.spark.connect import ShippedFile, local_connect_server, ship_model


def job_seconds(spark, tasks: int, model) -> float:
    """One job of ``tasks`` tasks whose UDF reads ``model``'s bytes (None: no model at all)."""
    from pyspark.sql import functions as F

    def size(_: int) -> int:
        data = model.value if isinstance(model, ShippedFile) else model
        return 0 if data is None else len(data)

    udf = F.udf(size, "long", useArrow=False)
    started = time.perf_counter()
    spark.range(0, tasks, 1, tasks).select(udf("id").alias("n")).agg(F.sum("n")).collect()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mb", type=int, default=100)
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    spec, _ = prepare_model(ModelConfig(), seed=42, config_path="model_shipping")
    models = {"built-in CNN": spec.data, f"{args.big_mb} MB": os.urandom(args.big_mb * 2**20)}
    cluster = ClusterConfig(name="shipping", kind="connect", cores=2)
    conf = session_conf(SparkConfig(driver_memory="2g"), task_cpus=1, threads=None)
    ratio = float("nan")
    with local_connect_server(cluster, conf) as url:
        for name, data in models.items():
            results: dict[str, list[float]] = {"upload": [], "file": [], "closure": [], "none": []}
            for round_ in range(args.rounds):
                with spark_session(url, "udfbench model shipping", conf) as spark:
                    job_seconds(spark, args.tasks, None)  # the session's workers started
                    started = time.perf_counter()
                    shipped = ship_model(spark, data, f"{round_:04d}{name}".replace(" ", "-"))
                    results["upload"].append(time.perf_counter() - started)
                    results["none"].append(job_seconds(spark, args.tasks, None))
                    results["file"].append(job_seconds(spark, args.tasks, shipped))
                    results["closure"].append(job_seconds(spark, args.tasks, data))
            median = {key: statistics.median(values) for key, values in results.items()}
            print(
                f"{name} ({len(data) / 2**20:.1f} MB), {args.tasks} tasks, median of {args.rounds} sessions: "
                f"upload {median['upload']:.2f} s; job with no model {median['none']:.2f} s, "
                f"model as a file {median['file']:.2f} s, in the closure {median['closure']:.2f} s"
            )
            ratio = median["closure"] / median["file"]
    print(f"closure_job/file_job = {ratio:.2f}")


if __name__ == "__main__":
    main()
