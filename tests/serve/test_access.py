"""Who the server answers, on a live server: only Host names it serves (DNS rebinding), the API
docs and schema only with the key, a warning when it is open to the network without one, and
the key taken from a file or the environment rather than the command line."""

from __future__ import annotations

import sys

import httpx
import pytest

from adaptlab.serve.access import host_name
from adaptlab.serve.models import as_served
from adaptlab.serve.settings import ServeSettings

from context_helpers import cli_error


def test_a_host_it_does_not_serve_is_400(serve, tiny_lm):
    url = serve({"tiny": as_served(tiny_lm)})
    port = url.rsplit(":", 1)[1]
    rebound = httpx.get(f"{url}/v1/models", headers={"Host": f"rebind.attacker.example:{port}"})
    assert rebound.status_code == 400 and rebound.json()["error"]["code"] == "invalid_host"
    assert "served: localhost, 127.0.0.1, ::1 (--allowed-host)" in rebound.json()["error"]["message"]
    posted = httpx.post(f"{url}/v1/completions", headers={"Host": "rebind.attacker.example"},
                        json={"model": "tiny", "prompt": "Hi", "max_tokens": 2})
    assert posted.status_code == 400
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST", f"[::1]:{port}"):
        assert httpx.get(f"{url}/v1/models", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_replace_the_loopback_names(serve, tiny_lm):
    url = serve({"tiny": as_served(tiny_lm)}, allowed_hosts=["api.internal"])
    assert httpx.get(f"{url}/v1/models", headers={"Host": "api.internal:8000"}).status_code == 200
    assert httpx.get(f"{url}/v1/models", headers={"Host": "localhost"}).status_code == 400


def test_the_hosts_served_by_default():
    assert ServeSettings().trusted_hosts() == ["localhost", "127.0.0.1", "::1"]
    assert ServeSettings(host="10.0.0.5").trusted_hosts() == ["localhost", "127.0.0.1", "::1", "10.0.0.5"]
    assert ServeSettings(host="0.0.0.0").trusted_hosts() is None  # every interface: its names are not known here
    assert (host_name("[::1]:8000"), host_name("Example.org:80"), host_name("::1")) == ("::1", "example.org", "::1")


def test_docs_and_schema_need_the_key_and_health_does_not(serve, tiny_lm):
    url = serve({"tiny": as_served(tiny_lm)}, api_key="k")
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(f"{url}{path}").status_code == 401, path
        assert httpx.get(f"{url}{path}", headers={"Authorization": "Bearer k"}).status_code == 200, path
    assert httpx.get(f"{url}/health").status_code == 200


def started_settings(args: list[str], monkeypatch, capsys) -> tuple[ServeSettings, str]:
    import adaptlab.cli
    import adaptlab.serve.server

    started = {}
    monkeypatch.setattr(adaptlab.serve.server, "run_server",
                        lambda models, settings, on_shutdown: started.update(settings=settings))
    monkeypatch.setattr(sys, "argv", ["adaptlab", "serve", *args])
    with pytest.raises(SystemExit) as exited:
        adaptlab.cli.main()
    assert exited.value.code == 0
    return started["settings"], capsys.readouterr().err


def test_cli_warns_when_open_to_the_network_without_a_key(model_dir, monkeypatch, capsys):
    monkeypatch.delenv("ADAPTLAB_API_KEY", raising=False)
    settings, err = started_settings([f"tiny={model_dir}", "--host", "0.0.0.0", "--port", "0"], monkeypatch, capsys)
    assert settings.api_key is None
    assert "warning: listening on 0.0.0.0 with no API key: anyone who can reach this port can use the models" in err
    monkeypatch.setenv("ADAPTLAB_API_KEY", "from-env")
    settings, err = started_settings([f"tiny={model_dir}", "--host", "0.0.0.0", "--port", "0"], monkeypatch, capsys)
    assert settings.api_key == "from-env" and "warning" not in err
    monkeypatch.delenv("ADAPTLAB_API_KEY")
    _, err = started_settings([f"tiny={model_dir}", "--port", "0"], monkeypatch, capsys)
    assert "warning" not in err  # loopback: only this machine can reach it


def test_cli_takes_the_key_from_a_file(model_dir, tmp_path, monkeypatch, capsys):
    import adaptlab.cli

    monkeypatch.delenv("ADAPTLAB_API_KEY", raising=False)
    (tmp_path / "key").write_text("s3cret\n")
    settings, _ = started_settings([f"tiny={model_dir}", "--api-key-file", str(tmp_path / "key")], monkeypatch, capsys)
    assert settings.api_key == "s3cret"
    (tmp_path / "empty").write_text("\n")
    line = cli_error(adaptlab.cli.app, ["serve", f"tiny={model_dir}", "--api-key-file", str(tmp_path / "empty")],
                     monkeypatch, capsys)
    assert f"--api-key-file {tmp_path}/empty: its first line is empty" in line
    line = cli_error(adaptlab.cli.app, ["serve", f"tiny={model_dir}", "--api-key-file", str(tmp_path / "none")],
                     monkeypatch, capsys)
    assert f"--api-key-file {tmp_path}/none: cannot read it" in line
    line = cli_error(adaptlab.cli.app, ["serve", f"tiny={model_dir}", "--api-key", "a", "--api-key-file",
                                        str(tmp_path / "key")], monkeypatch, capsys)
    assert "give the API key once" in line
