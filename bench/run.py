"""`make bench`: the hot paths under gunicorn, driven by wrk from a second process, each
against a baseline measured in the same run.

- usage/report and quota-check vs a bare Django view returning constant JSON (same
  gunicorn, same settings and middleware);
- batch-report (1000 events a request) vs a raw psycopg COPY of the same event rows.

With DATABASE_URL (PostgreSQL) and REDIS_URL set, the server runs against a throwaway
database on that server and that Redis; otherwise it runs embedded (SQLite, local
memory). Writes bench/results.json and the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = Path(sys.executable).parent
RESULTS = BENCH / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"

TARGETS = {
    "report_vs_bare": 0.35,
    "batch_events_per_s": 40_000,
    "batch_vs_copy": 0.25,
    "quota_vs_bare": 0.50,
    "quota_p99_ms": 10.0,  # at 32 connections, measured at a fixed offered load (open loop)
}


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_database(url: str, name: str) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{name}"))


class Database:
    """A throwaway PostgreSQL database, or a temporary SQLite file."""

    def __init__(self, url: str | None):
        self.url = url
        stamp = f"{int(time.time())}_{os.getpid()}"
        if url and url.startswith(("postgres://", "postgresql://")):
            self.kind = "postgresql"
            self.name = f"bench_{stamp}"
            self.bench_url = with_database(url, self.name)
        else:
            self.kind = "sqlite"
            self.name = f"/tmp/billing-bench-{stamp}.sqlite3"
            self.bench_url = f"sqlite:///{self.name}"

    def _admin(self, sql: str) -> None:
        import psycopg

        parts = urlparse(self.url)
        with psycopg.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=parts.username or "postgres",
            password=parts.password,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(sql)

    def create(self) -> None:
        if self.kind == "postgresql":
            self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self.kind == "postgresql":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        else:
            for suffix in ("", "-wal", "-shm"):
                Path(self.name + suffix).unlink(missing_ok=True)


def server_env(database: Database, redis_url: str | None, prefix: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(
        {
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "JWT_SIGNING_KEY": secrets.token_urlsafe(50),
            "DATABASE_URL": database.bench_url,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "ROOT_URLCONF": "bench.urls",
            "LOG_LEVEL": "WARNING",
            "CACHE_KEY_PREFIX": prefix,
            "PYTHONPATH": str(ROOT),
            # No payment is taken here, but DEBUG off with the sandbox as the default gateway
            # fails the system check (payments.E001) unless the sandbox is on: the bench has
            # no real gateway keys to name instead.
            "SANDBOX_GATEWAY_ENABLED": "true",
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


def run_manage(env: dict, *args: str) -> str:
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


class Server:
    def __init__(self, env: dict, workers: int, threads: int):
        self.env = env
        self.port = free_port()
        self.workers = workers
        self.threads = threads
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            str(VENV_BIN / "gunicorn"),
            "billing_project.wsgi",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(self.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(self.threads),
            "--log-level",
            "warning",
            "--keep-alive",
            "30",
            "--backlog",
            "2048",
        ]
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def wrk(url: str, *, script: str, connections: int, seconds: int, key: str, extra_env: dict | None = None) -> dict:
    env = {**os.environ, "BENCH_KEY": key, **(extra_env or {})}
    command = [
        "wrk",
        "--threads",
        "2",
        "--connections",
        str(connections),
        "--duration",
        f"{seconds}s",
        "--timeout",
        "10s",
        "--latency",
        "--script",
        str(BENCH / script),
        url,
    ]
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    latency = {}
    for percentile, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M):
        factor = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        latency[f"p{percentile}_ms"] = round(float(value) * factor, 3)
    return {
        "requests_per_s": round(rps, 1),
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(int(x) for x in errors.groups()) if errors else 0,
        "connections": connections,
        "seconds": seconds,
        **latency,
    }


def open_loop(url: str, *, rate: float, seconds: int, connections: int, key: str) -> dict:
    """Latency at a fixed offered load (bench/openloop.py), after a short warm-up."""
    command = [str(VENV_BIN / "python"), str(BENCH / "openloop.py"), url, "--connections", str(connections)]
    env = {**os.environ, "BENCH_KEY": key}
    subprocess.run([*command, "--rate", str(rate / 2), "--seconds", "2"], env=env, capture_output=True, check=True)
    output = subprocess.run(
        [*command, "--rate", str(rate), "--seconds", str(seconds)], env=env, capture_output=True, text=True, check=True
    ).stdout
    return json.loads(output)


def copy_baseline(database: Database, env: dict, organization_id: str, rows: int) -> dict:
    """COPY `rows` event rows like batch-report's into the same table: the raw ceiling."""
    if database.kind != "postgresql":
        return {"skipped": "COPY needs PostgreSQL"}
    import uuid

    import psycopg

    parts = urlparse(database.bench_url)
    with psycopg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username,
        password=parts.password,
        dbname=database.name,
    ) as conn:
        metric_id = conn.execute("SELECT id FROM plans_billablemetric WHERE code = 'tokens'").fetchone()[0]
        key_id = conn.execute("SELECT id FROM apikeys_apikey LIMIT 1").fetchone()[0]
        now = datetime.now(UTC)
        prefix = uuid.uuid4().hex[:8]
        records = [
            (
                organization_id,
                metric_id,
                "tokens_used",
                i % 997 + 1,
                now,
                now,
                f"copy-{prefix}-{i}",
                "/v1/generate",
                "{}",
                key_id,
                True,
            )
            for i in range(rows)
        ]
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(
                'COPY usage_usageevent (organization_id, metric_id, event_type, quantity, "timestamp", received_at, '
                "idempotency_key, endpoint, metadata, api_key_id, livemode) FROM STDIN"
            ) as copy,
        ):
            for record in records:
                copy.write_row(record)
        conn.commit()
        elapsed = time.perf_counter() - started
    return {"rows": rows, "seconds": round(elapsed, 3), "rows_per_s": round(rows / elapsed, 1)}


