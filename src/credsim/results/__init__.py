"""Writing and reading a run's outputs."""

from credsim.results.write import OUTPUT_FILES, read_summary, write_run

__all__ = ["OUTPUT_FILES", "read_summary", "write_run"]
