"""Tiny randomly initialised Qwen2.5-VL, Qwen3-VL and Molmo2 models, no download.

Each model is built from a small config, saved with ``save_pretrained`` together with a
processor whose byte-level tokenizer is constructed offline with the ``tokenizers`` library,
then loaded back by the real backend (``local_files_only``) and run through the real
preprocessing and ``generate`` path on CPU. Their output is garbage; the code path is real.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from point2act.pointing import (
    PointerConfig,
    PointingBackendError,
    PointingConfigError,
    make_pointer,
    point_views,
)

QWEN_SPECIAL = [
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
]
MOLMO2_SPECIAL = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|image|>", "<|video|>", "<im_patch>", "<im_col>",
    "<im_start>", "<low_res_im_start>", "<frame_start>", "<im_end>", "<frame_end>", "<im_low>",
]  # fmt: skip

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}IMAGE"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def byte_tokenizer(special: list[str]):
    """A byte-level BPE tokenizer without merges (256 byte tokens + special tokens), built offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tok = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(special)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token="<|endoftext|>"
    )
    return fast, {t: fast.convert_tokens_to_ids(t) for t in special}


def _finish(model, cfg, ids, proc, path):
    for c in (cfg, getattr(cfg, "text_config", None)):
        if c is not None:
            c.eos_token_id, c.pad_token_id, c.bos_token_id = (
                ids["<|im_end|>"],
                ids["<|endoftext|>"],
                ids["<|endoftext|>"],
            )
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.generation_config.bos_token_id = ids["<|endoftext|>"]
    model.save_pretrained(path)
    proc.save_pretrained(path)
    return str(path)


def build_qwen25(path):
    tok, ids = byte_tokenizer(QWEN_SPECIAL)
    proc = transformers.Qwen2_5_VLProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=28 * 28 * 16),
        tokenizer=tok,
        video_processor=transformers.Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE.replace("IMAGE", "<|vision_start|><|image_pad|><|vision_end|>"),
    )
    cfg = transformers.Qwen2_5_VLConfig(
        text_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
            "vocab_size": 280, "max_position_embeddings": 512,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
        },
        vision_config={
            "depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 32, "patch_size": 14,
            "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 56, "fullatt_block_indexes": [0],
        },
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )  # fmt: skip
    torch.manual_seed(0)
    return _finish(transformers.Qwen2_5_VLForConditionalGeneration(cfg), cfg, ids, proc, path)


def build_qwen3(path):
    tok, ids = byte_tokenizer(QWEN_SPECIAL)
    proc = transformers.Qwen3VLProcessor(
        image_processor=transformers.Qwen2VLImageProcessor(
            patch_size=16, merge_size=2, min_pixels=64 * 64, max_pixels=32 * 32 * 16
        ),
        tokenizer=tok,
        video_processor=transformers.Qwen3VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE.replace("IMAGE", "<|vision_start|><|image_pad|><|vision_end|>"),
    )
    cfg = transformers.Qwen3VLConfig(
        text_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
            "head_dim": 16, "vocab_size": 280, "max_position_embeddings": 512,
            "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3], "mrope_interleaved": True},
        },
        vision_config={
            "depth": 1, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2, "out_hidden_size": 32, "patch_size": 16,
            "spatial_merge_size": 2, "temporal_patch_size": 2, "num_position_embeddings": 16, "deepstack_visual_indexes": [0],
        },
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
    )  # fmt: skip
    torch.manual_seed(0)
    return _finish(transformers.Qwen3VLForConditionalGeneration(cfg), cfg, ids, proc, path)


def build_molmo2(path):
    tok, ids = byte_tokenizer(MOLMO2_SPECIAL)
    proc = transformers.Molmo2Processor(
        image_processor=transformers.Molmo2ImageProcessor(
            size={"height": 84, "width": 84}, max_crops=2, overlap_margins=[1, 1]
        ),
        video_processor=transformers.Molmo2VideoProcessor(size={"height": 84, "width": 84}),
        tokenizer=tok,
        chat_template=CHAT_TEMPLATE.replace("IMAGE", "<|image|>"),
    )
    cfg = transformers.Molmo2Config(
        vision_config={
            "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
            "head_dim": 16, "image_size": [84, 84], "patch_size": 14,
        },
        adapter_config={
            "vision_feature_layer": [-1], "hidden_size": 32, "num_attention_heads": 2, "num_key_value_heads": 2, "head_dim": 16,
            "intermediate_size": 64, "text_hidden_size": 32,
        },
        text_config={
            "hidden_size": 32, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16, "vocab_size": 256,
            "additional_vocab_size": 32, "num_hidden_layers": 1, "intermediate_size": 64, "max_position_embeddings": 2048,
        },
        image_start_token_id=ids["<im_start>"], low_res_image_start_token_id=ids["<low_res_im_start>"],
        image_end_token_id=ids["<im_end>"], image_patch_id=ids["<im_patch>"],
        frame_start_token_id=ids["<frame_start>"], frame_end_token_id=ids["<frame_end>"],
    )  # fmt: skip
    torch.manual_seed(0)
    return _finish(transformers.Molmo2ForConditionalGeneration(cfg), cfg, ids, proc, path)