def environment_facts() -> dict:
    return {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "machine": os.uname().machine,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def write_doc(results: dict) -> None:
    r = results
    bare = r["bare"]["requests_per_s"]
    report = r["report"]["requests_per_s"]
    quota = r["quota_check"]
    latency = r["quota_check_latency"]
    batch_eps = r["batch_report"]["events_per_s"]
    copy = r["copy"].get("rows_per_s")
    ratios = r["ratios"]

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else ("met" if ok else "**not met**")

    rows = [
        ("bare Django view (baseline)", f"{bare:,.0f} req/s", "", ""),
        (
            "usage/report, 1 event",
            f"{report:,.0f} req/s",
            f"{ratios['report_vs_bare']:.0%} of bare (target >= 35%)",
            verdict(ratios["report_vs_bare"] >= 0.35),
        ),
        (
            "quota-check",
            f"{quota['requests_per_s']:,.0f} req/s",
            f"{ratios['quota_vs_bare']:.0%} of bare (target >= 50%)",
            verdict(ratios["quota_vs_bare"] >= 0.50),
        ),
        (
            f"quota-check p99, 32 connections, {latency['offered_rate']:.0f} req/s offered",
            f"{latency['p99_ms']:.2f} ms (p50 {latency['p50_ms']:.2f} ms)",
            "target < 10 ms",
            verdict(latency["p99_ms"] < 10.0),
        ),
        (
            "quota-check p99, 32 connections, saturated (wrk)",
            f"{quota.get('p99_ms', float('nan')):.2f} ms",
            "queueing at full load, for reference",
            "",
        ),
        (
            "batch-report, 1000 events/request",
            f"{batch_eps:,.0f} events/s",
            "target >= 40,000 events/s",
            verdict(batch_eps >= 40_000),
        ),
        ("raw psycopg COPY of the same rows (baseline)", f"{copy:,.0f} rows/s" if copy else "n/a", "", ""),
        (
            "batch-report vs COPY",
            f"{ratios['batch_vs_copy']:.0%}" if ratios["batch_vs_copy"] is not None else "n/a",
            "target >= 25%",
            verdict(None if ratios["batch_vs_copy"] is None else ratios["batch_vs_copy"] >= 0.25),
        ),
    ]
    for row in r.get("billing_cycle") or []:
        rows.append(
            (
                f"run_billing_cycle, {row['organizations']:,} organizations x 30 days of rollups",
                f"{row['seconds']:.1f} s ({row['per_organization_ms']:.2f} ms each)",
                "target < 60 s for 10,000"
                + (
                    f"; the {row['invoices_paid']:,} queued charges then took {row['charge_seconds']:.1f} s"
                    if row.get("charge_seconds") is not None
                    else ""
                ),
                verdict(row["seconds"] < 60) if row["organizations"] >= 10_000 else "",
            )
        )
    pdf = r.get("invoice_pdf")
    if pdf:
        rows.append(
            (
                f"invoice PDF, {pdf['lines']} lines (WeasyPrint)",
                f"{pdf['median_ms']:.0f} ms median, {pdf['max_ms']:.0f} ms worst of {pdf['runs']}",
                "target < 200 ms",
                verdict(pdf["max_ms"] < 200),
            )
        )
    pages = r.get("customer_pages")
    if pages:
        slowest = max(pages["pages"].items(), key=lambda item: item[1]["p95_ms"])
        rows.append(
            (
                f"customer pages, {len(pages['pages'])} pages, {pages['usage_days']} days of usage and "
                f"{pages['invoices']} invoices ({pages['database']}, in-process render)",
                f"worst p95 {pages['worst_p95_ms']:.0f} ms ({slowest[0]}; median {slowest[1]['median_ms']:.0f} ms)",
                "target p95 < 150 ms",
                verdict(pages["worst_p95_ms"] < 150),
            )
        )
    table = "\n".join(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)
    facts = r["environment"]
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    section = (
        "<!-- bench:start -->\n"
        f"Last `make bench`: {facts['date']}, {facts['cpus']} CPUs, Python {facts['python']}, "
        f"{r['mode']}, gunicorn {r['server']['workers']} workers x {r['server']['threads']} threads (gthread), "
        f"wrk 2 threads on the same machine, {r['server']['connections']} connections, "
        f"{r['server']['seconds']} s a scenario.\n\n"
        "| scenario | measured | against the baseline | target |\n|---|---|---|---|\n"
        f"{table}\n<!-- bench:end -->"
    )
    if "<!-- bench:start -->" in text:
        text = re.sub(r"<!-- bench:start -->.*<!-- bench:end -->", section, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n## Hot paths\n\n" + section + "\n"
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "10")))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("BENCH_WORKERS", "4")))
    parser.add_argument("--threads", type=int, default=int(os.environ.get("BENCH_THREADS", "2")))
    parser.add_argument("--copy-rows", type=int, default=200_000)
    parser.add_argument("--latency-rate", type=float, default=1000.0, help="offered req/s for the p99 measurement")
    args = parser.parse_args()

    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk (make bench installs it when run as root)")
    redis_url = os.environ.get("REDIS_URL") or None
    database = Database(os.environ.get("DATABASE_URL"))
    mode = f"{database.kind} + {'Redis' if redis_url else 'local memory'}"
    log(f"mode: {mode}; database {database.name}")
    prefix = f"bench{int(time.time())}"
    env = server_env(database, redis_url, prefix)
    database.create()
    server = Server(env, args.workers, args.threads)
    try:
        run_manage(env, "migrate", "--no-input")
        setup = json.loads(
            subprocess.run(
                [str(VENV_BIN / "python"), str(BENCH / "setup_data.py")],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        key = setup["key"]
        server.start()
        common = {"connections": args.connections, "seconds": args.seconds, "key": key}
        log("warm-up")
        wrk(f"{server.base}/bench/bare", script="get.lua", connections=8, seconds=2, key=key)
        wrk(f"{server.base}/api/v1/usage/report", script="report.lua", connections=8, seconds=2, key=key)
        log("bare view")
        bare = wrk(f"{server.base}/bench/bare", script="get.lua", **common)
        log(f"  {bare['requests_per_s']} req/s")
        log("usage/report")
        report = wrk(f"{server.base}/api/v1/usage/report", script="report.lua", **common)
        log(f"  {report['requests_per_s']} req/s")
        log("quota-check")
        quota = wrk(
            f"{server.base}/api/v1/usage/quota-check?requests_needed=1&tokens_needed=10", script="get.lua", **common
        )
        log(f"  {quota['requests_per_s']} req/s, p99 {quota.get('p99_ms')} ms (saturated)")
        log(f"quota-check latency at {args.latency_rate:.0f} req/s offered, {args.connections} connections")
        quota_latency = open_loop(
            f"{server.base}/api/v1/usage/quota-check?requests_needed=1&tokens_needed=10",
            rate=args.latency_rate,
            seconds=args.seconds,
            connections=args.connections,
            key=key,
        )
        log(f"  p50 {quota_latency['p50_ms']} ms, p99 {quota_latency['p99_ms']} ms")
        log("batch-report (1000 events a request)")
        batch = wrk(
            f"{server.base}/api/v1/usage/batch-report",
            script="batch.lua",
            connections=min(args.connections, 8),
            seconds=args.seconds,
            key=key,
        )
        batch["events_per_s"] = round(batch["requests_per_s"] * 1000, 1)
        log(f"  {batch['events_per_s']} events/s")
        server.stop()
        log("COPY baseline")
        copy = copy_baseline(database, env, setup["organization_id"], args.copy_rows)
        log(f"  {copy.get('rows_per_s')} rows/s")
    finally:
        server.stop()
        database.drop()

    cycle = None
    if database.kind == "postgresql" and redis_url:
        log("billing cycle for 1,000 and 10,000 organizations (30 days of rollups each)")
        cycle = json.loads(
            subprocess.run(
                [str(VENV_BIN / "python"), str(BENCH / "cycle.py"), "1000", "10000"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        for row in cycle:
            log(f"  {row['organizations']:,} organizations: {row['seconds']} s ({row['per_organization_ms']} ms each)")

    log("invoice PDF rendering")
    pdf = json.loads(
        subprocess.run(
            [str(VENV_BIN / "python"), str(BENCH / "pdf_render.py"), "20"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    log(f"  median {pdf['median_ms']} ms, worst {pdf['max_ms']} ms")

    log("customer pages (a year of usage, 100 invoices)")
    pages_database = Database(os.environ.get("DATABASE_URL"))
    pages_database.create()
    try:
        pages = json.loads(
            subprocess.run(
                [str(VENV_BIN / "python"), str(BENCH / "pages.py"), "40"],
                cwd=ROOT,
                env={**server_env(pages_database, redis_url, prefix + "p"), "ROOT_URLCONF": "billing_project.urls"},
                capture_output=True,
                text=True,
                check=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
    finally:
        pages_database.drop()
    for url, row in pages["pages"].items():
        log(f"  {url}: p95 {row['p95_ms']} ms (median {row['median_ms']} ms)")

    results = {
        "mode": mode,
        "environment": environment_facts(),
        "server": {
            "workers": args.workers,
            "threads": args.threads,
            "connections": args.connections,
            "seconds": args.seconds,
        },
        "bare": bare,
        "report": report,
        "quota_check": quota,
        "quota_check_latency": quota_latency,
        "batch_report": batch,
        "copy": copy,
        "invoice_pdf": pdf,
        "customer_pages": pages,
        "billing_cycle": cycle,
        "ratios": {
            "report_vs_bare": round(report["requests_per_s"] / bare["requests_per_s"], 3),
            "quota_vs_bare": round(quota["requests_per_s"] / bare["requests_per_s"], 3),
            "batch_vs_copy": round(batch["events_per_s"] / copy["rows_per_s"], 3) if copy.get("rows_per_s") else None,
        },
        "targets": TARGETS,
    }
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    write_doc(results)
    log(f"wrote {RESULTS.relative_to(ROOT)} and {DOC.relative_to(ROOT)}")
    for name in ("bare", "report", "quota_check", "batch_report"):
        if results[name]["non_2xx"] or results[name]["socket_errors"]:
            log(
                f"WARNING: {name} had {results[name]['non_2xx']} non-2xx answers, "
                f"{results[name]['socket_errors']} socket errors"
            )
    print(json.dumps(results["ratios"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
