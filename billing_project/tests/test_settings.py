"""Settings come from the environment; production refuses to start without secrets."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(env_overrides: dict, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "JWT_SIGNING_KEY", "DEBUG"}}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_missing_secret_key_with_debug_off_is_a_clear_startup_error():
    result = _run({"DEBUG": "false"}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_missing_jwt_signing_key_with_debug_off_is_a_clear_startup_error():
    result = _run({"DEBUG": "false", "SECRET_KEY": "x" * 60}, "check")
    assert result.returncode != 0
    assert "JWT_SIGNING_KEY is not set" in result.stderr


def test_deploy_check_is_clean_with_real_secrets():
    result = _run(
        {
            "DEBUG": "false",
            "SECRET_KEY": "kq1-2s93LdnW_bx8Yx6pQ5Zr7m0Tq-Fh3vJ9wXe4aNcU2yHgRkPoLiBsDtMfVzQ",
            "JWT_SIGNING_KEY": "Jw7-Xc2Rb9Nm4Kq1Lp8Vs3Tz6Yh0Gf5Dd2Ae9Bc4Wx7Ru1Ik3Oj6Mn8Pl0Qs2",
            "ALLOWED_HOSTS": "billing.example.com",
            "SECURE_SSL_REDIRECT": "true",
            # Production takes real payments: the click-to-pay sandbox is off.
            "SANDBOX_GATEWAY_ENABLED": "false",
            "DEFAULT_GATEWAY": "stripe",
        },
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_debug_on_runs_without_secrets():
    result = _run({"DEBUG": "true"}, "check")
    assert result.returncode == 0, result.stderr