BUILDERS = {
    "qwen2.5-vl": ("qwen-vl", "Qwen2_5_VLConfig", build_qwen25),
    "qwen3-vl": ("qwen-vl", "Qwen3VLConfig", build_qwen3),
    "molmo2": ("molmo2", "Molmo2Config", build_molmo2),
}


@pytest.fixture(scope="module", params=list(BUILDERS))
def tiny(request, tmp_path_factory):
    family = request.param
    backend, config_name, build = BUILDERS[family]
    if not hasattr(transformers, config_name):
        pytest.skip(f"transformers {transformers.__version__} has no {config_name}")
    path = build(tmp_path_factory.mktemp(family.replace(".", "")))
    return family, backend, path


def two_images():
    rng = np.random.default_rng(0)
    return {
        "frame_00001.png": rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
        "frame_00002.png": rng.integers(0, 255, (70, 50, 3), dtype=np.uint8),
    }


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.mark.parametrize("policy", ["empty", "skip"])
def test_tiny_model_end_to_end(tiny, policy, offline, caplog):
    family, backend, path = tiny
    caplog.set_level(logging.INFO, logger="point2act")
    pointer = make_pointer(
        PointerConfig(
            backend=backend, model=path, max_new_tokens=6, on_parse_error=policy, device="auto"
        )
    )
    images = two_images()
    out = point_views(pointer, images, "where to grasp the mug", progress=policy == "empty")
    assert pointer.device == "cpu" and pointer.dtype == torch.float32  # no GPU here
    assert pointer.family == family  # auto-detected from the checkpoint for qwen-vl
    assert out["coordinates"] == "pixels" and out["metadata"]["family"] == family
    for key, pts in out["points"].items():
        h, w = images[key].shape[:2]
        assert isinstance(pts, list)
        assert all(0 <= x <= w and 0 <= y <= h for x, y in pts)
    failed = set(out["metadata"]["parse_errors"])
    if policy == "empty":
        assert set(out["points"]) == set(images)
    else:
        assert set(out["points"]) == set(images) - failed
    assert "frame_00001.png" in caplog.text  # per-view timing or the parse warning names the view
    pointer.close()


SCRIPTED = {
    # answers in each family's convention that all mean pixel (100, 60), the centre of a 200x120 image.
    # The tiny Qwen2.5-VL processor has max_pixels=28*28*16, so 200x120 is resized to 140x84
    # (the default max_pixels would give 196x112): the mapping must use the processor's real size.
    "qwen2.5-vl": '[{"point_2d": [70, 42], "label": "x"}]',
    "qwen3-vl": '```json\n[{"point_2d": [500, 500], "label": "x"}]\n```',
    "molmo2": '<points coords="1 1 500 500" alt="x">x</points>',
}


def test_tiny_model_coordinate_mapping(tiny, offline):
    """Real preprocessing + generate, with the generated tokens replaced by a scripted answer."""
    family, backend, path = tiny
    pointer = make_pointer(PointerConfig(backend=backend, model=path, max_new_tokens=2)).load()
    real_generate = pointer.model.generate
    tokenizer = pointer.processor.tokenizer

    def scripted_generate(**inputs):
        real_generate(**inputs)  # the real path still runs
        answer = tokenizer(SCRIPTED[family], add_special_tokens=False, return_tensors="pt").input_ids
        return torch.cat([inputs["input_ids"], answer.to(inputs["input_ids"].device)], dim=1)

    pointer.model.generate = scripted_generate
    image = np.random.default_rng(1).integers(0, 255, (120, 200, 3), dtype=np.uint8)
    pts = pointer.point(image, "x")
    assert np.allclose(pts, [[100.0, 60.0]]), pts


def test_molmo_v1_needs_trust_remote_code():
    with pytest.raises(PointingConfigError) as err:
        make_pointer(PointerConfig(backend="molmo", model="allenai/Molmo-7B-D-0924"))
    assert "trust_remote_code" in str(err.value)


def test_offline_missing_model_is_a_clear_error(offline, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    pointer = make_pointer(PointerConfig(backend="qwen-vl", model="Qwen/Qwen2.5-VL-7B-Instruct"))
    with pytest.raises(PointingBackendError) as err:
        pointer.load()
    assert "offline" in str(err.value) and "Qwen/Qwen2.5-VL-7B-Instruct" in str(err.value)
