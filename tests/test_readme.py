"""README's examples run as written, in order, from the repository's folder: every command
and option exists, every file they name is in the repository, and every run folder they
read was written by the install command or an earlier example (with the fresh names
`credsim run` gives). Checked without running the examples (some take minutes)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import typer

import credsim.cli
from credsim.scenario import builtin_names

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _examples() -> list[list[str]]:
    block = README.split("## Using it", 1)[1]
    lines = re.findall(r"^    (credsim .*)$", block.split("\n## ", 1)[0], re.M)
    return [shlex.split(line.split("  #")[0]) for line in lines]


def _folder_of(run: list[str], taken: set[str]) -> str:
    """The folder `credsim run ARGS` writes, as credsim.cli chooses it."""
    if "--out" in run:
        return run[run.index("--out") + 1]
    scenario = next((a for a in run[2:] if not a.startswith("-") and run[run.index(a) - 1] not in ("--set", "--seed", "--days", "--population")), "city")
    name = tomllib.loads((ROOT / scenario).read_text())["meta"]["name"] if scenario.endswith(".toml") else scenario
    seed = run[run.index("--seed") + 1] if "--seed" in run else "0"
    base = f"runs/{name}-seed{seed}"
    folder, number = base, 2
    while folder in taken:
        folder, number = f"{base}-{number}", number + 1
    return folder


def test_every_readme_example_runs_as_written():
    commands = typer.main.get_command(credsim.cli.app).commands
    examples = _examples()
    assert len(examples) >= 10
    written = {"runs/city-seed0"}  # the install command's `credsim run`
    for words in examples:
        assert words[0] == "credsim" and words[1] in commands, words
        command = commands[words[1]]
        options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
        for word in words[2:]:
            if word.startswith("-"):
                assert word in options, f"{' '.join(words)}: {word} is not an option of credsim {words[1]}"
            elif word.endswith(".toml"):
                assert (ROOT / word).is_file(), f"{' '.join(words)}: {word} is not in the repository"
        if words[1] == "run":
            written.add(_folder_of(words, written))
        elif words[1] in ("experiment", "sensitivity"):
            spec = tomllib.loads((ROOT / words[2]).read_text())
            written.add(f"runs/{spec['experiment']['name']}")
        reads = [w for w in words[2:] if w.startswith("runs/")]
        if words[1] in ("compare", "report", "runs"):
            for folder in reads:
                assert folder in written, f"{' '.join(words)}: no earlier example writes {folder}"
        for name in (w for w in words[2:] if w in builtin_names()):
            assert name in builtin_names()


def test_the_examples_folder_validates():
    from credsim.experiments.spec import load_experiment
    from credsim.scenario import load_scenario

    assert load_scenario(str(ROOT / "examples" / "my-scenario.toml")).meta.name == "my-scenario"
    for file in ("my-experiment.toml", "my-morris.toml"):
        load_experiment(ROOT / "examples" / file)


def test_readme_puts_credsim_on_the_path_before_using_it():
    install = README.index(".venv/bin/credsim run")
    activate = README.index("source .venv/bin/activate")
    assert install < activate < README.index("## Using it")
