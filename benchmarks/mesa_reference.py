"""The benchmark reference model in Mesa 3.3, written the way Mesa's own examples are.

One ``Agent`` per person with its attributes, ``model.agents.do("step")`` each day, a
``DataCollector`` with model reporters for the recorded figures, the model's own seeded
``random``. The same model as ``benchmarks/reference.toml`` (see benchmarks/README.md):

N people, 10% in group 1; score 1000; lognormal income with mean about 1. Each day:
(1) Bernoulli events: traffic 0.002 (-5), debt default 0.0005 (-50; x3 while listed),
    volunteering 0.001 (+5), religious practice 0.01 for group 1 only (-20);
(2) each event seen with probability 0.7 (0.9 for group 1); a false report with
    probability 0.0002 (-20; always counts);
(3) add the deltas, then score += 0.001 * (1000 - score), clip to [0, 1300];
(4) below 850 and not listed: listed, days_listed = 0; if listed: days_listed += 1,
    income x 0.999; delisted when score >= 950 and days_listed >= 365;
(5) record mean score and listed fraction per group.
"""

from __future__ import annotations

import math

from mesa import Agent, DataCollector, Model


class Person(Agent):
    def __init__(self, model: "ReferenceModel", group: int, income: float):
        super().__init__(model)
        self.group = group
        self.score = 1000.0
        self.income = income
        self.listed = False
        self.days_listed = 0

    def step(self) -> None:
        random = self.model.random
        seen = 0.9 if self.group == 1 else 0.7
        delta = 0.0
        # (1) behaviour and (2) observation
        if random.random() < 0.002 and random.random() < seen:
            delta -= 5
        if random.random() < 0.0005 * (3 if self.listed else 1) and random.random() < seen:
            delta -= 50
        if random.random() < 0.001 and random.random() < seen:
            delta += 5
        if self.group == 1 and random.random() < 0.01 and random.random() < seen:
            delta -= 20
        if random.random() < 0.0002:
            delta -= 20
        # (3) score
        score = self.score + delta
        score += 0.001 * (1000 - score)
        self.score = min(max(score, 0.0), 1300.0)
        # (4) listing
        if self.score < 850 and not self.listed:
            self.listed = True
            self.days_listed = 0
        if self.listed:
            self.days_listed += 1
            self.income *= 0.999
            if self.score >= 950 and self.days_listed >= 365:
                self.listed = False


def _group_mean(model: "ReferenceModel", group: int, attribute: str) -> float:
    members = model.agents.select(lambda a: a.group == group)
    values = members.get(attribute)
    return sum(values) / len(values) if values else 0.0


class ReferenceModel(Model):
    def __init__(self, n_agents: int = 10_000, seed: int | None = None):
        super().__init__(seed=seed)
        sigma = 0.5
        for i in range(n_agents):
            group = 1 if i < n_agents // 10 else 0
            income = math.exp(self.random.gauss(-sigma * sigma / 2, sigma))  # mean 1
            Person(self, group, income)
        self.datacollector = DataCollector(
            model_reporters={
                "mean_score_0": lambda m: _group_mean(m, 0, "score"),
                "mean_score_1": lambda m: _group_mean(m, 1, "score"),
                "listed_0": lambda m: _group_mean(m, 0, "listed"),
                "listed_1": lambda m: _group_mean(m, 1, "listed"),
            }
        )

    def step(self) -> None:
        self.agents.do("step")
        self.datacollector.collect(self)


def run(n_agents: int, days: int, seed: int) -> dict:
    """Run the model; return the final listed fraction per group."""
    model = ReferenceModel(n_agents, seed=seed)
    for _ in range(days):
        model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    return {"listed_0": float(frame["listed_0"].iloc[-1]), "listed_1": float(frame["listed_1"].iloc[-1])}
