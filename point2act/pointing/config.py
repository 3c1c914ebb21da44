"""Configuration of a pointer (which MLLM backend puts the 2D points on the views)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "BackendName",
    "FamilyName",
    "IMAGE_FORMAT",
    "ORACLE_MIN_VISIBLE_PX",
    "OnParseError",
    "PointerConfig",
    "TEMPERATURE",
]

BackendName = Literal["molmo", "molmo2", "qwen-vl", "openai", "oracle", "click"]
FamilyName = Literal["auto", "molmo", "molmo2", "qwen2.5-vl", "qwen3-vl", "json"]
OnParseError = Literal["skip", "empty", "raise"]

TEMPERATURE = 0.0
"""Sampling temperature sent to an OpenAI-compatible server: 0, greedy, as the local models decode."""

IMAGE_FORMAT = "png"
"""Encoding of the images sent to an OpenAI-compatible server: PNG, lossless, so the model sees the pixels."""

ORACLE_MIN_VISIBLE_PX = 12
"""Oracle occlusion: a view with fewer visible target pixels gets no point (synth.oracle_points' default)."""


@dataclass
class PointerConfig:
    """How to obtain 2D task points on every training view.

    Plain dataclass (no torch import) so that tyro can expose it on the command line and
    nerfstudio's method discovery stays light. Build a pointer from it with
    :func:`point2act.pointing.make_pointer`.
    """

    backend: BackendName = "oracle"
    """Which pointer to use: a local Molmo v1 ('molmo'), Molmo2 ('molmo2') or Qwen2.5-VL/Qwen3-VL
    ('qwen-vl') model through transformers, any OpenAI-compatible chat-completions server
    ('openai': vLLM, SGLang, Ollama, ...), the synthetic scene's ground truth ('oracle'), or a person
    clicking on the views in a browser ('click': `point2act point` only)."""

    model: str = ""
    """Hugging Face model id or local checkpoint directory (molmo, molmo2, qwen-vl), or the model
    name the server knows (openai). Empty picks a default for local backends."""

    family: FamilyName = "auto"
    """Answer format used to parse the model's text: Molmo markup 0-100 ('molmo'), Molmo2 markup
    0-1000 ('molmo2'), JSON points in pixels of the resized input ('qwen2.5-vl'), JSON points
    normalised 0-1000 ('qwen3-vl'), JSON points in pixels of the image sent ('json').
    'auto' derives it from the backend and the model name."""

    trust_remote_code: bool = False
    """Allow transformers to run Python code shipped with the checkpoint. Off by default; must be
    turned on explicitly for Molmo v1, whose model code lives in its Hub repository."""

    device: str = "auto"
    """Torch device for local models: 'auto' picks CUDA when available, else CPU; or e.g. 'cuda:1', 'cpu'.
    The weights are bfloat16 on CUDA, float32 on a CPU. Set HF_HUB_OFFLINE=1 never to download."""

    max_new_tokens: int = 256
    """Maximum number of tokens the model may generate per view."""

    template: str = ""
    """Prompt template with a '{prompt}' (or '{task}') placeholder, optionally '{width}' and
    '{height}'; empty uses the family's default pointing request (see configs/prompts/).
    '{prompt}' alone sends the prompt unchanged."""

    template_file: str = ""
    """Read the template from this text file instead ('#' lines at the top are comments); a bare
    name such as 'qwen2.5-vl' means configs/prompts/qwen2.5-vl.txt. Exclusive with template."""

    on_parse_error: OnParseError = "empty"
    """What to do with a view whose answer cannot be parsed: 'empty' records [] (no point) with a
    warning naming the view, 'skip' leaves the view out of the points file with a warning,
    'raise' aborts with PointingParseError."""

    base_url: str = ""
    """Base URL of the OpenAI-compatible server, e.g. 'http://localhost:8000/v1' (openai backend)."""

    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (openai backend). The key itself is
    never logged, stored in the config, nor written to any file; an unset variable sends no key."""

    timeout_s: float = 120.0
    """Per-request timeout in seconds (openai backend)."""

    max_retries: int = 3
    """Retries after the first attempt on timeouts, connection errors, HTTP 429 and 5xx (openai backend)."""

    backoff_s: float = 1.0
    """First retry delay in seconds; doubles at each retry, capped at 60 s. A Retry-After header
    from the server is honoured when it is longer (openai backend)."""

    concurrency: int = 4
    """Maximum number of requests in flight at once (openai backend); local models run one view at a time."""

    max_image_side: int = 0
    """Downscale images so that their longer side is at most this many pixels before sending
    (openai backend, 'json'/'molmo'/'molmo2'/'qwen3-vl' families); 0 keeps the full size. Points
    are always returned in pixels of the original image."""

    scene_dir: str = ""
    """Synthetic scene directory with ground truth (oracle backend)."""

    noise_px: float = 0.0
    """Standard deviation in pixels of Gaussian noise added to oracle points (oracle backend)."""

    outlier_rate: float = 0.0
    """Fraction of views whose oracle points are replaced by random outliers (oracle backend)."""

    seed: int = 0
    """Random seed of the oracle's noise and outliers (oracle backend)."""

    coarse_to_fine: bool = False
    """Two passes per view: ask for the whole object first, crop a window around its point,
    enlarge the crop and ask the task prompt on it; points are mapped back to full-image pixels
    and both passes are recorded in the points file's metadata. Not for the oracle backend."""

    object_prompt: str = ""
    """First-pass request of coarse-to-fine pointing (e.g. 'the mug'); empty derives it from the
    task prompt ('the whole object involved in this request: <prompt>')."""

    crop_frac: float = 0.4
    """Coarse-to-fine window width and height as a fraction of the image's width and height,
    centred on the object point and shifted to stay inside the image."""

    cache: bool = True
    """Cache each answer (keyed by the image's content hash, the prompt, backend, model, family,
    template and answer-affecting settings) so that a rerun on the same capture does not query again."""

    cache_dir: str = ""
    """Answer cache directory; empty uses $POINT2ACT_CACHE or ~/.cache/point2act/points."""

    refresh_cache: bool = False
    """Ignore cached answers and ask again (the new answers replace the cached ones)."""
