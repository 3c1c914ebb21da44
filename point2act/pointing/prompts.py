"""Default pointing requests per answer family.

The user's prompt is a task ("where to grasp to pour the tea") or an implicit instruction
("I'm thirsty"); it is passed through verbatim and the template only adds the answer format
that the family was trained to produce. A user template overrides the default.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "DEFAULT_OBJECT_PROMPT",
    "DEFAULT_TEMPLATES",
    "PROMPTS_DIR",
    "load_template",
    "object_prompt_for",
    "render_prompt",
]

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "configs" / "prompts"
"""The repository's ``configs/prompts/`` (one example template file per family)."""

DEFAULT_OBJECT_PROMPT = "the whole object involved in this request: {prompt}"
"""First-pass request of coarse-to-fine pointing when no object prompt is given."""

_JSON_FORMAT = (
    'Answer with JSON only, a list like [{{"point_2d": [x, y], "label": "short name"}}], '
    "one entry per place; answer [] if there is no such place in the image."
)

DEFAULT_TEMPLATES: dict[str, str] = {
    # Molmo was trained on "Point to ..." requests and answers in its own markup.
    "molmo": "Point to {prompt}",
    "molmo2": "Point to {prompt}",
    "qwen2.5-vl": "{prompt}\nPoint to it. " + _JSON_FORMAT,
    "qwen3-vl": "{prompt}\nPoint to it. " + _JSON_FORMAT,
    "json": (
        "{prompt}\nPoint to it. The image is {width} pixels wide and {height} pixels high; "
        "x grows to the right and y grows downward from the top-left corner, in pixels. " + _JSON_FORMAT
    ),
}


def render_prompt(family: str, prompt: str, image_size: tuple[int, int], template: str = "") -> str:
    """Turn a task prompt into the request sent to a model of ``family``.

    Args:
        family: answer family (see :data:`point2act.pointing.parsers.FAMILIES`).
        prompt: the user's task or instruction, kept verbatim.
        image_size: ``(width, height)`` of the image the model will see (for ``{width}``/``{height}``).
        template: overriding template with a ``{prompt}`` (or ``{task}``) placeholder; empty
            for the default.

    For the Molmo families a prompt that already starts with "point" is sent unchanged.
    """
    prompt = prompt.strip()
    if not template:
        if family in ("molmo", "molmo2") and prompt.lower().startswith("point"):
            return prompt
        template = DEFAULT_TEMPLATES[family]
    template = template.replace("{task}", "{prompt}")
    if "{prompt}" not in template:
        raise ValueError("a pointing template must contain the '{prompt}' (or '{task}') placeholder")
    width, height = image_size
    # format_map on a dict so that literal braces in user prompts are never interpreted
    return (
        template.replace("{prompt}", "\x00PROMPT\x00")
        .format_map({"width": width, "height": height})
        .replace("\x00PROMPT\x00", prompt)
    )


def load_template(spec: str | os.PathLike) -> str:
    """Read a pointing template from a text file.

    ``spec`` is a path, or a bare name looked up in :data:`PROMPTS_DIR` (``"qwen2.5-vl"`` ->
    ``configs/prompts/qwen2.5-vl.txt``). Lines starting with ``#`` before the first other line are
    comments; surrounding blank lines are dropped. The template must contain ``{prompt}`` or
    ``{task}``.

    Raises:
        PointingConfigError: the file is missing or has no placeholder.
    """
    from point2act.pointing.errors import PointingConfigError

    path = Path(spec).expanduser()
    if not path.is_file() and os.sep not in str(spec) and "/" not in str(spec):
        for cand in (PROMPTS_DIR / str(spec), PROMPTS_DIR / f"{spec}.txt"):
            if cand.is_file():
                path = cand
                break
    if not path.is_file():
        known = sorted(p.stem for p in PROMPTS_DIR.glob("*.txt")) if PROMPTS_DIR.is_dir() else []
        hint = f" (or one of {', '.join(known)} from {PROMPTS_DIR})" if known else ""
        raise PointingConfigError(f"template file {spec!s} not found; give a path to a text file{hint}")
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and (lines[0].lstrip().startswith("#") or not lines[0].strip()):
        lines.pop(0)
    text = "\n".join(lines).strip("\n")
    if "{prompt}" not in text and "{task}" not in text:
        raise PointingConfigError(f"{path}: a pointing template must contain '{{prompt}}' or '{{task}}'")
    return text


def object_prompt_for(prompt: str, object_prompt: str = "") -> str:
    """The first-pass (whole object) request of coarse-to-fine pointing.

    ``object_prompt`` when given (``{prompt}``/``{task}`` in it are filled with the task), else
    :data:`DEFAULT_OBJECT_PROMPT` around the task with a leading "Point to" removed.
    """
    prompt = prompt.strip()
    if object_prompt:
        return object_prompt.replace("{task}", prompt).replace("{prompt}", prompt)
    core = prompt
    if core.lower().startswith("point to "):
        core = core[len("point to ") :].strip()
    return DEFAULT_OBJECT_PROMPT.replace("{prompt}", core)
