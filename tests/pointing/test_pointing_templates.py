"""Prompt templates: per-family defaults, overrides from the CLI string or a file in configs/prompts,
and implicit instructions passed through unchanged."""

from __future__ import annotations

import numpy as np
import pytest

from point2act.pointing import DEFAULT_TEMPLATES, FAMILIES, PointerConfig, PointingConfigError, render_prompt
from point2act.pointing.prompts import PROMPTS_DIR, load_template
from point2act.pointing.run import CaptureViews, point_capture, prepare_config



@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("POINT2ACT_CACHE", str(tmp_path / "cache"))


IMPLICIT = [
    "I'm thirsty",
    "something to cut the paper with",
    "where to grasp to carry the roses",
    "the handle of the mug closer to the orange",
    "Something to wipe the spilled coke {quickly}",  # braces in the user's words are kept verbatim
    "  Ich habe Durst \u2014 \u00e9t\u00e9  ",
]


def test_configs_prompts_has_one_template_per_family():
    assert sorted(p.stem for p in PROMPTS_DIR.glob("*.txt")) == sorted(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_template_files_reproduce_the_defaults(family):
    text = load_template(family)  # bare name -> configs/prompts/<family>.txt
    assert not text.startswith("#")
    assert load_template(PROMPTS_DIR / f"{family}.txt") == text
    for prompt in ("where to grasp to pour", "I'm thirsty"):
        assert render_prompt(family, prompt, (640, 480), text) == render_prompt(family, prompt, (640, 480))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("prompt", IMPLICIT)
def test_implicit_instructions_pass_through_unchanged(family, prompt):
    request = render_prompt(family, prompt, (64, 48))
    assert prompt.strip() in request  # verbatim: no rewriting, the MLLM does the reasoning
    assert render_prompt(family, prompt, (64, 48), "{task}") == prompt.strip()
    assert render_prompt(family, prompt, (64, 48), "{prompt}") == prompt.strip()


def test_user_template_with_task_and_size():
    t = "Task: {task}. Image {width}x{height}. Reply {{json}}."
    assert render_prompt("json", "I'm thirsty", (64, 48), t) == "Task: I'm thirsty. Image 64x48. Reply {json}."


def test_template_file_path_and_comments(tmp_path):
    f = tmp_path / "mine.txt"
    f.write_text("# my template\n#  second comment\n\nLook closely. {task}\nAnswer in JSON.\n\n")
    assert load_template(f) == "Look closely. {task}\nAnswer in JSON."
    cfg = prepare_config(PointerConfig(backend="openai", base_url="http://x/v1", template_file=str(f)))
    assert cfg.template == "Look closely. {task}\nAnswer in JSON."
    assert prepare_config(cfg) == cfg  # idempotent


def test_template_errors(tmp_path):
    with pytest.raises(PointingConfigError, match="not found"):
        load_template(tmp_path / "missing.txt")
    with pytest.raises(PointingConfigError, match="qwen2.5-vl"):  # the message lists the known names
        load_template("no-such-family")
    bad = tmp_path / "bad.txt"
    bad.write_text("Point to it.\n")
    with pytest.raises(PointingConfigError, match="placeholder|must contain"):
        load_template(bad)
    with pytest.raises(PointingConfigError, match="not both"):
        prepare_config(PointerConfig(template="{task}!", template_file="molmo"))
    with pytest.raises(PointingConfigError, match="placeholder"):
        prepare_config(PointerConfig(template="Point to the mug"))


def test_defaults_unchanged():
    assert set(DEFAULT_TEMPLATES) == set(FAMILIES)


class Recorder:
    def __init__(self):
        self.config = PointerConfig(backend="openai", base_url="http://127.0.0.1:1/v1", model="m", family="json")
        self.prompts = []

    def point(self, image, prompt, *, key=None):
        self.prompts.append(prompt)
        return []

    def close(self):
        pass


@pytest.mark.parametrize("prompt", IMPLICIT)
def test_point_capture_hands_the_prompt_over_unchanged(prompt):
    rec = Recorder()
    out = point_capture(rec.config, CaptureViews(None, {"a.png": np.zeros((4, 4, 3), np.uint8)}), prompt, pointer=rec,
                        progress=False)
    assert rec.prompts == [prompt] and out["prompt"] == prompt
