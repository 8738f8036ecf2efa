"""The study's cost model and report: break-even arithmetic, the leaderboard, a self-contained
HTML page, atomic writes, and the page as headless Chromium actually draws it."""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from adaptlab import fileio
from adaptlab.errors import UserError
from adaptlab.study.cost import CostSettings, break_even, cost_table, per_request_usd, upfront_usd
from adaptlab.study.report import write_report

CHROMIUM = Path("/usr/bin/chromium")
MAGENTA = "#ff00ff"
GREEN = "#00ff00"
CYAN = "#00ffff"
YELLOW = "#ffff00"


# ---- a realistic study, in the runner's result schema ----

def _result(name: str, method: str, *, em: float, fmt: float, content: float = 0.0,
            train_seconds: float = 0.0,
            prompt_tokens: float = 40.0, output_tokens: float = 6.0, trainable: int = 0,
            artifact_bytes: int = 0, steps: int = 0, start_loss: float = 3.4,
            peak_memory_mb: float | None = 950.0, settings: dict | None = None) -> dict:
    curve = [{"step": s, "train_loss": round(start_loss * (0.6 + 0.4 * 0.97 ** s), 4)}
             for s in range(10, steps + 1, 10)]
    return {
        "name": name,
        "method": method,
        "settings": settings or {},
        "key": f"{abs(hash((name, method))) % 16 ** 12:012x}",
        "status": "done",
        "error": None,
        "measures": {
            "knowledge_em": em, "format_compliance": fmt, "content_accuracy": content, "domain_bpb": 2.4 - em * 3,
            "general_bpb": 2.1 + em,
            "latency_p50_s": 0.02 + prompt_tokens / 4000, "tokens_per_second": 120.0 - prompt_tokens / 5,
            "peak_memory_mb": peak_memory_mb, "trainable_parameters": trainable, "total_parameters": 1_315_968,
            "train_seconds": train_seconds, "artifact_bytes": artifact_bytes,
            "prompt_tokens_per_request": prompt_tokens, "output_tokens_per_request": output_tokens,
        },
        "loss_curve": curve,
        "seconds": 12.0 + train_seconds,
    }


def _failed(name: str, method: str, error: str) -> dict:
    return {"name": name, "method": method, "settings": {}, "key": "0badc0ffee00", "status": "failed",
            "error": error, "loss_curve": [], "seconds": 3.5}


def study_results() -> list[dict]:
    return [
        _result("zero_shot", "zero_shot", em=0.02, fmt=0.18, prompt_tokens=38.0),
        _result("few_shot", "few_shot", em=0.05, fmt=0.71, prompt_tokens=182.0),
        _result("chain_of_thought", "chain_of_thought", em=0.04, fmt=0.52, prompt_tokens=205.0, output_tokens=42.0),
        _result("rag", "rag", em=0.31, fmt=0.66, prompt_tokens=310.0, peak_memory_mb=1210.0),
        _result("continued_pretraining", "continued_pretraining", em=0.15, fmt=0.12, train_seconds=310.0,
                trainable=1_315_968, artifact_bytes=5_300_000, steps=300, start_loss=3.6),
        _result("lora", "lora", em=0.12, fmt=0.40, train_seconds=45.2, trainable=16_384, artifact_bytes=70_000,
                steps=200, settings={"r": 8, "steps": 200}),
        _result("bottleneck", "bottleneck", em=0.10, fmt=0.35, train_seconds=52.0, trainable=33_024,
                artifact_bytes=135_000, steps=200, start_loss=3.5),
        _result("prefix", "prefix", em=0.03, fmt=0.22, train_seconds=38.0, trainable=10_240,
                artifact_bytes=42_000, steps=150, start_loss=3.3),
        _result("sft", "sft", em=0.18, fmt=0.93, train_seconds=120.0, trainable=1_315_968,
                artifact_bytes=5_300_000, steps=250, start_loss=2.9, peak_memory_mb=None),
        _failed("domain_tokens_lora", "domain_tokens_lora",
                "UserError: tokenizer has no <domain> tokens\nTraceback (most recent call last): ..."),
        _result("rag_sft", "rag_sft", em=0.36, fmt=0.90, content=0.62, train_seconds=130.0, prompt_tokens=300.0,
                trainable=1_315_968, artifact_bytes=5_300_000, steps=250, start_loss=2.8),
    ]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, Path, list[dict]]:
    out = tmp_path_factory.mktemp("study") / "report"
    results = study_results()
    md, html = write_report(out, results, CostSettings(), title="synthetic chemistry study")
    return md, html, results


# ---- the cost model ----

def _simple(name: str, train_seconds: float, prompt_tokens: float) -> dict:
    measures = {"train_seconds": train_seconds, "prompt_tokens_per_request": prompt_tokens,
                "output_tokens_per_request": 0.0}
    return {"name": name, "status": "done", "measures": measures}


