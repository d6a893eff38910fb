"""Short definitions of the summary metrics, consistent with docs/metrics.md, for the page.

Each entry: (key in summary.json, label, how to format it, definition). The four-fifths
rule gets its own paragraph, labelled for what it is: a legal screening threshold, not a
test of fairness.
"""

from __future__ import annotations

METRICS = (
    ("population", "people", "int", "People in the group."),
    ("ever_listed", "ever listed", "pct",
     "People with at least one listing episode during the run / population. Being on notice without being "
     "listed does not count."),
    ("listed_rate", "listed at the end", "pct",
     "People on the list at the end of the last day / population, detained listed people included. It depends "
     "on how long the run was."),
    ("detained_rate", "detained at the end", "pct", "People detained at the end / population; 0 when detention is off."),
    ("episodes", "listing episodes", "int",
     "Listing episodes that began during the run; a person listed twice counts twice."),
    ("wrongful_share", "wrongful", "pct",
     "Share of episodes that would not have happened without the system's own errors (false matches, "
     "malicious reports, record errors). Blank when there were no episodes."),
    ("unjust_share", "unjust", "pct",
     "Share of episodes that are not wrongful but rest on penalties for protected behaviour (worship, "
     "criticism). 1 − wrongful − unjust were listed by the rules."),
    ("median_days_listed", "median days listed", "days",
     "The median time on the list by the Kaplan–Meier estimator: duration = end_day − start_day, or "
     "days − start_day for an episode still open at the end (censored). \"Not reached\" when the curve never "
     "falls to one half: more than half the episodes were still open, and the median is longer than the run "
     "can show."),
    ("exit_within_1y", "left within a year", "pct",
     "1 − S(365) on the same Kaplan–Meier curve: the chance that an episode ends within 365 days. Blank when no "
     "episode was followed for a year."),
    ("appeals_filed", "objections and appeals filed", "int", "Objections (when a notice opens) and appeals (while listed) filed."),
    ("appeals_upheld", "upheld", "int", "Objections and appeals decided in the person's favour."),
    ("appeal_median_wait_days", "median wait, days", "days",
     "The lower median wait of the cases decided during the run. Cases still waiting are not in it: read it "
     "with the backlog."),
    ("backlog_end", "backlog at the end", "int", "Open objections and appeals waiting in the queue at the end."),
    ("blocked_per_1000_per_year", "blocked per 1,000 a year", "num",
     "(blocked flights + blocked rail tickets over the run) × 1,000 × 365 / (population × days)."),
    ("chilling_index", "chilling", "pct",
     "1 − protected events that happened / protected events expected with no system, over the run. Detention "
     "counts in it too (detained people do nothing). Near 0, and even slightly negative, with no system."),
    ("deterrence", "deterrence", "pct",
     "1 − harmful events / harmful events expected with no system: the system's claimed benefit. It can be "
     "negative: a system can cause more harm (the poverty trap) than it deters."),
    ("income_gap", "income gap", "pct",
     "1 − mean income of the ever-listed / mean income of the never-listed, at the end. It mixes the sanctions' "
     "effect with selection (poorer people may be listed more to begin with)."),
    ("gini_income", "Gini of income", "ratio", "The Gini coefficient of current incomes at the end (0: all equal)."),
    ("gini_score", "Gini of score", "ratio",
     "The Gini coefficient of score − score.min at the end. Small on a 0–1300 scale even when some people lost "
     "hundreds of points; compare it between runs on the same scale only."),
    ("disparate_impact", "disparate impact", "ratio",
     "A group's listed rate at the end / the reference group's: 2.0 means listed twice as often. Blank when the "
     "reference group's rate is 0. For a rare outcome this is the informative ratio."),
    ("not_listed_ratio", "not-listed ratio", "ratio",
     "(1 − a group's listed rate) / (1 − the reference group's listed rate): the quantity the four-fifths rule "
     "looks at (below)."),
)

FOUR_FIFTHS = (
    "The four-fifths rule is a legal screening threshold from US employment law: the Uniform Guidelines on "
    "Employee Selection Procedures adopted by the EEOC and other federal agencies in 1978 (29 CFR 1607.4(D)), "
    "under which a group's selection rate below four fifths (0.8) of the highest group's rate is taken as a sign "
    "that a selection procedure deserves a closer look. It is not a test of fairness: a ratio above 0.8 does not "
    "show that a system is fair, and one below 0.8 does not by itself show that it is not. credsim reports the "
    "not-listed ratio and does not apply the rule. Here the favourable outcome is not being listed, and the "
    "comparison is with the reference group, not with the group with the highest favourable rate. When few "
    "people are listed this ratio stays close to 1 even if one group is listed many times as often: read the "
    "disparate impact instead."
)
