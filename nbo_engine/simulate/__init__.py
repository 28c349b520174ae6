"""A synthetic retail bank whose true behaviour is known."""

from nbo_engine.simulate.bank import SimulationSummary, simulate_bank
from nbo_engine.simulate.params import OFFERS, SEGMENTS, SimConfig, WorldParams
from nbo_engine.simulate.world import ResponseProbabilities, World, relationship_value

__all__ = [
    "OFFERS",
    "SEGMENTS",
    "ResponseProbabilities",
    "SimConfig",
    "SimulationSummary",
    "World",
    "WorldParams",
    "relationship_value",
    "simulate_bank",
]
