"""How runs get in: reading an upload into a report, storing it, queued uploads a worker
stores later, the ``TEST_RESULTS_DIR`` sync, and the analysis that follows each run."""
