from click.testing import CliRunner

from reconciler.cli import cli


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "plan", "apply", "sandbox", "import", "drift", "report"):
        assert command in result.output
