"""The README's first lines are the newcomer's contract: keep them and CI in step."""

from pathlib import Path

ROOT = Path(__file__).parent.parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_opens_with_demo_and_test_commands():
    demo, tests = readme_commands()
    assert demo.endswith("consent-proxy demo")
    assert tests.endswith("pytest")
    assert (ROOT / "README.md").read_text().index("```sh") < 40


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == readme_commands()[1]
