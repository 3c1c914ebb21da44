"""Local pointers run through Hugging Face transformers: Molmo v1, Molmo2, Qwen2.5-VL, Qwen3-VL.

* ``molmo2`` and ``qwen-vl`` use the classes native to transformers
  (``Molmo2ForConditionalGeneration``, ``Qwen2_5_VLForConditionalGeneration``,
  ``Qwen3VLForConditionalGeneration``) through ``AutoModelForImageTextToText`` and
  ``AutoProcessor``; no remote code is needed (``trust_remote_code`` stays off unless asked).
* ``molmo`` (v1, e.g. ``allenai/Molmo-7B-D-0924``) only exists as remote code in its Hub
  repository, so it refuses to load unless ``trust_remote_code=True`` is set explicitly.

torch and transformers are imported only when a model is loaded. The model is loaded on the
first :meth:`HFPointer.point` call (or by :meth:`HFPointer.load`), on CUDA in bfloat16 when
available, else on CPU in float32, and never downloads when ``local_files_only`` is set or
``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` is set in the environment.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from point2act.pointing.base import ImageLike, load_image, resolve_family
from point2act.pointing.config import PointerConfig
from point2act.pointing.errors import PointingBackendError, PointingConfigError, truncate_answer
from point2act.pointing.parsers import parse_answer
from point2act.pointing.prompts import render_prompt

__all__ = ["DEFAULT_MODELS", "HFPointer", "offline_mode", "select_device_dtype"]

logger = logging.getLogger("point2act.pointing.hf")

DEFAULT_MODELS: dict[str, str] = {
    "molmo": "allenai/Molmo-7B-D-0924",
    "molmo2": "allenai/Molmo2-8B",
    "qwen-vl": "Qwen/Qwen2.5-VL-7B-Instruct",
}
"""Checkpoint used when ``PointerConfig.model`` is empty."""

_QWEN_MODEL_TYPES = {
    "qwen2_vl": "qwen2.5-vl",
    "qwen2_5_vl": "qwen2.5-vl",
    "qwen3_vl": "qwen3-vl",
    "qwen3_vl_moe": "qwen3-vl",
}

_TRUTHY = {"1", "true", "yes", "on"}


def offline_mode() -> bool:
    """True when nothing may be downloaded: HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE is set."""
    return any(
        os.environ.get(v, "").strip().lower() in _TRUTHY for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def select_device_dtype(device: str = "auto") -> tuple[str, Any]:
    """Pick ``(device, torch dtype)``: CUDA when available ('auto'), bfloat16 on CUDA, else float32."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return device, torch.bfloat16 if str(device).startswith("cuda") else torch.float32


def _dtype_kwarg() -> str:
    """``from_pretrained``'s dtype keyword: ``dtype`` since transformers 4.56, ``torch_dtype`` before."""
    import transformers

    try:
        from packaging.version import Version

        return "dtype" if Version(transformers.__version__).release >= (4, 56) else "torch_dtype"
    except Exception:  # noqa: BLE001 - unparsable version string: assume a recent transformers
        return "dtype"


