"""The container image, replayed outside Docker (no Docker daemon runs where the tests run).

What the Dockerfile does is done here from the Dockerfile itself, so the two cannot drift apart:
the build stage's COPYs (through .dockerignore) make a source tree, a wheel is built from it with
`pip wheel --no-deps` and installed into a clean venv standing for the image's VIRTUAL_ENV; then the
image's command (CMD, resolved through the image's PATH to deploy/start.sh) runs with the image's
ENV, against PostgreSQL on a schema of its own and the fake Slack and Stripe; the HEALTHCHECK's
command, parsed from the Dockerfile, must pass while it serves and fail once it has stopped.

Dependencies: the image resolves them from PyPI, which took 40 s here, more than this whole test may
take. So by default the wheel is installed `--no-deps` into the clean venv, and the project venv's
site-packages are put on its path after the venv's own (a `.pth` line: the project venv's own `.pth`
files, among them its editable install of this repo, are not run), and `pip check` verifies the
wheel's declared requirements against what is there. The code that runs is the wheel's (checked).
`CONTAINER_TEST_INSTALL_DEPENDENCIES=1` installs them from the index as the image does instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import yaml
from pydantic import SecretStr

from bot.config import Settings
from bot.http_server import GRACEFUL_SHUTDOWN_SECONDS, KEEP_ALIVE_SECONDS
from bot.store.migrations import load
from tests.contract.conftest import schema_url
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import BOT_TOKEN, PAYMENTS_CHANNEL, SIGNING_SECRET, STRIPE_KEY, WEBHOOK_SECRET, free_port

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = ROOT / "docker-compose.yml"
# What the official python images set, and the Dockerfile's ENV builds on (`PATH=...:$PATH`).
BASE_IMAGE_ENV = {"PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
INSTALL_DEPENDENCIES = os.environ.get("CONTAINER_TEST_INSTALL_DEPENDENCIES") == "1"
START_SECONDS = 30.0


# --- the Dockerfile, read as Docker reads it ----------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [each for each in self.instructions if each.keyword == keyword]

    def last(self, keyword: str) -> Instruction | None:
        found = self.all(keyword)
        return found[-1] if found else None

    def env(self, inherited: dict[str, str]) -> dict[str, str]:
        """The stage's ENV on top of `inherited`, `$NAME` and `${NAME}` expanded as Docker does."""
        env = dict(inherited)
        for instruction in self.all("ENV"):
            for pair in shlex.split(instruction.arguments):
                name, _, value = pair.partition("=")
                env[name] = re.sub(r"\$\{?(\w+)\}?", lambda match: env.get(match.group(1), ""), value)
        return env


def parse_dockerfile(text: str) -> list[Stage]:
    """Instructions per stage: continuation lines joined, comment lines dropped (also inside a
    continuation, as Docker drops them), parser directives (`# syntax=`) being comments too."""
    stages: list[Stage] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or (not line.strip() and not pending):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        pending = ""
        instruction = Instruction(keyword.upper(), " ".join(arguments.split()))
        if instruction.keyword == "FROM":
            words = instruction.arguments.split()
            stages.append(Stage(words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))))
        assert stages, f"{instruction.keyword} before any FROM"
        stages[-1].instructions.append(instruction)
    return stages


def split_flags(arguments: str) -> tuple[dict[str, str], list[str]]:
    """`--from=build --chmod=0755 a b dest` -> ({"from": "build", "chmod": "0755"}, ["a", "b", "dest"])."""
    words = shlex.split(arguments)
    flags = {}
    while words and words[0].startswith("--"):
        name, _, value = words.pop(0)[2:].partition("=")
        flags[name] = value
    return flags, words


def command_argv(arguments: str) -> list[str]:
    """CMD/ENTRYPOINT/HEALTHCHECK CMD: the exec form is a JSON array; the shell form runs in /bin/sh -c."""
    if arguments.startswith("["):
        argv = json.loads(arguments)
        assert isinstance(argv, list) and all(isinstance(word, str) for word in argv), arguments
        return argv
    return ["/bin/sh", "-c", arguments]


