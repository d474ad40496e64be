"""Build a tiny, randomly initialised Stable Diffusion pipeline folder for demos and tests.

The folder has the real architecture (UNet2DConditionModel, AutoencoderKL, CLIP text encoder and tokenizer,
a scheduler) at toy sizes, saved as safetensors, so every code path of the diffusers engine runs on a CPU in
well under a second for a 64x64 image. Its pictures are coloured noise: it has never been trained.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Words the tiny CLIP tokenizer learns merges from, so common prompt words are single tokens.
_TOKENIZER_CORPUS = (
    "a photo of a cat sitting on a red sofa in a bright room",
    "an oil painting of a mountain lake at sunset, highly detailed",
    "portrait of a woman, studio lighting, sharp focus, 4k",
    "a watercolor illustration of a small house with a garden",
    "blurry, low quality, watermark, text, deformed, ugly",
    "logo design, minimal, flat, vector, clean lines, blue and white",
)
_BOS = "<|startoftext|>"
_EOS = "<|endoftext|>"
_MAX_TOKENS = 77


def _bytes_alphabet() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for raw bytes, in a fixed order."""
    from tokenizers import pre_tokenizers

    return sorted(pre_tokenizers.ByteLevel.alphabet())


def _clip_vocab_and_merges(vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a small byte-level BPE with CLIP's end-of-word marker and lay it out the way CLIP does.

    Layout: the 256 byte characters, the same with ``</w>``, then one token per merge in merge order,
    then the two special tokens. Every byte has both forms, so no text is ever unknown.
    """
    from collections import Counter

    from tokenizers import pre_tokenizers

    alphabet = _bytes_alphabet()
    # Learn the merges here rather than with tokenizers' trainer: its order of equally frequent pairs
    # changes from run to run, and the same seed must give the same files.
    splitter = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]
    )
    words: Counter[tuple[str, ...]] = Counter()
    for line in _TOKENIZER_CORPUS:
        for piece, _span in splitter.pre_tokenize_str(line.lower()):
            words[(*piece[:-1], piece[-1] + "</w>")] += 1
    pairs: list[tuple[str, str]] = []
    for _ in range(max(0, vocab_size - 2 * len(alphabet) - 2)):
        counts: Counter[tuple[str, str]] = Counter()
        for word, freq in words.items():
            for pair in zip(word, word[1:], strict=False):
                counts[pair] += freq
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))  # ties broken by the pair itself
        pairs.append(best)
        merged: Counter[tuple[str, ...]] = Counter()
        for word, freq in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += freq
        words = merged

    vocab: dict[str, int] = {}
    for token in [*alphabet, *(ch + "</w>" for ch in alphabet)]:
        vocab.setdefault(token, len(vocab))
    merges: list[tuple[str, str]] = []
    for left, right in pairs:
        if left in vocab and right in vocab and left + right not in vocab:
            vocab[left + right] = len(vocab)
            merges.append((left, right))
    for special in (_BOS, _EOS):
        vocab[special] = len(vocab)
    return vocab, merges


def _build_tokenizer(folder: Path) -> int:
    """Save a CLIP tokenizer (tokenizer.json plus CLIP's vocab.json / merges.txt); return its size."""
    from transformers import CLIPTokenizer

    vocab, merges = _clip_vocab_and_merges(vocab_size=700)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=_MAX_TOKENS)
    tokenizer.save_pretrained(str(folder))
    # The classic files as well, for tools that read CLIP's original format.
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_text = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges)
    (folder / "merges.txt").write_text(merges_text, encoding="utf-8")
    return len(vocab)


def _tiny_safety_checker(seed: int):
    """A random CLIP-based NSFW checker whose thresholds can never be reached (it never flags)."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessorPil

    config = CLIPConfig(
        text_config={"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2},
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_attention_heads": 4,
            "num_hidden_layers": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=32,
    )
    torch.manual_seed(seed + 3)
    checker = StableDiffusionSafetyChecker(config).eval()
    with torch.no_grad():
        # Cosine similarity is at most 1, so thresholds of 2 keep every demo image unflagged.
        checker.concept_embeds_weights.fill_(2.0)
        checker.special_care_embeds_weights.fill_(2.0)
    extractor = CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return checker, extractor


def build_image_model(target_dir: Path, *, seed: int = 0, with_safety_checker: bool = False) -> Path:
    """Write a tiny Stable Diffusion folder to ``target_dir`` and return it.

    The same ``seed`` gives the same weights. With ``with_safety_checker`` the folder also holds a (never
    flagging) NSFW checker and its feature extractor, to exercise the engine's ``nsfw_check`` option.
    """
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = target_dir / "tokenizer"
    tokenizer_dir.mkdir(exist_ok=True)
    vocab_size = _build_tokenizer(tokenizer_dir)
    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir))

    # Sizes follow diffusers' own dummy test components: 64x64 images, 32x32 latents.
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        sample_size=64,
    )
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=_MAX_TOKENS,
            projection_dim=32,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    # Stable Diffusion 1.x noise schedule.
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        steps_offset=1,
        timestep_spacing="leading",
    )
    checker, extractor = _tiny_safety_checker(seed) if with_safety_checker else (None, None)
    pipe = StableDiffusionPipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        unet=unet.eval(),
        scheduler=scheduler,
        safety_checker=checker,
        feature_extractor=extractor,
        requires_safety_checker=with_safety_checker,
    )
    pipe.save_pretrained(str(target_dir), safe_serialization=True)
    return target_dir


def build_upscaler_model(target_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny Stable Diffusion x4 upscaler folder to ``target_dir`` and return it.

    The real architecture at toy sizes: a UNet taking 7 channels (4 latent + the 3-channel noised input) with
    a noise-level class embedding, a VAE with three blocks (it decodes at 4x the latent size), the tiny CLIP
    text encoder and tokenizer, a DDPM scheduler that noises the input and a v-prediction DDIM scheduler.
    Its pictures are coloured noise: it has never been trained.
    """
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    tokenizer_dir = target_dir / "tokenizer"
    tokenizer_dir.mkdir(exist_ok=True)
    vocab_size = _build_tokenizer(tokenizer_dir)
    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir))
    max_noise_level = 350
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(16, 16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        sample_size=32,
        in_channels=7,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        use_linear_projection=True,
        num_class_embeds=max_noise_level + 1,
    )
    torch.manual_seed(seed + 1)
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 16),
        layers_per_block=1,
        norm_num_groups=8,
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        scaling_factor=0.08333,
    )
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            max_position_embeddings=_MAX_TOKENS,
            projection_dim=32,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    pipe = StableDiffusionUpscalePipeline(
        vae=vae.eval(),
        text_encoder=text_encoder.eval(),
        tokenizer=tokenizer,
        unet=unet.eval(),
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=max_noise_level,
    )
    pipe.save_pretrained(str(target_dir), safe_serialization=True)
    return target_dir
