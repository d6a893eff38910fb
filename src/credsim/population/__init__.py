"""Synthetic people: where they are, what they earn, how prone they are, whom they know."""

from credsim.population.layout import Layout, apportion, make_layout
from credsim.population.network import Network, build_network

__all__ = ["Layout", "Network", "apportion", "build_network", "make_layout"]
