"""deploy/kserve: the Dockerfile and InferenceService cannot be built or applied here (no container
runtime, no cluster); check that they agree with the CLI: command, port, probes, model path."""
import json
import re
import shlex
from pathlib import Path

import yaml

from ppcls_hrnet.cli import build_parser
from ppcls_hrnet.serving.boundary import PUBLIC_PATHS
from ppcls_hrnet.cli.serve import settings_from_args

ROOT = Path(__file__).resolve().parents[1]
KSERVE = ROOT / "deploy" / "kserve"


def dockerfile():
    text = (KSERVE / "Dockerfile").read_text()
    instructions = {}
    for line in text.splitlines():
        match = re.match(r"(FROM|EXPOSE|ENTRYPOINT|CMD|RUN pip install)\s+(.*)", line)
        if match:
            instructions[match.group(1)] = match.group(2)
    return instructions


def container():
    service = yaml.safe_load((KSERVE / "inference_service.yaml").read_text())
    assert service["apiVersion"] == "serving.kserve.io/v1beta1" and service["kind"] == "InferenceService"
    (spec,) = service["spec"]["predictor"]["containers"]
    return service, spec


def parse(argv):
    args = build_parser("serve").parse_args(argv)
    return args, settings_from_args(args)


def test_manifest_command_is_a_valid_serve_command_on_the_container_port():
    service, spec = container()
    entrypoint = json.loads(dockerfile()["ENTRYPOINT"])
    assert entrypoint == ["ppcls-hrnet"]
    args, settings = parse(spec["args"])
    assert args.command == "serve"
    assert settings.host == "0.0.0.0"  # reachable from the pod network
    (port,) = spec["ports"]
    assert settings.port == port["containerPort"] == int(dockerfile()["EXPOSE"]) == 8080
    # KServe's storage initializer puts STORAGE_URI's content in /mnt/models
    assert settings.model_dir == "/mnt/models"
    assert any(e["name"] == "STORAGE_URI" for e in spec["env"])
    assert service["spec"]["predictor"]["terminationGracePeriodSeconds"] > settings.graceful_timeout
    annotations = service["metadata"]["annotations"]
    assert annotations["prometheus.kserve.io/port"] == str(settings.port)
    assert annotations["prometheus.kserve.io/path"] == "/metrics"


def test_probes_hit_public_health_routes_on_the_server_port():
    _, spec = container()
    _, settings = parse(spec["args"])
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = spec[probe]["httpGet"]
        assert get["port"] == settings.port
        assert get["path"] in PUBLIC_PATHS  # answered without the API key
    assert spec["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert spec["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"


def test_dockerfile_default_command_matches_the_manifest():
    _, spec = container()
    cmd_args, cmd_settings = parse(json.loads(dockerfile()["CMD"]))
    _, settings = parse(spec["args"])
    assert (cmd_settings.model_dir, cmd_settings.host, cmd_settings.port) == \
        (settings.model_dir, settings.host, settings.port)
    extras = re.search(r'"\.\[([^\]]+)\]"', dockerfile()["RUN pip install"]).group(1).split(",")
    pyproject = (ROOT / "pyproject.toml").read_text()
    for extra in extras:
        assert re.search(rf"^{extra} = \[", pyproject, re.M), extra  # installs extras that exist
    assert "serve" in extras and dockerfile()["FROM"].startswith("python:3.11")
    assert shlex.split(dockerfile()["CMD"].replace(",", " "))  # well-formed
