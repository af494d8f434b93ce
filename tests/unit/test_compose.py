"""The compose stack and the images, read from their files: what the Docker issue promises holds.

Nothing here needs a Docker engine; `make docker-smoke` runs the stack for real.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.queue import make_celery
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {"api": "Dockerfile.api", "worker": "Dockerfile.worker", "flower": "Dockerfile.flower"}
DOCKER_STOP_GRACE_SECONDS = 10
"""`docker stop` without --time."""


class _ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's merge tags: `!reset` reads as None, `!override` as its plain value."""


def _reset(loader: yaml.SafeLoader, node: yaml.Node) -> None:
    return None


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node)
    return loader.construct_scalar(node)


_ComposeLoader.add_constructor("!reset", _reset)
_ComposeLoader.add_constructor("!override", _override)


def compose(name: str = "docker-compose.yml") -> dict[str, Any]:
    return dict(yaml.load((ROOT / name).read_text(), Loader=_ComposeLoader))


def services(name: str = "docker-compose.yml") -> dict[str, dict[str, Any]]:
    return dict(compose(name)["services"])


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration))


def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n(\s*#.*\n)*", " ", (ROOT / dockerfile).read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def stages(dockerfile: str) -> list[list[tuple[str, str]]]:
    """Each stage's instructions, from its FROM; the global ARGs before the first FROM are left out."""
    found: list[list[tuple[str, str]]] = []
    for pair in instructions(dockerfile):
        if pair[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(pair)
    return found


def global_args(dockerfile: str) -> dict[str, str]:
    """The ARGs before the first FROM (the ones a FROM line may use), with their defaults."""
    found = {}
    for word, args in instructions(dockerfile):
        if word == "FROM":
            break
        name, _, default = args.partition("=")
        found[name] = default.strip('"')
    return found


def final(dockerfile: str, instruction: str) -> str:
    """The last `instruction` of the image's final stage."""
    values = [args for word, args in stages(dockerfile)[-1] if word == instruction]
    assert values, f"{dockerfile} has no {instruction} in its final stage"
    return values[-1]


def healthcheck_argv(dockerfile: str) -> list[str]:
    args = final(dockerfile, "HEALTHCHECK")
    return list(json.loads(args[args.index("CMD") + 3:].strip()))


def env_example() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


# ---------------------------------------------------------------- Redis

def test_redis_publishes_no_port_and_keeps_its_data() -> None:
    redis = services()["redis"]
    assert "ports" not in redis and "network_mode" not in redis
    assert redis["image"] == "${REDIS_IMAGE:-redis:7.2-alpine}"
    assert "redis-data:/data" in redis["volumes"]
    assert "redis-data" in compose()["volumes"]


def test_redis_is_durable_refuses_eviction_and_loads_its_users_from_a_secret_not_its_command_line() -> None:
    for name in ("docker-compose.yml", "docker-compose.host.yml"):
        argv = [str(a) for a in services(name)["redis"]["command"]]
        options = dict(zip(argv[1::2], argv[2::2], strict=False))
        assert options["--appendonly"] == "yes", name
        assert options["--appendfsync"] == "everysec", name
        assert options["--maxmemory-policy"] == "noeviction", name
        assert options["--aclfile"] == "/run/secrets/redis_users", name
        assert options["--protected-mode"] == "yes", name
        assert not [a for a in argv if "requirepass" in a or "PASSWORD" in a], f"{name}: a password on the command line"
    redis = services()["redis"]
    assert redis["secrets"] == ["redis_users"] and "environment" not in redis
    assert compose()["secrets"]["redis_users"] == {"file": "${PREDQ_SECRETS_DIR:-./secrets}/redis-users.acl"}


def test_redis_is_healthy_when_it_answers_and_needs_no_password_to_say_so() -> None:
    for name in ("docker-compose.yml", "docker-compose.host.yml"):
        check = " ".join(services(name)["redis"]["healthcheck"]["test"])
        assert "redis-cli" in check and "ping | grep -q NOAUTH" in check and "PASSWORD" not in check, name


@pytest.mark.parametrize(("service", "user", "variable"), [("api", "predq-api", "REDIS_API_PASSWORD"),
                                                           ("worker", "predq-worker", "REDIS_WORKER_PASSWORD")])
def test_each_app_service_reaches_redis_by_name_as_its_own_acl_user(service: str, user: str, variable: str) -> None:
    url = services()[service]["environment"]["REDIS_URL"]
    assert re.fullmatch(rf"redis://{user}:\$\{{{variable}:\?[^}}]+\}}@redis:6379/0", url), url
    host_url = services("docker-compose.host.yml")[service]["environment"]["REDIS_URL"]
    assert host_url.startswith(f"redis://{user}:${{{variable}:?")


def test_flower_gets_only_its_broker_url_as_its_own_user_its_port_and_its_login() -> None:
    flower = services()["flower"]
    assert "env_file" not in flower, "Flower must not see the other services' settings and secrets"
    assert set(flower["environment"]) == {"CELERY_BROKER_URL", "FLOWER_PORT", "FLOWER_BASIC_AUTH"}
    assert flower["environment"]["CELERY_BROKER_URL"].startswith("redis://predq-flower:${REDIS_FLOWER_PASSWORD:?")
    assert "secrets" not in flower


def test_the_acl_users_compose_logs_in_as_are_the_ones_the_acl_file_defines() -> None:
    from scripts.redis_acl import PASSWORD_VARIABLES, USERS

    text = (ROOT / "docker-compose.yml").read_text()
    for component, user in USERS.items():
        assert f"redis://{user}:${{{PASSWORD_VARIABLES[component]}" in text


# ---------------------------------------------------------------- API and workers

def test_the_api_is_published_on_8000_and_waits_for_a_healthy_redis() -> None:
    api = services()["api"]
    assert api["ports"] == ["${API_PORT:-8000}:8000"]
    assert api["depends_on"]["redis"]["condition"] == "service_healthy"


def test_the_worker_scales_and_waits_for_a_healthy_redis() -> None:
    worker = services()["worker"]
    for fixed in ("container_name", "ports", "hostname"):
        assert fixed not in worker, f"{fixed} would stop --scale worker=N"
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"


def test_the_worker_grace_period_outlasts_its_soft_shutdown() -> None:
    soft = make_celery(Settings()).conf.worker_soft_shutdown_timeout
    grace = seconds(services()["worker"]["stop_grace_period"])
    assert 0 < soft < DOCKER_STOP_GRACE_SECONDS < grace


def test_sigterm_is_a_warm_shutdown_that_docker_stop_waits_for() -> None:
    # REMAP_SIGTERM=SIGQUIT would sleep the whole soft shutdown before stopping: past docker stop's 10 s.
    assert "REMAP_SIGTERM" not in final("Dockerfile.worker", "ENV")
    assert "REMAP_SIGTERM" not in services()["worker"].get("environment", {})


@pytest.mark.parametrize("service", ["api", "worker"])
def test_app_services_read_one_env_file_and_restart(service: str) -> None:
    spec = services()[service]
    assert spec["env_file"] == [{"path": "${PREDQ_ENV_FILE:-.env}", "required": False}]
    assert spec["restart"] == "unless-stopped"
    assert spec["cap_drop"] == ["ALL"]


@pytest.mark.parametrize("service", ["api", "worker", "flower"])
def test_compose_healthchecks_are_the_images_own(service: str) -> None:
    spec = services()[service]
    image_check = healthcheck_argv(IMAGES[service])
    if "healthcheck" in spec:
        assert spec["healthcheck"]["test"] == ["CMD", *image_check]
    assert image_check


def test_every_setting_is_in_env_example() -> None:
    listed = env_example()
    composed = {"REDIS_URL", "MODEL_DIR", "API_KEYS_FILE"}  # the compose files set these
    missing = {f.name.upper() for f in fields(Settings)} - composed - set(listed)
    assert not missing, f".env.example lacks {sorted(missing)}"
    for variable in ("REDIS_API_PASSWORD", "REDIS_WORKER_PASSWORD", "REDIS_FLOWER_PASSWORD"):
        assert listed[variable] == "", "no default password: `make up` or the user sets one"
    assert "REDIS_PASSWORD" not in listed


def test_every_compose_variable_is_in_env_example() -> None:
    listed = set(env_example()) | {"MODELS_PATH", "COMPOSE_FILE"}  # commented out there, on purpose
    internal = {"PREDQ_ENV_FILE"}  # the smoke test's
    for name in ("docker-compose.yml", "docker-compose.models.yml"):
        used = set(re.findall(r"\$\{([A-Z_]+)", (ROOT / name).read_text()))
        assert used - internal <= listed, f"{name} uses {sorted(used - internal - listed)}"


def test_monitoring_profile_adds_flower_prometheus_and_grafana_on_loopback() -> None:
    profiled = {name: spec for name, spec in services().items() if spec.get("profiles")}
    assert set(profiled) == {"flower", "prometheus", "grafana"}
    for name, spec in profiled.items():
        assert spec["profiles"] == ["monitoring"], name
        assert all(port.startswith("127.0.0.1:") for port in spec["ports"]), name
    for name in ("prometheus", "grafana"):  # Flower's healthcheck is its image's
        assert services()[name]["healthcheck"]["test"][0] == "CMD", name


@pytest.mark.parametrize("service", IMAGES)
def test_compose_builds_predq_s_images_on_the_base_image_env_names(service: str) -> None:
    args = services()[service]["build"]["args"]
    assert args["PYTHON_IMAGE"] == "${PYTHON_IMAGE:-python:3.11-slim}"
    assert env_example()["PYTHON_IMAGE"] == "python:3.11-slim"


def test_third_party_images_are_pinned_and_can_be_pinned_by_digest() -> None:
    """A tag the lab's engine can resolve by default; .env pins a digest (name:tag@sha256:…) where the registry
    gives one: each image is a ${VARIABLE:-name:tag} listed in .env.example."""
    listed = env_example()
    for name, variable in (("redis", "REDIS_IMAGE"), ("prometheus", "PROMETHEUS_IMAGE"), ("grafana", "GRAFANA_IMAGE")):
        match = re.fullmatch(r"\$\{(\w+):-([\w./-]+:v?\d+\.\d+(?:\.\d+)?(?:-\w+)?)\}", services()[name]["image"])
        assert match and match.group(1) == variable, services()[name]["image"]
        assert listed[variable] == match.group(2)
        assert re.fullmatch(r"[\w./-]+:[\w.-]+(@sha256:[0-9a-f]{64})?", listed[variable])


def test_monitoring_mounts_exist() -> None:
    for name in ("prometheus", "grafana"):
        spec = services()[name]
        for volume in spec["volumes"]:
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which is not in the repository"


def test_models_override_mounts_a_read_only_folder_for_api_and_workers() -> None:
    override = services("docker-compose.models.yml")
    for name in ("api", "worker"):
        (volume,) = override[name]["volumes"]
        assert volume["type"] == "bind" and volume["read_only"] is True
        assert override[name]["environment"]["MODEL_DIR"] == volume["target"]


# ---------------------------------------------------------------- the host-network override

def test_host_override_puts_every_service_on_the_host_network_off_the_usual_ports() -> None:
    base, host = services(), services("docker-compose.host.yml")
    assert set(host) == set(base)
    for name, spec in host.items():
        assert spec["network_mode"] == "host", name
        assert spec.get("ports", None) is None, f"{name} publishes nothing on the host network"
        build = spec.get("build", {})
        assert not build or build["network"] == "host", name
    text = (ROOT / "docker-compose.host.yml").read_text()
    assert "LAB_REDIS_PORT:-16379" in text and "LAB_API_PORT:-18000" in text
    assert ":-6379}" not in text and ":-8000}" not in text


def test_host_override_names_each_worker_node_and_keeps_celery_pid_1() -> None:
    command = services("docker-compose.host.yml")["worker"]["command"]
    assert command[:2] == ["sh", "-c"] and command[2].startswith("exec celery ")
    argv = shlex.split(command[2])
    assert argv[argv.index("--hostname") + 1].startswith("worker-$$(")


# ---------------------------------------------------------------- the images

@pytest.mark.parametrize("dockerfile", [*IMAGES.values(), "docker/lab/Dockerfile.redis"])
def test_images_run_as_a_numeric_non_root_user(dockerfile: str) -> None:
    user = final(dockerfile, "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0


@pytest.mark.parametrize("dockerfile", IMAGES.values())
def test_images_are_multi_stage_from_python_slim_with_an_exec_form_cmd_and_a_healthcheck(dockerfile: str) -> None:
    built = stages(dockerfile)
    assert len(built) >= 2
    assert all(stage[0][1].split()[0] in ("${PYTHON_IMAGE}", "builder") for stage in built)
    assert global_args(dockerfile) == {"PYTHON_IMAGE": "python:3.11-slim"}, "pinnable by digest, slim by default"
    assert isinstance(json.loads(final(dockerfile, "CMD")), list), "exec form: the signal reaches the service"
    assert healthcheck_argv(dockerfile)


@pytest.mark.parametrize("dockerfile", IMAGES.values())
def test_runtime_stage_installs_nothing(dockerfile: str) -> None:
    runs = " ".join(args for word, args in stages(dockerfile)[-1] if word == "RUN")
    assert not re.search(r"pip install|apt-get|apk ", runs), "dependencies belong to the builder stage"


def test_api_and_worker_share_one_builder_stage() -> None:
    assert stages("Dockerfile.api")[0] == stages("Dockerfile.worker")[0]
    assert "make_models" in " ".join(args for _, args in stages("Dockerfile.api")[0])


def test_api_only_packages_left_out_of_the_worker_are_not_imported_by_it() -> None:
    api_only = re.search(r'ARG API_ONLY="([^"]+)"', (ROOT / "Dockerfile.worker").read_text())
    assert api_only
    # pandas is in the dev venv only (the client's tests), never in the images; where present, scikit-learn
    # imports it and it imports pyarrow. Hide it, as the worker image does by not having it.
    code = ("import sys; sys.modules['pandas'] = None; import worker, worker.health; worker.app; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(api_only.group(1).split())!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dockerignore_lets_in_only_what_the_images_copy() -> None:
    lines = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert lines[0] == "*"
    for needed in ("api/", "shared/", "worker/", "requirements.txt", "constraints.txt"):
        assert f"!{needed}" in lines


def _pins(name: str) -> dict[str, str]:
    pins = {}
    for line in (ROOT / name).read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==(\S+)", line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


@pytest.mark.parametrize("requirements", ["requirements.txt", "requirements-flower.txt"])
def test_constraints_pin_what_the_requirements_pin(requirements: str) -> None:
    locked = _pins("constraints.txt")
    for package, version in _pins(requirements).items():
        assert locked.get(package) == version, f"{package}: {requirements} says {version}, " \
            f"constraints.txt {locked.get(package)} (run `make lock`)"


# ---------------------------------------------------------------- least privilege (issue 11)

def test_every_service_has_memory_and_pids_limits() -> None:
    for name, service in services().items():
        assert service.get("mem_limit"), name
        assert int(service.get("pids_limit", 0)) > 0, name


@pytest.mark.parametrize("service", ["api", "worker"])
def test_api_keys_reach_the_app_containers_as_a_docker_secret_file_not_an_env_var(service: str) -> None:
    spec = services()[service]
    assert spec["secrets"] == ["api_keys"]
    assert spec["environment"]["API_KEYS_FILE"] == "/run/secrets/api_keys"
    assert "API_KEYS" not in spec["environment"]
    assert compose()["secrets"]["api_keys"] == {"file": "${PREDQ_SECRETS_DIR:-./secrets}/api_keys"}
    assert "API_KEYS_FILE" not in env_example(), "compose sets it; .env must not point it elsewhere"


@pytest.mark.parametrize("service", ["api", "worker"])
def test_app_services_do_not_learn_the_other_services_passwords_from_env(service: str) -> None:
    environment = services()[service]["environment"]
    for variable in ("REDIS_API_PASSWORD", "REDIS_WORKER_PASSWORD", "REDIS_FLOWER_PASSWORD", "FLOWER_BASIC_AUTH",
                     "GRAFANA_ADMIN_PASSWORD"):
        assert environment[variable] == "", f"{service} would get {variable} from .env"


def test_the_secrets_folder_is_git_ignored() -> None:
    assert "secrets/" in (ROOT / ".gitignore").read_text().splitlines()


def test_make_up_writes_the_secrets_before_it_starts_the_stack() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^up: \.env secrets ##", makefile, re.M)
    assert re.search(r"^secrets: \.env ##.*\n\t\$\(PYTHON\) -m scripts\.deploy_secrets", makefile, re.M)


def test_the_api_container_is_read_only_with_a_tmpfs_and_redis_is_in_protected_mode() -> None:
    api = services()["api"]
    assert api["read_only"] is True and "/tmp" in api["tmpfs"]
    argv = [str(a) for a in services()["redis"]["command"]]
    assert argv[argv.index("--protected-mode") + 1] == "yes"


def test_no_image_can_switch_debug_mode_on() -> None:
    for name in ("Dockerfile.api", "Dockerfile.worker"):
        text = (ROOT / name).read_text()
        assert "FLASK_DEBUG" not in text and "--reload" not in text, name
    assert "debug" not in (ROOT / "gunicorn.conf.py").read_text().lower()


# ---------------------------------------------------------------- the trimmed images (docs/images.md)

def _builder_runs() -> str:
    return " ".join(args for word, args in stages("Dockerfile.api")[0] if word == "RUN")


def _removed_scipy_subpackages() -> set[str]:
    return set(re.findall(r'"\$sp"/scipy/(\w+)', _builder_runs()))


@pytest.mark.parametrize("dockerfile", ["Dockerfile.api", "Dockerfile.worker"])
def test_app_images_put_their_code_on_the_path(dockerfile: str) -> None:
    # `celery --app worker` runs from /opt/venv/bin: without PYTHONPATH, worker.app cannot import shared/.
    env = final(dockerfile, "ENV")
    assert f"PYTHONPATH={final(dockerfile, 'WORKDIR')}" in env.split()


def test_builder_drops_tests_headers_and_symbols_but_not_the_auditwheel_libraries() -> None:
    runs = _builder_runs()
    assert "-type d -name tests -exec rm -rf" in runs
    assert '"$pa"/include' in runs and "-name '*.pxd'" in runs
    strip = re.search(r"find (.*?)-exec strip --strip-unneeded", runs)
    assert strip and "-not -path '*.libs/*'" in strip.group(1), "strip breaks auditwheel's patched libraries"
    assert "apt-get" not in " ".join(args for word, args in stages("Dockerfile.api")[-1] if word == "RUN")


def test_removed_scipy_subpackages_are_imported_by_nothing_that_stays() -> None:
    import pandas
    import scipy
    import sklearn
    import skops

    removed = _removed_scipy_subpackages()
    assert removed >= {"odr", "fftpack", "misc", "datasets"}
    names = "|".join(sorted(removed))
    # Plain imports, and pandas' import_optional_dependency("scipy.signal.windows") kind of names.
    imports = re.compile(rf"^\s*(?:from scipy\.({names})\b|import scipy\.({names})\b|from scipy import .*\b({names})\b)"
                         rf"|[\"']scipy\.({names})\b", re.M)
    offenders = []
    for package in (Path(m.__file__ or "").parent for m in (scipy, sklearn, pandas, skops)):
        for source in package.rglob("*.py"):
            parts = source.relative_to(package.parent).parts
            if "tests" in parts or (parts[0] == "scipy" and parts[1] in removed) or source.name == "conftest.py":
                continue
            if imports.search(source.read_text(errors="replace")):
                offenders.append(str(source.relative_to(package.parent)))
    assert not offenders, f"these import a scipy subpackage the images remove: {offenders}"


def test_pyarrow_modules_the_images_remove_are_not_imported_by_predq() -> None:
    runs = _builder_runs()
    gone = {"feather", "substrait", "parquet.encryption", "flight", "orc"}
    for name in ("feather", "substrait", "flight", "orc"):
        assert f'"$pa"/{name}.py' in runs or f'"$pa"/*{name}*' in runs, name
    code = "\n".join(p.read_text() for d in ("api", "shared", "worker") for p in (ROOT / d).rglob("*.py"))
    for name in gone:
        assert not re.search(rf"\bpyarrow\.{re.escape(name)}\b", code), f"predq imports pyarrow.{name}"


def test_swagger_ui_files_kept_are_the_ones_docs_serves() -> None:
    import fnmatch

    from api.pages import SWAGGER_FILES

    runs = _builder_runs()
    kept = re.search(r"swagger_ui_bundle/vendor -type f -not \\\( (.*?) \\\) -delete", runs)
    assert kept, "the builder keeps only the Swagger UI files /docs serves"
    patterns = [p.strip("'") for p in re.findall(r"-name (\S+)", kept.group(1))]
    assert all(any(fnmatch.fnmatch(f, p) for p in patterns) for f in SWAGGER_FILES)
    assert all(any(fnmatch.fnmatch(f, p) for f in SWAGGER_FILES) for p in patterns)


@pytest.mark.parametrize("dockerfile", IMAGES.values())
def test_runtime_images_have_no_pip(dockerfile: str) -> None:
    runs = " ".join(args for word, args in stages(dockerfile)[-1] if word == "RUN")
    assert '"$d"/pip' in runs and '"$d"/setuptools' in runs
    assert "if PYTHONDONTWRITEBYTECODE=1 python3 -m pip --version >/dev/null 2>&1; then exit 1; fi" in runs


def test_the_builder_copies_every_script_the_demo_models_import() -> None:
    imported = set(re.findall(r"^from scripts\.(\w+) import", (ROOT / "scripts" / "make_models.py").read_text(), re.M))
    copy = next(args for word, args in stages("Dockerfile.api")[0] if word == "COPY" and "make_models" in args)
    admitted = (ROOT / ".dockerignore").read_text().splitlines()
    for name in imported | {"make_models"}:
        assert f"scripts/{name}.py" in copy.split(), f"the builder stage does not copy scripts/{name}.py"
        assert f"!scripts/{name}.py" in admitted, f".dockerignore keeps scripts/{name}.py out of the build"
