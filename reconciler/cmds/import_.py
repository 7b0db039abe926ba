import click


@click.command("import")
def import_command() -> None:
    """Write customer files from ConnectWise (placeholder)."""
    raise click.ClickException("not implemented yet")
