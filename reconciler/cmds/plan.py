import click


def run_scheduled_job(runtime, dry_run: bool) -> int:
    raise click.ClickException("not implemented yet")


@click.command()
def plan() -> None:
    """Show what would change (placeholder)."""
    raise click.ClickException("not implemented yet")


@click.command()
def apply() -> None:
    """Apply what is due (placeholder)."""
    raise click.ClickException("not implemented yet")