# $1 per million input tokens, $3.6 an hour: one second of training costs $0.001, one token $0.000001
ROUND = dict(compute_usd_per_hour=3.6, usd_per_million_input_tokens=1.0, usd_per_million_output_tokens=2.0)


def test_upfront_and_per_request_prices():
    costs = CostSettings(**ROUND)
    m = {"train_seconds": 1800, "prompt_tokens_per_request": 100, "output_tokens_per_request": 10}
    assert upfront_usd(m, costs) == pytest.approx(1.8)
    assert per_request_usd(m, costs) == pytest.approx((100 * 1.0 + 10 * 2.0) / 1e6)
    assert upfront_usd({"train_seconds": None}, costs) == 0  # an untrained strategy


def test_break_even_when_training_is_repaid_by_shorter_prompts():
    costs = CostSettings(**ROUND, requests_per_day=1000, lifespan_days=10)
    be = break_even(_simple("lora", 2000, 100), _simple("few_shot", 0, 1100), costs)
    # $2 up front, saving 1000 tokens = $0.001 a request: even after 2,000 requests
    assert be.upfront_usd == pytest.approx(2.0)
    assert be.requests == pytest.approx(2000)
    assert be.lifespan_requests == 10_000 and be.reached_within_lifespan is True


def test_break_even_not_reached_within_a_short_lifespan():
    costs = CostSettings(**ROUND, requests_per_day=100, lifespan_days=10)
    be = break_even(_simple("lora", 2000, 100), _simple("few_shot", 0, 1100), costs)
    assert be.requests == pytest.approx(2000)
    assert be.lifespan_requests == 1000 and be.reached_within_lifespan is False


def test_never_breaks_even_when_no_cheaper_per_request():
    costs = CostSettings(**ROUND)
    be = break_even(_simple("rag_sft", 2000, 1500), _simple("few_shot", 0, 1100), costs)
    assert be.requests is None and be.reached_within_lifespan is False
    same = break_even(_simple("lora", 2000, 1100), _simple("few_shot", 0, 1100), costs)
    assert same.requests is None


def test_cheaper_up_front_but_dearer_per_request_never_breaks_even():
    costs = CostSettings(**ROUND)
    be = break_even(_simple("rag", 0, 3000), _simple("lora_ref", 2000, 100), costs)
    assert be.requests is None and be.reached_within_lifespan is False


def test_no_dearer_anywhere_breaks_even_at_zero():
    costs = CostSettings(**ROUND)
    be = break_even(_simple("zero_shot", 0, 40), _simple("few_shot", 0, 1100), costs)
    assert be.requests == 0 and be.reached_within_lifespan is True


def test_the_reference_has_no_break_even_with_itself():
    be = break_even(_simple("few_shot", 0, 1100), _simple("few_shot", 0, 1100), CostSettings())
    assert be.requests is None and be.reached_within_lifespan is None


def test_cost_settings_are_validated():
    with pytest.raises(ValidationError):
        CostSettings(compute_usd_per_hour=-1)
    with pytest.raises(ValidationError):
        CostSettings(requests_per_day=0)
    with pytest.raises(ValidationError):
        CostSettings(lifespan=30)  # a typo is an error, not a silent default
    assert CostSettings().lifespan_requests == 1_800_000


def test_cost_table_rows_and_a_missing_reference():
    results = study_results()
    rows = {row["name"]: row for row in cost_table(results, CostSettings())}
    assert "domain_tokens_lora" not in rows  # failed: nothing to price
    assert rows["few_shot"]["is_reference"] and rows["few_shot"]["break_even_requests"] is None
    assert all(row["reference"] == "few_shot" for row in rows.values())
    lora = rows["lora"]
    expected = (45.2 / 3600 * 2.0) / ((182 - 40) * 0.5 / 1e6)
    assert lora["break_even_requests"] == pytest.approx(expected)
    assert lora["reached_within_lifespan"] is True
    assert rows["rag_sft"]["break_even_requests"] is None  # longer prompts than few-shot: never
    with pytest.raises(UserError, match=r"'prompted'.*zero_shot.*lora"):
        cost_table(results, CostSettings(reference="prompted"))
    failed_ref = CostSettings(reference="domain_tokens_lora")
    with pytest.raises(UserError, match="failed"):
        cost_table(results, failed_ref)


# ---- the report files ----

def _html_names(html: str) -> list[str]:
    cells = re.findall(r'<td class="name">(.*?)</td>', html)
    return [re.sub(r"<[^>]+>", "", re.sub(r"<span.*?</span>", "", cell)).strip() for cell in cells]


