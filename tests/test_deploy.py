"""docker-compose.yml, the Dockerfile and deploy/ checked as an operator would before `docker compose up`:
every reference resolves (services, volumes, files, variables, build context), the topology is
Airflow's distributed one, and the image installs the project the way the README does.

No Docker is needed: the file is read as YAML and every cross-reference is followed by hand.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from gateway.registry import load_registry
from simulators.__main__ import registered

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict] = COMPOSE["services"]
EXAMPLE_ENV = ROOT / "deploy" / "gateway.env.example"
AIRFLOW_COMPONENTS = {
    "airflow-apiserver": ["airflow", "api-server"],
    "airflow-scheduler": ["airflow", "scheduler"],
    "airflow-dag-processor": ["airflow", "dag-processor"],
    "airflow-triggerer": ["airflow", "triggerer"],
}
WORKER_COMMAND = ["airflow", "celery", "worker"]


def example_env() -> dict[str, str]:
    values = {}
    for number, line in enumerate(EXAMPLE_ENV.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", name), f"{EXAMPLE_ENV.name}:{number}: not NAME=value"
        values[name] = value
    return values


def command(service: dict) -> list[str]:
    cmd = service.get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def workers() -> list[str]:
    return [name for name, s in SERVICES.items() if command(s) == WORKER_COMMAND]


def test_the_topology_is_airflows_distributed_one():
    for name, argv in AIRFLOW_COMPONENTS.items():
        assert command(SERVICES[name]) == argv, name
    assert len(workers()) >= 2, "two Celery workers"
    assert len({SERVICES[w].get("hostname") for w in workers()}) == len(workers()), "workers need distinct hostnames"
    assert {"postgres", "redis", "airflow-init"} <= set(SERVICES)
    for name in [*AIRFLOW_COMPONENTS, *workers(), "airflow-init"]:
        env = SERVICES[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert SERVICES[name]["env_file"] == ["deploy/gateway.env"], name
    assert "standalone" not in (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


def test_workers_reach_the_execution_api_of_a_service_that_serves_it():
    url = SERVICES[workers()[0]]["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]
    host, port = re.fullmatch(r"http://([\w-]+):(\d+)/execution/", url).groups()
    assert command(SERVICES[host]) == ["airflow", "api-server"]
    assert any(p.endswith(f":{port}") for p in SERVICES[host]["ports"])


def test_every_dependency_exists_and_its_condition_can_be_met():
    for name, service in SERVICES.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown service {dependency}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{name} waits for {dependency} to be healthy: no check"
            else:
                assert condition == "service_completed_successfully" and SERVICES[dependency]["restart"] == "no", \
                    f"{name} waits for {dependency} to complete"
    for name in [*AIRFLOW_COMPONENTS, *workers()]:
        assert SERVICES[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name


def test_long_running_services_have_a_healthcheck_and_a_restart_policy():
    for name, service in SERVICES.items():
        if name == "airflow-init":
            continue
        assert service.get("restart") in {"always", "unless-stopped"}, f"{name}: no restart policy"
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, f"{name}: no healthcheck"
    # Checks that need Airflow's configuration go through the entry point that builds the URLs.
    for name in ["airflow-dag-processor", "airflow-triggerer", *workers()]:
        check = " ".join(SERVICES[name]["healthcheck"]["test"][1:])
        assert check.startswith("/opt/gateway/deploy/entrypoint.sh"), name


def test_every_volume_is_declared_and_every_mounted_file_exists():
    declared = set(COMPOSE.get("volumes") or {})
    used = set()
    for name, service in SERVICES.items():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert declared == used, f"declared but unused: {declared - used}"
    # Airflow's home (generated passwords) and its logs survive the containers.
    mounts = SERVICES["airflow-apiserver"]["volumes"]
    assert any(m.endswith(":/opt/airflow") for m in mounts) and any(m.endswith(":/opt/airflow/logs") for m in mounts)


def test_the_env_file_is_documented_and_never_committed():
    assert EXAMPLE_ENV.exists()
    ignored = subprocess.run(["git", "check-ignore", "-q", "deploy/gateway.env"], cwd=ROOT)
    assert ignored.returncode == 0, "deploy/gateway.env must be git-ignored"
    assert "deploy/gateway.env" in (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for name, service in SERVICES.items():
        for env_file in service.get("env_file", []):
            assert env_file == "deploy/gateway.env", name


def _container_variables() -> set[str]:
    """Variables the containers read: $$NAME in commands and checks, and those the deploy scripts use."""
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    found = set(re.findall(r"\$\$\{?([A-Z_][A-Z0-9_]*)", text)) - {"HOSTNAME"}
    for script in ("urls.py", "init.py"):
        source = (ROOT / "deploy" / script).read_text(encoding="utf-8")
        found |= set(re.findall(r"setting\(\"([A-Z_]+)\"", source))
        found |= set(re.findall(r"setting\('([A-Z_]+)'", source))
        found |= set(re.findall(r"environ\[\"([A-Z_]+)\"\]", source))
    found |= {f"GATEWAY_CONN_{m.conn_id.upper()}" for m in load_registry().values()}
    return found


def _deploy_urls():
    spec = importlib.util.spec_from_file_location("gateway_deploy_urls", ROOT / "deploy" / "urls.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_every_variable_the_containers_read_is_set(monkeypatch):
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    interpolated = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    assert not interpolated, f"compose-time variables outside the env file: {interpolated}"
    for name, value in example_env().items():
        monkeypatch.setenv(name, value)
    derived = set(_deploy_urls().urls())  # the URLs deploy/entrypoint.sh exports
    assert {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "GATEWAY_DATABASE_URL", "AIRFLOW__CELERY__BROKER_URL"} <= derived
    defined = set(example_env()) | derived
    missing = _container_variables() - defined
    assert not missing, f"read by the containers but set nowhere: {missing}"
    for secret in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"):
        assert secret in example_env(), f"{secret}: every component must share one value"
        assert secret not in text, f"{secret} belongs in the env file, not in the compose file"


def test_passwords_are_encoded_into_the_urls():
    password = "p@ss/w:rd%20#?"
    env = {**os.environ, "POSTGRES_USER": "gateway", "POSTGRES_PASSWORD": password, "REDIS_PASSWORD": "r@dis/"}
    for name in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "GATEWAY_DATABASE_URL", "AIRFLOW__CELERY__RESULT_BACKEND",
                 "AIRFLOW__CELERY__BROKER_URL"):
        env.pop(name, None)
    script = ROOT / "deploy" / "urls.py"
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, check=True)
    exported = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in done.stdout.splitlines())
    for name in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "GATEWAY_DATABASE_URL"):
        url = make_url(exported[name])
        assert (url.username, url.password, url.host) == ("gateway", password, "postgres"), name
    assert make_url(exported["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+")).password == password
    broker = urlsplit(exported["AIRFLOW__CELERY__BROKER_URL"])
    assert (unquote(broker.password), broker.hostname, broker.port) == ("r@dis/", "redis", 6379)
    missing = subprocess.run([sys.executable, str(script)], env={"PATH": os.environ["PATH"]}, capture_output=True,
                             text=True)
    assert missing.returncode != 0 and "POSTGRES_USER is not set" in missing.stderr


def test_every_utility_has_a_connection_for_the_simulators_and_the_ports_agree():
    env = example_env()
    exposed = {int(p) for p in SERVICES["simulators"]["expose"]}
    assert SERVICES["simulators"]["profiles"] == ["simulators"], "simulators are off unless asked for"
    offsets = {name: offset for name, (_simulator, offset) in registered().items()}
    for name, manifest in load_registry().items():
        conn = json.loads(env[f"GATEWAY_CONN_{manifest.conn_id.upper()}"])
        assert conn["host"] == "http://simulators"
        assert conn["port"] == 8100 + offsets[name] and conn["port"] in exposed  # deploy/run_simulators.py's ports


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    context = ROOT / SERVICES["airflow-init"]["build"]["context"]
    text = (context / SERVICES["airflow-init"]["build"]["dockerfile"]).read_text(encoding="utf-8")
    joined = re.sub(r"\\\n", " ", text)
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def test_the_image_installs_the_project_as_the_readme_does(dockerfile):
    copied = set()
    for instruction, args in dockerfile:
        if instruction == "COPY":
            *sources, _target = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the build context"
                copied.add(source.rstrip("/"))
    assert {"pyproject.toml", "requirements.lock", "gateway", "connectors", "mappings", "dags", "deploy"} <= copied
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    make_install = re.search(r"\$\(BIN\)/pip install (.*-c requirements\.lock.*)", makefile).group(1)
    runs = " ".join(args for instruction, args in dockerfile if instruction == "RUN")
    image_install = re.search(r"pip install ([^&]*-c requirements\.lock[^&]*)", runs).group(1).split()
    # The same pinned install as `make install`, without the dev tools.
    assert image_install == make_install.replace("'.[dev]'", ".").split()
    entrypoint = json.loads(dict(dockerfile)["ENTRYPOINT"])
    assert entrypoint == ["/opt/gateway/deploy/entrypoint.sh"]
    assert os.access(ROOT / "deploy" / "entrypoint.sh", os.X_OK)


def test_the_lock_pins_what_the_distributed_topology_needs():
    pins = dict(line.split("==") for line in (ROOT / "requirements.lock").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for package in ("apache-airflow-providers-celery", "celery", "redis", "asyncpg"):
        assert package in pins, f"{package} is not pinned"
