"""``python -m credsim.web serve ...``: the same command as ``credsim serve``."""

import typer

from credsim.web.cli import register

app = typer.Typer(add_completion=False, help="credsim's local web app.")


@app.callback()
def _main() -> None:
    """credsim's local web app (synthetic people only)."""


register(app)

if __name__ == "__main__":
    app()