def test_rows_are_ranked_by_knowledge(written):
    md, html, results = written
    done = [r for r in results if r["status"] == "done"]
    ranked = [r["name"] for r in sorted(done, key=lambda r: -r["measures"]["knowledge_em"])]
    assert _html_names(html.read_text()) == ranked
    md_names = [line.split("|")[1].strip().removesuffix(" (reference)")
                for line in md.read_text().splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert md_names == ranked


def test_markdown_has_the_leaderboard_rows_and_figures(written):
    md, _, results = written
    text = md.read_text()
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| strategy"))
    assert "knowledge EM" in header and "break-even requests" in header and "reached within lifespan" in header
    lora = next(line for line in lines if line.startswith("| lora |"))
    cells = [c.strip() for c in lora.strip("|").split("|")]
    assert len(cells) == header.count("|") - 1
    # $0.02511 of training repaid at $0.000071 saved a request (142 fewer prompt tokens): 353.7, so 354
    assert cells[2] == "0.120" and cells[-2] == "354" and cells[-1] == "yes"
    rag_sft = next(line for line in lines if line.startswith("| rag_sft |"))
    assert "**0.360**" in rag_sft  # best knowledge in bold
    assert "never" in rag_sft
    assert "| few_shot (reference) |" in text and "| reference |" in text
    for name in ("knowledge_vs_behaviour", "loss_curves", "cost_break_even"):
        assert f"](figures/{name}.png)" in text
        assert (md.parent / "figures" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "How to read this" in text and "1,800,000 requests" in text and "`few_shot`" in text


def test_the_report_ends_with_what_to_choose(written):
    md, html, _ = written
    text = md.read_text()
    advice = text[text.index("## What to choose"):]
    assert text.rindex("\n## ") == text.index("\n## What to choose")  # the last section
    picks = [line for line in advice.splitlines() if line.startswith("- **Best for")]
    assert [p.split(": ", 1)[1].split("**")[0] for p in picks] == ["rag_sft", "sft", "rag_sft", "zero_shot"]
    assert picks[2].startswith("- **Best for both (right facts in the right form): rag_sft** — the least of knowledge "
                               "EM, format compliance and content accuracy: 0.360")
    assert "over the lifespan (1,800,000 requests)" in picks[3]
    page = html.read_text()
    assert page.index("<h2>What to choose</h2>") > page.index("<h2>Cost inputs</h2>")
    assert page.count("<li><strong>Best for") == 4


def test_the_plane_is_drawn_in_the_chapters_four_quadrants(monkeypatch):
    from adaptlab.study import report

    drawn = []
    monkeypatch.setattr(report, "_png", lambda fig: drawn.append(fig) or b"")
    results = [r for r in study_results() if r["status"] == "done"]
    report.knowledge_vs_behaviour(results, report._colors([r["name"] for r in results]))
    texts = {t.get_text() for t in drawn[0].axes[0].texts}
    assert set(report.QUADRANTS) <= texts
    assert "context optimisation" in drawn[0].axes[0].get_xlabel()


def test_failed_strategies_are_listed_with_one_line(written):
    md, html, _ = written
    text, page = md.read_text(), html.read_text()
    assert "**domain_tokens_lora** (domain_tokens_lora): `UserError: tokenizer has no <domain> tokens`" in text
    assert "Traceback" not in text and "Traceback" not in page
    assert "tokenizer has no &lt;domain&gt; tokens" in page  # escaped, not markup
    assert "domain_tokens_lora" not in "".join(_html_names(page))


def test_html_is_self_contained(written):
    _, html, _ = written
    page = html.read_text()
    assert 'id="leaderboard"' in page
    for external in ('src="http', "src='http", "<link", "<script", "@import", "url(", 'href="http'):
        assert external not in page
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert len(sources) == 3
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG\r\n\x1a\n")


def test_no_temporary_files_are_left(written):
    md, _, _ = written
    names = [p.name for p in md.parent.rglob("*")]
    assert sorted(names) == sorted(["report.md", "report.html", "figures", "knowledge_vs_behaviour.png",
                                    "loss_curves.png", "cost_break_even.png"])


def test_an_interrupted_write_keeps_the_old_report(tmp_path, monkeypatch):
    results = study_results()[:4]
    md, html = write_report(tmp_path, results, CostSettings())
    before = html.read_bytes()

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fileio.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_report(tmp_path, results[:3], CostSettings())
    assert html.read_bytes() == before
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_a_failed_reference_still_gives_a_report(tmp_path):
    results = study_results()
    results[1] = _failed("few_shot", "few_shot", "RuntimeError: out of memory")
    md, html = write_report(tmp_path, results, CostSettings())
    text = md.read_text()
    assert "'few_shot' failed, so no break-even is computed" in text
    assert next(line for line in text.splitlines() if line.startswith("| lora |")).endswith("| — | — |")


def test_an_absent_reference_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="'gpt_prompt'"):
        write_report(tmp_path, study_results(), CostSettings(reference="gpt_prompt"))


def test_a_study_without_training_has_no_loss_figure(tmp_path):
    results = [r for r in study_results() if not r["loss_curve"] and r["status"] == "done"]
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "loss_curves.png").write_bytes(b"stale")
    md, html = write_report(tmp_path, results, CostSettings())
    assert "No strategy trained" in md.read_text()
    assert not (tmp_path / "figures" / "loss_curves.png").exists()
    assert len(re.findall(r"<img ", html.read_text())) == 2


