"""``ppcls-hrnet predict-batch``: millions of images -> a Parquet table, on Ray Data.

- :mod:`.inputs` -- what SRC names: a folder (recursive), a glob, a PaddleClas
  label list, or the same on a remote filesystem pyarrow reads (``s3://``);
- :mod:`.table` -- the output: its schema, one Parquet part file per chunk of
  inputs written whole or not at all, the job's manifest, and what a resumed
  job already has;
- :mod:`.worker` -- one predictor per Ray actor (the Paddle-free runtime),
  reading each chunk's images by the predictor's own rules;
- :mod:`.cluster` -- starting or joining Ray, fenced off the network it
  would probe by itself;
- :mod:`.job` -- the job: chunks through Ray Data's actor pool, progress,
  the summary.

Exactly once: a chunk's part file has a name fixed by the chunk, so a chunk
retried after a lost actor or node replaces its own file, and a resumed job
skips the chunks whose files are complete.
"""
