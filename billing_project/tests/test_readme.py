"""The README's walk-through works as written, against a live server."""

import re
import subprocess
import uuid
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _walkthrough() -> str:
    text = README.read_text()
    block = re.search(r"<!-- walkthrough:start -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README lost its walk-through block"
    return block.group(1)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_readme_walkthrough_runs_against_a_live_server(live_server, mailoutbox, settings):
    from plans.demo import demo_catalogue_ensure

    demo_catalogue_ensure()
    settings.SITE_URL = live_server.url
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", _walkthrough()],
        env={"BASE": live_server.url, "EMAIL": email, "PATH": "/usr/bin:/bin:/usr/local/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert '"success":false' not in result.stdout, result.stdout
    assert result.stdout.count('"success":true') == 11, result.stdout
    assert "Engine Works" in result.stdout
    assert '"duplicate":false' in result.stdout  # the usage event was recorded
    assert '"allowed":true' in result.stdout  # and the quota check answered
    assert "'used': 1500" in result.stdout  # GET /usage counts it
    assert "Pay at: " in result.stdout
    assert "\nactive\npaid\n" in result.stdout  # paid on the sandbox page: subscribed
    assert any("charles@example.com" in message.to for message in mailoutbox)
