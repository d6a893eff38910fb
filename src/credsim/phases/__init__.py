"""The eight phases of a day, in the order of docs/model.md; ``credsim.step`` calls them."""

from credsim.phases.adapt import adapt
from credsim.phases.appeal import appeal
from credsim.phases.behave import behave
from credsim.phases.listing import listing
from credsim.phases.observe import observe
from credsim.phases.record import Recorder
from credsim.phases.sanction import sanction
from credsim.phases.score import score

__all__ = ["Recorder", "adapt", "appeal", "behave", "listing", "observe", "sanction", "score"]