class HFPointer:
    """Pointer running a local multimodal model with transformers.

    Args:
        config: ``backend`` in ``{"molmo", "molmo2", "qwen-vl"}``; ``model`` is a Hub id or a
            local directory (empty for :data:`DEFAULT_MODELS`).

    Raises:
        PointingConfigError: ``backend="molmo"`` without ``trust_remote_code=True``.
    """

    def __init__(self, config: PointerConfig) -> None:
        if config.backend not in DEFAULT_MODELS:
            raise PointingConfigError(f"HFPointer does not run backend {config.backend!r}")
        if config.backend == "molmo" and not config.trust_remote_code:
            raise PointingConfigError(
                "Molmo v1 checkpoints only run with model code downloaded from their Hub repository; "
                "re-run with trust_remote_code=True (--trust-remote-code) to allow it, after checking that "
                "you trust that repository, or use the 'molmo2' backend, which is native to transformers"
            )
        self.config = config
        self.model_id = config.model or DEFAULT_MODELS[config.backend]
        try:
            self.family: str | None = resolve_family(config)
        except PointingConfigError:
            self.family = None  # decided from the checkpoint's model_type at load time
        self.device: str | None = None
        self.dtype: Any = None
        self.model: Any = None
        self.processor: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"HFPointer(backend={self.config.backend!r}, model={self.model_id!r}, family={self.family!r}, device={self.device!r})"

    # ------------------------------------------------------------------ loading

    def _hub_kwargs(self) -> dict[str, Any]:
        return {"local_files_only": offline_mode(), "trust_remote_code": bool(self.config.trust_remote_code)}

    def load(self) -> HFPointer:
        """Load the processor and model now (otherwise done on the first ``point``)."""
        with self._lock:
            if self.model is None:
                self._load_locked()
        return self

    def _load_locked(self) -> None:
        import transformers

        start = time.perf_counter()
        self.device, self.dtype = select_device_dtype(self.config.device)
        kw = self._hub_kwargs()
        try:
            if self.family is None:
                cfg = transformers.AutoConfig.from_pretrained(self.model_id, **kw)
                model_type = getattr(cfg, "model_type", "")
                if model_type not in _QWEN_MODEL_TYPES:
                    raise PointingConfigError(
                        f"{self.model_id!r} has model_type {model_type!r}, not a Qwen2.5-VL/Qwen3-VL model; "
                        "set family explicitly"
                    )
                self.family = _QWEN_MODEL_TYPES[model_type]
            self.processor = transformers.AutoProcessor.from_pretrained(self.model_id, **kw)
            if self.config.backend == "molmo":
                model_cls = transformers.AutoModelForCausalLM
            else:
                model_cls = transformers.AutoModelForImageTextToText
            if (
                self.config.backend == "molmo2"
                and not hasattr(transformers, "Molmo2ForConditionalGeneration")
                and not self.config.trust_remote_code
            ):
                raise PointingConfigError(
                    f"transformers {transformers.__version__} has no native Molmo2 classes; upgrade "
                    "transformers, or set trust_remote_code=True to run the checkpoint's own code"
                )
            model = model_cls.from_pretrained(self.model_id, **{_dtype_kwarg(): self.dtype}, **kw)
        except PointingConfigError:
            raise
        except Exception as exc:
            offline = " (offline: only local files were used)" if kw["local_files_only"] else ""
            raise PointingBackendError(
                f"could not load {self.config.backend} model {self.model_id!r}{offline}: {type(exc).__name__}: {exc}"
            ) from exc
        self.model = model.to(self.device).eval()
        logger.info(
            "loaded %s (%s, family %s) on %s in %s in %.1f s",
            self.model_id,
            type(self.model).__name__,
            self.family,
            self.device,
            str(self.dtype).replace("torch.", ""),
            time.perf_counter() - start,
        )

    # ------------------------------------------------------------------ inference

    def point(self, image: ImageLike, prompt: str, *, key: str | None = None) -> list[list[float]]:
        """Run the model on ``image`` and return its points in pixels of ``image``.

        Raises:
            PointingParseError: the model's answer could not be parsed.
        """
        pil = load_image(image)
        with self._lock:
            if self.model is None:
                self._load_locked()
            assert self.family is not None
            request = render_prompt(self.family, prompt, pil.size, self.config.template)
            if self.config.backend == "molmo":
                answer, input_size = self._generate_molmo_v1(pil, request)
            else:
                answer, input_size = self._generate_native(pil, request)
        logger.debug("view %s: answer %r", key, truncate_answer(answer))
        return parse_answer(answer, self.family, pil.size, input_size=input_size)

    def _chat_text(self, request: str) -> str:
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": request}]}]
        if getattr(self.processor, "chat_template", None):
            return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        image_token = getattr(self.processor, "image_token", "<|image|>")
        logger.warning("%s has no chat template; sending the raw request", self.model_id)
        return f"{image_token}{request}"

    def _generate_native(self, pil: Any, request: str) -> tuple[str, tuple[int, int] | None]:
        import torch

        text = self._chat_text(request)
        inputs = self.processor(text=[text], images=[pil], return_tensors="pt")
        input_size = None
        grid = inputs.get("image_grid_thw") if hasattr(inputs, "get") else None
        if grid is not None:
            # Qwen-VL: the resized input is grid (t, h, w) patches of patch_size pixels
            patch = int(getattr(self.processor.image_processor, "patch_size", 14))
            input_size = (int(grid[0][2]) * patch, int(grid[0][1]) * patch)
        inputs = inputs.to(self.device)
        for name in ("pixel_values", "pixel_values_videos"):
            if name in inputs and torch.is_floating_point(inputs[name]):
                inputs[name] = inputs[name].to(self.dtype)
        prompt_len = inputs["input_ids"].shape[1]
        with torch.inference_mode():
            out = self.model.generate(
                **inputs, max_new_tokens=int(self.config.max_new_tokens), do_sample=False
            )
        tokenizer = getattr(self.processor, "tokenizer", self.processor)
        answer = tokenizer.decode(out[0, prompt_len:], skip_special_tokens=True)
        return answer, input_size

    def _generate_molmo_v1(self, pil: Any, request: str) -> tuple[str, None]:
        import torch
        from transformers import GenerationConfig

        inputs = self.processor.process(images=[pil], text=request)
        inputs = {k: v.to(self.device).unsqueeze(0) for k, v in inputs.items()}
        if "images" in inputs:
            inputs["images"] = inputs["images"].to(self.dtype)
        with torch.inference_mode():
            out = self.model.generate_from_batch(
                inputs,
                GenerationConfig(
                    max_new_tokens=int(self.config.max_new_tokens), stop_strings="<|endoftext|>"
                ),
                tokenizer=self.processor.tokenizer,
            )
        answer = self.processor.tokenizer.decode(
            out[0, inputs["input_ids"].size(1) :], skip_special_tokens=True
        )
        return answer, None

    def close(self) -> None:
        """Drop the model and free accelerator memory."""
        with self._lock:
            loaded = self.model is not None
            self.model = None
            self.processor = None
        if not loaded:  # never loaded (e.g. every answer came from the cache): no torch import
            return
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass
