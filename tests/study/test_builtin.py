"""The shipped base and reader: loaded only as recorded, rebuilt from scratch by `adaptlab study base`."""

from __future__ import annotations

import json
import shutil

import pytest
from context_helpers import cli_error
from typer.testing import CliRunner

from adaptlab.errors import UserError
from adaptlab.models.family import is_span_reader
from adaptlab.runs import load_model
from adaptlab.study.builtin import BUILTIN_DIR, HASHES, NAMES, builtin_model, file_hashes
from adaptlab.study.cli import app


def test_the_shipped_models_are_a_chat_tuned_decoder_and_an_extractive_reader_under_40_mb():
    assert set(json.loads((BUILTIN_DIR / HASHES).read_text())) == set(file_hashes(BUILTIN_DIR))
    assert sum(p.stat().st_size for p in BUILTIN_DIR.rglob("*.safetensors")) < 40e6
    base, reader = load_model(builtin_model("base")), load_model(builtin_model("reader"))
    assert base.family == "decoder" and base.chat and base.model.config.max_position_embeddings >= 512
    assert reader.family == "encoder" and is_span_reader(reader.model.config)
    recipe = json.loads((BUILTIN_DIR / "recipe.json").read_text())
    assert recipe["layouts"] == ["xml", "json"] and recipe["wall_seconds"] > 0


def test_a_changed_or_unrecorded_file_is_refused_naming_it_and_the_command_that_rebuilds(tmp_path):
    folder = tmp_path / "builtin"
    shutil.copytree(BUILTIN_DIR, folder)
    assert builtin_model("reader", folder) == folder / "reader"
    weights = folder / "reader" / "model" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(UserError, match=r"reader: files differ from SHA256SUMS.json "
                                        r"\(reader/model/model.safetensors\); rebuild them with `adaptlab study base`"):
        builtin_model("reader", folder)
    assert builtin_model("base", folder) == folder / "base"  # the other model is untouched
    (folder / "base" / "notes.txt").write_text("added")
    with pytest.raises(UserError, match=r"\(base/notes.txt\)"):
        builtin_model("base", folder)
    (folder / HASHES).unlink()
    with pytest.raises(UserError, match="SHA256SUMS.json: missing or unreadable; rebuild them"):
        builtin_model("base", folder)
    with pytest.raises(UserError, match="no built-in model 'basse'; accepted: base, reader"):
        builtin_model("basse", folder)


def test_adaptlab_study_base_rebuilds_both_from_scratch(tmp_path):
    out = tmp_path / "builtin"
    args = ["base", "--out", str(out), "--practice-domains", "1", "--practice-compounds", "8",
            "--base-pretrain-steps", "4", "--base-tune-steps", "2", "--reader-pretrain-steps", "2",
            "--reader-tune-steps", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "built-in base and reader written to" in result.output
    for name in NAMES:
        assert load_model(builtin_model(name, out)).family == ("decoder" if name == "base" else "encoder")
    recipe = json.loads((out / "recipe.json").read_text())
    assert (recipe["practice_domains"], recipe["practice_compounds"], recipe["reader_tune_steps"]) == (1, 8, 2)
    assert sorted(p.name for p in (out / "base").iterdir()) == ["adaptlab.yaml", "model"]  # no checkpoints shipped
    again = CliRunner().invoke(app, args)  # an earlier build is replaced
    assert again.exit_code == 0, again.output


def test_it_refuses_a_folder_of_other_files_and_bad_settings(tmp_path, monkeypatch, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert "holds no built-in models folder (SHA256SUMS.json)" in \
        cli_error(app, ["base", "--out", str(tmp_path)], monkeypatch, capsys)
    assert "practice_compounds" in cli_error(app, ["base", "--out", str(tmp_path / "new"),
                                                   "--practice-compounds", "3"], monkeypatch, capsys)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
