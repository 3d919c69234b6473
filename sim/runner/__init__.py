"""Suite runs: configuration, one episode to a record, local / Ray backends, results folders."""

from sim.runner.config import ConfigError, RunConfig, load_config
from sim.runner.local import run_suite
from sim.runner.results import ResultsError, read_episodes, summarize, table_text

__all__ = [
    "ConfigError",
    "ResultsError",
    "RunConfig",
    "load_config",
    "read_episodes",
    "run_suite",
    "summarize",
    "table_text",
]
