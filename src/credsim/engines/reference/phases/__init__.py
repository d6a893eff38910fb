"""The eight phases of a day, in the order of docs/model.md; ``credsim.engines.reference.step`` calls them."""

from credsim.engines.reference.phases.adapt import adapt
from credsim.engines.reference.phases.appeal import appeal
from credsim.engines.reference.phases.behave import behave
from credsim.engines.reference.phases.listing import listing
from credsim.engines.reference.phases.observe import observe
from credsim.engines.reference.phases.record import Recorder
from credsim.engines.reference.phases.sanction import sanction
from credsim.engines.reference.phases.score import score

__all__ = ["Recorder", "adapt", "appeal", "behave", "listing", "observe", "sanction", "score"]
