"""`make bench`: the user path (`trajectory-assets materialize` in a fresh process) against the
plain-DuckDB peer and a scan floor. One job per module:

- `settings`:  paths, environment variables, lake sizes and layouts;
- `lakes`:     generating and caching raw lakes, fresh work lakes for each repetition;
- `procs`:     a child process's wall time and memory (psutil, its whole process tree);
- `runlog`:    the phases of a Dagster run, read back from its instance's event log;
- `user_path`: one `trajectory-assets materialize` repetition;
- `peer`:      the DuckDB peer (`peer.sql`) in its own process, and its inputs;
- `floor`:     every raw column of every raw file read once with DuckDB, nothing else;
- `opens`:     how often a run opens each raw file (strace, outside the timed repetitions);
- `verify`:    our committed tables equal the peer's, row by row;
- `results`, `targets`, `chart`, `report`: the JSON document, the targets, the PNG and
  the console tables;
- `run`:       the entry point (`python -m benchmarks.run`, `make bench`).

`logger_bench.py` is the event logger's own benchmark, a script apart from this package.
"""