def seconds(duration: str) -> float:
    """A Dockerfile duration: 30s, 1m30s, 500ms."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


@dataclass(frozen=True)
class Healthcheck:
    options: dict[str, str]
    argv: list[str]


def parse_healthcheck(instruction: Instruction) -> Healthcheck:
    match = re.fullmatch(r"((?:--\S+\s+)*)CMD\s+(.+)", instruction.arguments)
    assert match, f"HEALTHCHECK must run a command: {instruction.arguments}"
    options, _ = split_flags(match.group(1))
    return Healthcheck(options, command_argv(match.group(2)))


# --- .dockerignore, matched as Docker matches it ------------------------------------------------
def ignore_rules(text: str) -> list[tuple[bool, re.Pattern[str]]]:
    """(re-include?, pattern) per line; `**` spans directories, `*` and `?` stay inside one."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = posixpath.normpath(line.removeprefix("!").strip()).lstrip("/")
        regex = ""
        for token in re.findall(r"\*\*/|\*\*|\*|\?|\[[^\]]*\]|[^*?\[]+", pattern):
            regex += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, token if token.startswith("[") else re.escape(token))
        rules.append((include, re.compile(regex)))
    return rules


def ignored(rules: list[tuple[bool, re.Pattern[str]]], relative: str) -> bool:
    """Docker's rule: the last pattern matching the path, or one of its parent folders, decides."""
    parts = relative.split("/")
    excluded = False
    for include, regex in rules:
        if any(regex.fullmatch("/".join(parts[:end])) for end in range(1, len(parts) + 1)):
            excluded = not include
    return excluded


def copy_from_context(source: str, destination: Path, rules: list[tuple[bool, re.Pattern[str]]]) -> None:
    """COPY <source> from the build context (this repo) as Docker would send it: ignored files left out."""
    origin = ROOT / source
    assert origin.exists() and not ignored(rules, source), f"the Dockerfile copies {source}, not in the context"
    if origin.is_file():
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(origin, destination)
        return
    for path in sorted(origin.rglob("*")):
        relative = path.relative_to(ROOT).as_posix()
        if path.is_file() and not ignored(rules, relative):
            target = destination / path.relative_to(origin)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)


def copy_targets(instruction: Instruction, workdir: str) -> list[tuple[str, str]]:
    """(source, absolute destination in the image) per source of a COPY, by Docker's rules: into a
    folder when the destination ends in `/` or there are several sources; a folder's contents."""
    _, words = split_flags(instruction.arguments)
    *sources, destination = words
    into_folder = destination.endswith("/") or len(sources) > 1
    destination = posixpath.normpath(posixpath.join(workdir, destination))
    return [(source, posixpath.join(destination, posixpath.basename(source.rstrip("/"))) if into_folder
             else destination) for source in sources]


# --- the image as files on this machine ---------------------------------------------------------
@dataclass
class ReplayedImage:
    """Paths in the image, and where each lives here: the venv, and what the final stage copies."""

    venv: Path
    wheel: Path
    workdir: Path
    files: dict[str, Path]  # image path (a file or a folder) -> local path
    image_env: dict[str, str]  # the image's ENV, as the image has it
    env: dict[str, str]  # the same, its paths made local
    command: list[str]
    healthcheck: Healthcheck

    def local(self, image_path: str) -> Path | None:
        for prefix in sorted(self.files, key=len, reverse=True):
            if image_path == prefix or image_path.startswith(prefix.rstrip("/") + "/"):
                return self.files[prefix] / posixpath.relpath(image_path, prefix)
        return None

    def resolve(self, argv: list[str]) -> list[str]:
        """argv as the image would run it: the program looked up on the image's PATH, paths in the
        image replaced by their local copies, a script started through its `#!` line."""
        program, image_path = argv[0], self.image_env["PATH"]
        candidates = [program] if program.startswith("/") else [
            posixpath.join(folder, program) for folder in image_path.split(":")]
        for candidate in candidates:
            found = self.local(candidate)
            if found is not None and found.is_file():
                break
        else:
            raise AssertionError(f"{program} is not in the image (PATH={image_path})")
        rest = [str(self.local(word) or word) if word.startswith("/") else word for word in argv[1:]]
        with found.open("rb") as program_file:
            first_line = program_file.read(128).split(b"\n", 1)[0].decode("utf-8", "replace")
        if first_line.startswith("#!"):  # executable in the image (COPY --chmod): run as the kernel would
            return [*first_line[2:].split(), str(found), *rest]
        return [str(found), *rest]


