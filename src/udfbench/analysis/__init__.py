"""The reading side's judgement: pure statistics, summaries of a run, the answer, and the logic of
compare, check and history. Reads run folders only: no Spark, no TensorFlow."""
