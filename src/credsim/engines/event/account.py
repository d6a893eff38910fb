"""What guilt by association takes today, in the event engine, for summary.json's
``mechanisms``: from a sum kept as adapt changes what people show, not from a pass over
the visible each day.

The measure is the reference engine's (:mod:`credsim.engines.reference.phases.account`):
``penalty * visibility * degree`` summed over the visible listed and detained, in their
own group. :attr:`EventState.shown_degrees` holds the sum of ``shown * degree`` per group:
built with the sums (:func:`credsim.engines.event.lazy.build`), changed by each change of
what a person shows (:func:`credsim.engines.event.adapt.adapt`). A visibility is a float32
and a degree an integer, so each term is exact in float64, and so are the sums while they
stay below 2**28 (a million visible people of degree 100): the same as the sum over the
visible, and 0 when nobody is visible (tests/engines/test_lazy.py checks both every day).
"""

from __future__ import annotations

from credsim.engines.event.state import EventState
from credsim.tally import Tally
from credsim.world import World


def account(world: World, state: EventState, day: int, tally: Tally) -> None:
    rule = world.scenario.score.association
    if rule.enabled and rule.penalty > 0:
        tally.add("association_points", rule.penalty * state.shown_degrees)
