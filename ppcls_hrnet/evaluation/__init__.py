"""How fast and how accurate a deployed model is: the latency benchmark (:mod:`.benchmark`, with
:mod:`.timing`, :mod:`.prepare` and :mod:`.report`), the int8 accuracy check (:mod:`.accuracy`)
and a `ppcls-hrnet serve` child process for load tests (:mod:`.server_process`).

Every module reports figures; docs/benchmarks.md reads them against the package's goals.
Nothing is imported here: the server helper must stay cheap to import.
"""
