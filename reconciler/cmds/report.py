import click


@click.command()
def report() -> None:
    """Write the HTML billing report (placeholder)."""
    raise click.ClickException("not implemented yet")
