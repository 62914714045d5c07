"""First run: the model is checked before any scan, and the weights cache is found without torch."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.photos import make_photo


@pytest.fixture
def no_weights(tmp_path: Path) -> dict[str, str]:
    """An empty Hugging Face cache, offline: the default model's weights cannot be had."""
    return {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": "", "PROXYSORT_MODEL": "",
            "PROXYSORT_PRETRAINED": ""}


@pytest.mark.parametrize("command", [["index"], ["cluster", "--by", "color", "--words", "red,green"]])
def test_missing_weights_fail_before_any_scan(run_cli, tmp_path: Path, no_weights, command) -> None:
    root = tmp_path / "photos"
    for i in range(3):
        make_photo(root / f"p{i}.jpg")
    (root / "broken.jpg").write_bytes(b"not a photo")  # a scan would report it as skipped
    result = run_cli([command[0], str(root), *command[1:]], extra_env=no_weights)
    assert result.exit_code == 4, result.stderr
    assert result.stderr.splitlines()[-1] == (
        "proxysort: Weights ViT-B-32/openai are not in the local cache and the machine is offline "
        "(HF_HUB_OFFLINE is set). Connect once to download them, or pass a local weights file with --pretrained PATH."
    )
    assert "scanning" not in result.stderr and "skipped:" not in result.stderr and "indexed" not in result.stderr


def test_missing_local_weights_file_fails_before_any_scan(run_cli, tmp_path: Path) -> None:
    root = tmp_path / "photos"
    make_photo(root / "p.jpg")
    (root / "broken.jpg").write_bytes(b"not a photo")
    result = run_cli(["index", str(root), "--pretrained", str(tmp_path / "nope.pt")])
    assert result.exit_code == 4 and "nope.pt does not exist" in result.stderr
    assert "skipped:" not in result.stderr and "scanning" not in result.stderr


def test_weights_are_found_in_the_hub_cache_layout(tmp_path: Path) -> None:
    from proxysort.weights import cached_file, hub_weights

    weights = hub_weights("ViT-B-32", "openai")  # read from open_clip's own table, unexecuted
    assert weights is not None and weights.repo == "timm/vit_base_patch32_clip_224.openai"
    env = {"HF_HUB_CACHE": str(tmp_path)}
    assert cached_file(weights, env) is None
    repo = tmp_path / "models--timm--vit_base_patch32_clip_224.openai"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123" / weights.filenames[-1]
    snapshot.parent.mkdir(parents=True)
    snapshot.write_bytes(b"weights")
    assert cached_file(weights, env) == snapshot
    assert hub_weights("ViT-B-32-quickgelu", "openai") is not None  # open_clip's derived names too
    assert hub_weights("no-such-model", "openai") is None  # left to load_clip


def test_check_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from proxysort.encoders import ModelSpec, check_weights\n"
        "try:\n    check_weights(ModelSpec(), {'HF_HUB_OFFLINE': '1', 'HF_HUB_CACHE': '/nonexistent'})\n"
        "except Exception as e:\n    print(type(e).__name__)\n"
        "print('torch' in sys.modules, 'open_clip' in sys.modules, 'huggingface_hub' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["ModelLoadError", "False False False"]


class _FakeHub:
    """A Hugging Face hub on the loopback interface serving one weights file: the download path runs for
    real (huggingface_hub's HEAD and GET, its cache layout) without the internet."""

    COMMIT = "0123456789abcdef0123456789abcdef01234567"

    def __init__(self, path: str, body: bytes) -> None:
        import http.server
        import threading

        hub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, send_body: bool) -> None:
                hub.requests.append(f"{self.command} {self.path}")
                if self.path.split("?")[0] != path:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", hub.COMMIT)
                self.send_header("ETag", '"fake-etag"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if send_body:
                    self.wfile.write(body)

            def do_HEAD(self) -> None:  # noqa: N802
                self._answer(False)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(True)

            def log_message(self, *args: object) -> None:
                pass

        self.requests: list[str] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_missing_weights_are_downloaded_before_the_scan_announced_once(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    root = tmp_path / "photos"
    make_photo(root / "p.jpg")
    hub = _FakeHub("/timm/vit_base_patch32_clip_224.openai/resolve/main/open_clip_model.safetensors", b"x" * 3_000_000)
    try:
        env = dict(os.environ, HF_ENDPOINT=hub.url, HF_HUB_OFFLINE="0", HF_HOME=str(tmp_path / "hf"),
                   HF_HUB_DISABLE_TELEMETRY="1", PROXYSORT_CACHE_DIR=str(tmp_path / "cache"))
        env.pop("HF_HUB_CACHE", None)
        proc = subprocess.run([sys.executable, "-m", "proxysort", "index", str(root)], capture_output=True, text=True,
                              env=env, timeout=300)
    finally:
        hub.close()
    err = proc.stderr
    announce = "downloading the ViT-B-32/openai weights once (3 MB) from the Hugging Face hub"
    assert err.count(announce) == 1, err
    assert "scanning" not in err.split(announce)[0]
    stored = list((tmp_path / "hf" / "hub").rglob("open_clip_model.safetensors"))
    assert len(stored) == 1 and stored[0].stat().st_size == 3_000_000
    # The fake file is not a model, so loading it fails after the scan, with exit 4: that is the loader's word.
    assert proc.returncode == 4 and "scanning" in err.split(announce)[1]
    assert "are in the cache but could not be loaded" in err and "Delete " in err
