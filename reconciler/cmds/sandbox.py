import click


@click.group()
def sandbox() -> None:
    """The embedded ConnectWise + Trend simulator (placeholder)."""