# ---- the page as a browser draws it ----

def _screenshots(pages: dict[str, Path], tmp: Path) -> dict[str, Path]:
    """Screenshot every page with headless Chromium, all at once."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing; install Debian's package: apt-get update && apt-get install -y chromium "
                    "(.ci/run does this in CI)")
    procs = {}
    for name, page in pages.items():
        png = tmp / f"{name}.png"
        cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={tmp / ('profile-' + name)}",
               "--window-size=1280,2000", f"--screenshot={png}", page.resolve().as_uri()]
        procs[name] = (png, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    shots = {}
    for name, (png, proc) in procs.items():
        try:
            output, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            pytest.fail(f"chromium took over 90 s on {name}: {output[-2000:]}")
        assert proc.returncode == 0 and png.exists(), f"chromium failed on {name}: {output[-2000:]}"
        shots[name] = png
    return shots


def _rgb(png: Path):
    from matplotlib.image import imread

    img = imread(png)  # floats in [0, 1]
    return (img[..., :3] * 255).round().astype(int)


def _mask(img, hex_colour: str, tolerance: int = 10):
    target = [int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)]
    return (abs(img - target) <= tolerance).all(axis=-1)


def test_chromium_draws_the_leaderboard_and_figures(written, tmp_path):
    import numpy as np

    _, html, _ = written
    marked = tmp_path / "marked.html"
    # The leaderboard painted solid magenta (its last column cyan), every figure framed in green:
    # where each lands on screen is then visible.
    marker = (f"<style>#leaderboard, #leaderboard * {{ background: {MAGENTA} !important; color: {MAGENTA} !important;"
              f" border-color: {MAGENTA} !important }}"
              f" #leaderboard tr > :last-child {{ background: {CYAN} !important; color: {CYAN} !important }}"
              f" figure img {{ border: 4px solid {GREEN} !important }}</style>")
    marked.write_text(html.read_text().replace("</head>", marker + "</head>", 1))
    no_table = tmp_path / "no_table.html"
    no_table.write_text(re.sub(r'<table id="leaderboard">.*?</table>', "", marked.read_text(), flags=re.S))
    advice = tmp_path / "advice.html"  # the page's last section alone, painted yellow
    advice.write_text(html.read_text().replace("</head>", f"<style>body > :not(#advice) {{ display: none !important }}"
                                               f" #advice, #advice * {{ color: {YELLOW} !important; background: "
                                               f"{YELLOW} !important }}</style></head>", 1))
    shots = _screenshots({"plain": html, "marked": marked, "no_table": no_table, "advice": advice}, tmp_path)
    shutil.copy(shots["plain"], html.parent / "screenshot.png")  # for a person to look at

    plain = _rgb(shots["plain"])
    height, width = plain.shape[:2]
    assert width >= 1200 and height >= 1900
    non_white = (plain < 245).any(axis=-1).mean()
    colours = len(np.unique(plain.reshape(-1, 3) @ np.array([65536, 256, 1])))
    assert non_white > 0.05 and colours > 500, (non_white, colours)  # text, a table and plots; not a blank page
    assert _mask(plain, MAGENTA).sum() == 0

    marked_img = _rgb(shots["marked"])
    magenta = _mask(marked_img, MAGENTA)
    rows, cols = np.nonzero(magenta)
    assert magenta.sum() > 1100 * 250, magenta.sum()  # a wide table of ten rows, not a sliver
    assert rows.min() < 0.25 * height and rows.max() < 0.5 * height  # near the top, where a reader looks first
    assert cols.max() - cols.min() > 1000, (cols.min(), cols.max())
    last_column = _mask(marked_img, CYAN)
    assert last_column.sum() > 30 * 250, "the leaderboard's last column is off screen: the table is too wide"
    assert np.nonzero(last_column)[1].max() < width - 8

    green = _mask(marked_img, GREEN)
    assert (green.sum(axis=0) >= 300).sum() >= 2, "no figure drawn at full size in the first 2000 px"
    assert (green.sum(axis=1) >= 500).sum() >= 2

    assert _mask(_rgb(shots["no_table"]), MAGENTA).sum() == 0  # the check above would catch a missing table
    drawn = _mask(_rgb(shots["advice"]), YELLOW)
    assert drawn.sum() > 1000 * 4 * 15 and np.nonzero(drawn)[1].max() < width - 8  # four picks, on screen
