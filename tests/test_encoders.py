"""Model loading: names, config files, weights files, random weights, and the offline errors users see."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from proxysort.encoders import ModelSpec, load_clip
from proxysort.errors import ExitCode, ModelLoadError, UsageError


def test_random_weights_are_seeded_and_identity_is_stable(tiny_spec) -> None:
    a, b = load_clip(tiny_spec), load_clip(tiny_spec)
    assert a.identity == b.identity == tiny_spec.identity()
    np.testing.assert_array_equal(a.encode_texts(["a red apple"]), b.encode_texts(["a red apple"]))
    assert a.embed_dim == 32 and a.image_size == 32
    assert not any(p.requires_grad for p in a.model.parameters())


def test_local_weights_file_round_trip(tmp_path: Path, tiny_clip, tiny_spec) -> None:
    import torch

    weights = tmp_path / "tiny.pt"
    state = {k: v.clone() + 0.01 for k, v in tiny_clip.model.state_dict().items()}
    torch.save(state, weights)
    spec = ModelSpec(model=tiny_spec.model, pretrained=str(weights), device="cpu")
    loaded = load_clip(spec)
    assert loaded.identity != tiny_clip.identity and "@file-" in loaded.identity
    got = loaded.model.state_dict()["token_embedding.weight"]
    assert torch.equal(got, state["token_embedding.weight"])


def test_identity_changes_when_config_changes(tmp_path: Path, tiny_spec) -> None:
    cfg = json.loads(Path(tiny_spec.model).read_text())
    cfg["text_cfg"]["layers"] = 1
    other = tmp_path / "tiny-clip.json"
    other.write_text(json.dumps(cfg))
    assert ModelSpec(str(other), "none", "cpu").identity() != tiny_spec.identity()


def test_offline_hub_tag_gives_one_actionable_sentence() -> None:
    with pytest.raises(ModelLoadError) as err:
        load_clip(ModelSpec("ViT-B-32", "openai", "cpu"), env={"HF_HUB_OFFLINE": "1"})
    message = str(err.value)
    assert "offline" in message and "`pretrained`" in message and "\n" not in message
    assert err.value.exit_code == ExitCode.MODEL


@pytest.mark.parametrize(
    "spec, fragment",
    [
        (ModelSpec("No-Such-Model", "openai", "cpu"), "Unknown model"),
        (ModelSpec("ViT-B-32", "no-such-tag", "cpu"), "Unknown weights"),
        (ModelSpec("ViT-B-32", "/nonexistent/weights.pt", "cpu"), "does not exist"),
        (ModelSpec("/nonexistent/config.json", "none", "cpu"), "Cannot read model config"),
    ],
)
def test_bad_model_choices_raise_model_errors(spec: ModelSpec, fragment: str) -> None:
    with pytest.raises(ModelLoadError, match=fragment):
        load_clip(spec)


def test_weights_file_for_the_wrong_architecture(tmp_path: Path, tiny_spec) -> None:
    bogus = tmp_path / "bogus.pt"
    import torch

    torch.save({"not": torch.zeros(1)}, bogus)
    with pytest.raises(ModelLoadError, match="does not fit"):
        load_clip(ModelSpec(tiny_spec.model, str(bogus), "cpu"))


def test_cuda_without_gpu_is_a_usage_error(tiny_spec) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(UsageError):
        load_clip(ModelSpec(tiny_spec.model, "none", "cuda"))


def test_spec_from_env_respects_overrides() -> None:
    spec = ModelSpec.from_env({"PROXYSORT_MODEL": "ViT-B-16", "PROXYSORT_DEVICE": "cpu"}, pretrained="none")
    assert (spec.model, spec.pretrained, spec.device) == ("ViT-B-16", "none", "cpu")


@pytest.mark.parametrize(
    "model_args",
    [
        ["--model", "ViT-B-32", "--pretrained", "openai"],  # hub tag, offline, nothing cached
        ["--model", "ViT-B-32", "--pretrained", "/nonexistent/weights.pt"],
        ["--model", "No-Such-Model"],
    ],
)
def test_cli_model_errors_are_one_sentence_and_exit_4(tmp_path: Path, model_args: list[str]) -> None:
    """The real console script, offline: a clear sentence on stderr, exit code 4, never a traceback."""
    import os
    import subprocess
    import sys

    from tests.support.photos import make_photo

    photos = tmp_path / "photos"
    make_photo(photos / "a.jpg")
    env = dict(os.environ, HF_HUB_OFFLINE="1", PROXYSORT_CACHE_DIR=str(tmp_path / "cache"), HF_HOME=str(tmp_path / "hf"))
    proc = subprocess.run(
        [sys.executable, "-m", "proxysort", "index", str(photos), *model_args, "--device", "cpu"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == int(ExitCode.MODEL), proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("proxysort: ")]
    assert len(errors) == 1 and proc.stderr.rstrip().endswith(errors[0]), proc.stderr  # progress lines may precede
    assert proc.stdout == ""