def run(argv: list[str], timeout: float, **options: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **options)


def checked(argv: list[str], timeout: float, **options: Any) -> subprocess.CompletedProcess[str]:
    result = run(argv, timeout, **options)
    assert result.returncode == 0, f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE.read_text())


@pytest.fixture(scope="module")
def image(stages: list[Stage], tmp_path_factory: pytest.TempPathFactory) -> ReplayedImage:
    """The build stage's steps, once per module: COPY the context, build the wheel, install it in a venv."""
    build, final = stages[0], stages[-1]
    rules = ignore_rules(DOCKERIGNORE.read_text())
    env = final.env(BASE_IMAGE_ENV)
    image_venv = env.get("VIRTUAL_ENV")
    assert image_venv, "the final stage sets VIRTUAL_ENV (the venv the build stage installs into)"
    assert any(split_flags(each.arguments) == ({"from": build.name}, [image_venv, image_venv])
               for each in final.all("COPY")), f"the final stage copies the build stage's {image_venv}"
    build_steps = " && ".join(each.arguments for each in build.all("RUN"))
    for step in ("pip wheel --no-deps", f"-m venv {image_venv}", f"{image_venv}/bin/python -m pip install"):
        assert step in build_steps, f"the build stage runs `{step}`: the steps this test replays"

    root = tmp_path_factory.mktemp("image")
    source, wheels, venv, workdir = root / "src", root / "wheels", root / "venv", root / "app"
    workdir.mkdir()
    build_workdir = build.last("WORKDIR")
    assert build_workdir is not None
    for instruction in build.all("COPY"):
        for each, destination in copy_targets(instruction, build_workdir.arguments):
            copy_from_context(each, source / posixpath.relpath(destination, build_workdir.arguments), rules)
    checked([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels), str(source)], 300)
    (wheel,) = wheels.glob("*.whl")

    checked([sys.executable, "-m", "venv", "--without-pip", str(venv)], 60)
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", str(wheel)]
    if INSTALL_DEPENDENCIES:
        checked(install, 600)
    else:
        checked([*install, "--no-deps"], 120)
        site_packages = Path(run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path("
                                  "'purelib'))"], 30).stdout.strip())
        ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
        (site_packages / "zz_project_venv_dependencies.pth").write_text("".join(f"{path}\n" for path in ours))
    checked([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "check"], 60)

    files = {image_venv: venv}
    final_workdir = final.last("WORKDIR")
    for instruction in final.all("COPY"):
        if "from" not in split_flags(instruction.arguments)[0]:
            for each, destination in copy_targets(instruction, final_workdir.arguments if final_workdir else "/"):
                assert not ignored(rules, each), f"the Dockerfile copies {each}, which .dockerignore leaves out"
                files[destination] = ROOT / each
    if final_workdir:
        files[final_workdir.arguments] = workdir
    local_env = {name: value.replace(image_venv, str(venv)) for name, value in env.items()}
    cmd, entrypoint, check = final.last("CMD"), final.last("ENTRYPOINT"), final.last("HEALTHCHECK")
    assert cmd is not None and check is not None, "the image has a CMD and a HEALTHCHECK"
    command = (command_argv(entrypoint.arguments) if entrypoint else []) + command_argv(cmd.arguments)
    return ReplayedImage(venv, wheel, workdir, files, env, local_env, command, parse_healthcheck(check))


# --- the Dockerfile's promises, read ---------------------------------------------------------------
def test_the_image_runs_as_a_user_other_than_root(stages: list[Stage]) -> None:
    user = stages[-1].last("USER")
    assert user is not None, "the final stage sets USER"
    assert user.arguments.split(":")[0] not in ("root", "0"), user.arguments


def test_the_command_migrates_then_serves_and_hands_signals_to_the_server(image: ReplayedImage) -> None:
    script = image.resolve(image.command)[-1]
    lines = [line.strip() for line in Path(script).read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]

    def first(pattern: str, what: str) -> int:
        found = [number for number, line in enumerate(lines) if re.fullmatch(pattern, line)]
        assert found, f"{script} must {what}: {lines}"
        return found[0]

    stop_on_error = first(r"set -[a-z]*e[a-z]*\b.*", "stop at the first failure (set -e)")
    migrate = first(r"invoicebot migrate\b.*", "run `invoicebot migrate`")
    serve = first(r"exec invoicebot serve\b.*", "exec `invoicebot serve` (so that SIGTERM reaches it)")
    assert stop_on_error < migrate < serve, lines


