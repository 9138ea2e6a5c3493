"""One line from Spark's and py4j's long error messages: the Python error, not the Java trace."""

from __future__ import annotations

from udfbench.errors import short_error

# As py4j raises them from a failed job (abridged only in the number of "at" lines).
BAD_IMAGE_IN_A_TASK = """An error occurred while calling o123.save.
: org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 3.0 failed 1 times, \
most recent failure: Lost task 0.0 in stage 3.0 (TID 3) (127.0.0.1 executor driver): \
org.apache.spark.api.python.PythonException: Traceback (most recent call last):
  File "/x/pyspark/worker.py", line 1247, in main
  File "/x/udfbench/preprocess.py", line 40, in load_image
udfbench.inputs.decode.BadImage: cannot decode /tmp/cat.99.jpeg: truncated
\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.handlePythonException(PythonRunner.scala:572)
\tat org.apache.spark.sql.execution.python.PythonArrowOutput$$anon$1.read(PythonArrowOutput.scala:118)
"""
DRIVER_OUT_OF_HEAP = """An error occurred while calling o45.save.
: java.lang.OutOfMemoryError: Java heap space
\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)
"""
WORKER_KILLED = """An error occurred while calling o77.save.
: org.apache.spark.SparkException: Job aborted due to stage failure: Task 1 in stage 2.0 failed 1 times: \
org.apache.spark.SparkException: Python worker exited unexpectedly (crashed)
\tat org.apache.spark.api.python.BasePythonRunner$ReaderIterator.read(PythonRunner.scala:621)
"""


def test_the_python_error_inside_a_java_trace_is_the_line() -> None:
    assert short_error(Exception(BAD_IMAGE_IN_A_TASK)) == (
        "udfbench.inputs.decode.BadImage: cannot decode /tmp/cat.99.jpeg: truncated"
    )


def test_a_task_that_died_of_memory_says_so_and_what_bounds_the_batches() -> None:
    heap = short_error(Exception(DRIVER_OUT_OF_HEAP))
    assert heap.startswith("java.lang.OutOfMemoryError: Java heap space") and "arrow_max_bytes" in heap
    killed = short_error(Exception(WORKER_KILLED))
    assert "Python worker exited unexpectedly" in killed and "out of memory" in killed


def test_a_plain_message_is_kept_and_an_empty_one_named_by_its_type() -> None:
    assert short_error(ValueError("the model saw 5 of 10 rows")) == "the model saw 5 of 10 rows"
    assert short_error(KeyError()) == "KeyError"
    assert "\n" not in short_error(Exception(BAD_IMAGE_IN_A_TASK))
