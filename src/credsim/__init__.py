"""credsim: run a social credit system on a synthetic population and measure what it does.

    >>> import credsim
    >>> scenario = credsim.load_scenario("city", overrides=["population.size=10000", "population.days=30"])
    >>> result = credsim.simulate(scenario, seed=1)
    >>> result.summary["by_group"]["minority"]["ever_listed"]  # doctest: +SKIP

Synthetic people only: credsim has no importer of person-level data and scores no one real.
"""

__version__ = "0.1.0"

from pathlib import Path as _Path  # noqa: E402

from credsim import numba_cache as _numba_cache  # noqa: E402

_numba_cache.install(_Path(__file__).parent)  # before any kernel is defined: see credsim.numba_cache

from credsim.errors import CorruptRunError, CredsimError, ResourceError, ScenarioError  # noqa: E402
from credsim.results import read_summary, write_run  # noqa: E402
from credsim.scenario import Scenario, builtin_names, load_scenario  # noqa: E402
from credsim.simulate import RunResult, simulate  # noqa: E402
from credsim.checkpoint import resume  # noqa: E402

__all__ = sorted(
    [
        "CorruptRunError",
        "CredsimError",
        "ResourceError",
        "RunResult",
        "Scenario",
        "ScenarioError",
        "__version__",
        "builtin_names",
        "load_scenario",
        "read_summary",
        "resume",
        "simulate",
        "write_run",
    ]
)