def test_the_image_exposes_the_port_the_bot_listens_on(stages: list[Stage]) -> None:
    env = stages[-1].env(BASE_IMAGE_ENV)
    exposed = [int(port.split("/")[0]) for each in stages[-1].all("EXPOSE") for port in each.arguments.split()]
    assert exposed == [int(env.get("PORT", Settings.model_fields["port"].default))]
    assert env.get("HOST", Settings.model_fields["host"].default) == "0.0.0.0"  # reachable from outside


def test_no_secret_or_database_url_is_baked_into_the_image(stages: list[Stage]) -> None:
    secrets = {name.upper() for name, info in Settings.model_fields.items() if SecretStr in
               (getattr(info.annotation, "__args__", None) or (info.annotation,))}
    assert {"SLACK_BOT_TOKEN", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"} <= secrets
    for stage in stages:
        for instruction in stage.all("ENV") + stage.all("ARG"):
            for name in secrets | {"DATABASE_URL"}:
                assert not re.search(rf"\b{name}\b", instruction.arguments), f"{instruction.keyword} {name}"


def test_the_build_context_leaves_out_secrets_databases_and_the_environment() -> None:
    rules = ignore_rules(DOCKERIGNORE.read_text())
    for path in (".env", ".venv/bin/python", ".git/HEAD", "invoicebot.db", "bot/invoicebot.db-wal",
                 ".pytest_cache/v/cache", "bot/__pycache__/cli.cpython-311.pyc", "tests/test_container.py"):
        assert ignored(rules, path), f"{path} would be sent to the Docker daemon"
    for path in ("pyproject.toml", "README.md", "bot/cli.py", "handlers/__init__.py", "deploy/start.sh"):
        assert not ignored(rules, path), f"{path} is needed by the build"


def test_the_wheel_carries_every_migration(image: ReplayedImage) -> None:
    migrations = {path.relative_to(ROOT).as_posix() for path in ROOT.glob("bot/store/*/migrations/*.sql")}
    assert migrations
    with zipfile.ZipFile(image.wheel) as archive:
        assert migrations <= set(archive.namelist()), migrations - set(archive.namelist())


def test_the_venv_runs_the_wheels_code_not_this_checkout(image: ReplayedImage) -> None:
    found = checked([str(image.venv / "bin" / "python"), "-c", "import bot.cli, handlers; "
                     "print(bot.cli.__file__); print(handlers.__file__)"], 30, cwd=image.workdir, env=image.env)
    for path in found.stdout.split():
        assert Path(path).is_relative_to(image.venv), f"{path} is not the wheel's"


# --- the image, run ------------------------------------------------------------------------------
@pytest.fixture
def container_env(image: ReplayedImage, schema: str, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> dict[str, str]:
    """`docker run -e ...`: the image's ENV plus the settings a deployment gives it (only those the bot
    requires, and the fakes' addresses), on loopback and a free port rather than 0.0.0.0:3000."""
    return {
        **image.env,
        "HOME": str(image.workdir),
        "DATABASE_URL": schema_url(schema),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "STRIPE_API_KEY": STRIPE_KEY,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake_stripe.url,
        "PAYMENTS_CHANNEL": PAYMENTS_CHANNEL,
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
    }


def healthcheck(image: ReplayedImage, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The HEALTHCHECK's command, within the HEALTHCHECK's own timeout."""
    timeout = seconds(image.healthcheck.options.get("timeout", "30s"))
    return run(image.resolve(image.healthcheck.argv), timeout, cwd=image.workdir, env=env)


def test_the_image_migrates_serves_passes_its_healthcheck_and_fails_it_once_stopped(
        image: ReplayedImage, container_env: dict[str, str], schema: str, tmp_path: Path) -> None:
    log_path = tmp_path / "container.log"
    with log_path.open("wb") as log:
        container = subprocess.Popen(image.resolve(image.command), cwd=image.workdir,
                                     env=container_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{container_env['PORT']}/healthz"
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert container.poll() is None, f"the container exited {container.returncode}:\n{log_path.read_text()}"
            assert time.monotonic() < deadline, f"not healthy after {START_SECONDS}s:\n{log_path.read_text()}"
            time.sleep(0.1)

        healthy = healthcheck(image, container_env)
        assert healthy.returncode == 0, healthy.stderr

        # `invoicebot migrate` ran first, from the wheel (whose migrations are all there), on our schema.
        expected = [f"{migration.version:04d}_{migration.name}" for migration in load("postgres")]
        assert f"{len(expected)} migration(s) applied: {', '.join(expected)}" in log_path.read_text()
        with psycopg.connect(schema_url(schema)) as connection:
            applied = connection.execute("SELECT count(*) FROM schema_migrations").fetchone()
        assert applied == (len(expected),)

        # SIGTERM, as a platform stops a container: it reaches the server itself (the script exec'd it),
        # which drains and exits 0.
        container.send_signal(signal.SIGTERM)
        status = container.wait(GRACEFUL_SHUTDOWN_SECONDS + 10)
        assert status == 0, f"exited {status} on SIGTERM:\n{log_path.read_text()}"
    finally:  # the whole group: a server the script failed to exec would outlive the script
        with contextlib.suppress(ProcessLookupError):
            os.killpg(container.pid, signal.SIGKILL)
        container.wait(10)

    stopped = healthcheck(image, container_env)
    assert stopped.returncode != 0
    assert "Traceback" not in log_path.read_text()


def test_the_healthcheck_fails_while_healthz_answers_503(image: ReplayedImage, tmp_path: Path) -> None:
    """What /healthz says while the database is away or a worker is down (tests/test_faults.py)."""

    class Unhealthy(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"ok": false, "database": "unreachable"}'
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Unhealthy) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            env = {**image.env, "HOST": "127.0.0.1", "PORT": str(server.server_address[1])}
            unhealthy = healthcheck(image, env)
        finally:
            server.shutdown()
    assert unhealthy.returncode != 0 and "503" in unhealthy.stderr, unhealthy


# --- docker-compose.yml and the proxy -----------------------------------------------------------
def test_compose_runs_replicas_on_a_healthy_postgres_behind_a_proxy(stages: list[Stage]) -> None:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    services: dict[str, Any] = compose["services"]

    postgres = services["postgres"]
    assert postgres["image"] == "postgres:15"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    (volume,) = postgres["volumes"]
    assert volume.split(":")[0] in compose["volumes"] and volume.endswith(":/var/lib/postgresql/data")

    replicas = {name: service for name, service in services.items() if service.get("build") == "."}
    assert len(replicas) >= 2, "two replicas of the image, at least"
    exposed = next(each.arguments for each in stages[-1].all("EXPOSE"))
    for name, replica in replicas.items():
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy", name
        assert replica["environment"]["DATABASE_URL"].startswith("postgresql://"), name
        assert "@postgres:5432/" in replica["environment"]["DATABASE_URL"], name
        assert replica["env_file"], f"{name} takes its settings from an env file"
        assert "ports" not in replica, f"{name} is reached through the proxy only"
        assert seconds(replica["stop_grace_period"]) > GRACEFUL_SHUTDOWN_SECONDS, f"{name} is given time to drain"

    (proxy,) = [service for service in services.values() if "./deploy/" in " ".join(service.get("volumes", []))]
    (mount,) = proxy["volumes"]
    config = (ROOT / mount.split(":")[0]).read_text()
    for name in replicas:
        assert f"server {name}:{exposed} " in config, f"the proxy sends to {name}"
    for path in ("/slack/events", "/stripe/webhook", "/healthz"):
        block = re.search(rf"location = {re.escape(path)} \{{(.*?)\n    \}}", config, re.S)
        assert block and "proxy_pass http://invoicebot;" in block.group(1), f"the proxy forwards {path}"
    metrics = re.search(r"location = /metrics \{(.*?)\}", config, re.S)
    assert metrics and "proxy_pass" not in metrics.group(1), "/metrics is scraped per replica, not in public"
    keepalive = re.search(r"keepalive_timeout (\d+)s;", config)
    assert keepalive and int(keepalive.group(1)) < KEEP_ALIVE_SECONDS, "nginx lets go of a connection before uvicorn"
