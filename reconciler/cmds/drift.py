import click


@click.command()
def drift() -> None:
    """Report changes made in ConnectWise outside Git (placeholder)."""
    raise click.ClickException("not implemented yet")
