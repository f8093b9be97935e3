"""How fast and how accurate: the latency benchmark and its timing harness, int8 accuracy, serving
load helpers. It reports figures; the targets they are read against live in docs/benchmarks.md."""
