"""What a long command is doing, in stages, on the terminal (rich).

    with Stages(console) as stages:
        stages.start("building the population")
        stages.start("simulating", total=365)      # ends the stage before it
        stages.advance_to(120)                      # 120/365 days, with the time left
        stages.start("writing")
    # every stage stays on screen, each with its own elapsed time

Each stage is one line: a spinner while it runs ("done" after), its name, a bar (pulsing
when the amount of work is unknown), days done for a counted stage, the time it took, and
for a counted stage the time left. ``Stages(console, enabled=False)`` shows nothing.
"""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TaskID, TextColumn, TimeElapsedColumn
from rich.text import Text


class _DaysDone(ProgressColumn):
    def render(self, task: Task) -> Text:
        if not task.fields.get("counted"):
            return Text("")
        unit = "day" if task.total == 1 else "days"
        return Text(f"{int(task.completed):,}/{int(task.total):,} {unit}", style="progress.download")


class _TimeLeft(ProgressColumn):
    max_refresh = 0.5

    def render(self, task: Task) -> Text:
        if not task.fields.get("counted") or task.finished:
            return Text("")
        left = task.time_remaining
        if left is None:
            return Text("time left: estimating", style="progress.remaining")
        minutes, seconds = divmod(int(round(left)), 60)
        return Text(f"about {minutes}:{seconds:02d} left", style="progress.remaining")


class Stages:
    """A rich progress display of named stages, one line each, kept on screen."""

    def __init__(self, console: Console, enabled: bool = True):
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]done[/]"),
            TextColumn("{task.description}"),
            BarColumn(),
            _DaysDone(),
            TimeElapsedColumn(),
            _TimeLeft(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self.current: TaskID | None = None
        self.names: list[str] = []

    def __enter__(self) -> Stages:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if exc[0] is None:
            self.finish()
        self.progress.stop()

    @property
    def stage(self) -> str | None:
        """The name of the stage running now, or None."""
        return self.names[-1] if self.current is not None else None

    def start(self, description: str, total: int | None = None, completed: int = 0) -> None:
        """End the running stage (if any) and start ``description``."""
        self.finish()
        self.current = self.progress.add_task(description, total=total, completed=completed, counted=total is not None)
        self.names.append(description)

    def advance_to(self, completed: int) -> None:
        if self.current is not None:
            self.progress.update(self.current, completed=completed)

    def finish(self) -> None:
        """Mark the running stage done."""
        if self.current is None:
            return
        task = self.progress.tasks[-1]
        self.progress.update(self.current, total=task.total if task.total is not None else 1,
                             completed=task.total if task.total is not None else 1)
        self.progress.stop_task(self.current)
        self.current = None
