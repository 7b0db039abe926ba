import click


@click.command()
def validate() -> None:
    """Check the config (placeholder until the validate issue lands)."""
    raise click.ClickException("not implemented yet")
