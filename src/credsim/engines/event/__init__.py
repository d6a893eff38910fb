"""The event engine: the day of docs/model.md with random numbers that do not depend on how
the population is split (:mod:`credsim.engines.event.step`)."""

from __future__ import annotations

from credsim.engines import Engine
from credsim.engines.event.state import event_state
from credsim.engines.event.step import RANDOM_NUMBERS, step

ENGINE = Engine(name="event", random_numbers=RANDOM_NUMBERS, initial_state=event_state, step=step)
