"""Default pointing requests per answer family.

The user's prompt is a task ("where to grasp to pour the tea") or an implicit instruction
("I'm thirsty"); it is passed through verbatim and the template only adds the answer format
that the family was trained to produce. A user template overrides the default.
"""

from __future__ import annotations

__all__ = ["DEFAULT_TEMPLATES", "render_prompt"]

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
        template: overriding template with a ``{prompt}`` placeholder; empty for the default.

    For the Molmo families a prompt that already starts with "point" is sent unchanged.
    """
    prompt = prompt.strip()
    if not template:
        if family in ("molmo", "molmo2") and prompt.lower().startswith("point"):
            return prompt
        template = DEFAULT_TEMPLATES[family]
    if "{prompt}" not in template:
        raise ValueError("a pointing template must contain the '{prompt}' placeholder")
    width, height = image_size
    # format_map on a dict so that literal braces in user prompts are never interpreted
    return (
        template.replace("{prompt}", "\x00PROMPT\x00")
        .format_map({"width": width, "height": height})
        .replace("\x00PROMPT\x00", prompt)
    )
