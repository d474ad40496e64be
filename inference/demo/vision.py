"""Build a tiny, randomly initialised image-text-to-text model folder for demos and tests.

Architecture: LLaVA (``llava``) joining a SigLIP vision tower to an EXAONE 4 text model, both at toy sizes.
EXAONE 4.5 itself (``exaone4_5``) is not used because its processor (Qwen2-VL's) needs a video processor, and
in this transformers version video processors need torchvision, which is not installed here; a LLaVA folder
loads through the same ``AutoProcessor`` + ``AutoModelForImageTextToText`` path with the PIL image backend.
The text side is EXAONE's own architecture with hybrid sliding/global attention, and the tokenizer is
byte-level BPE, so Korean and English both round-trip. The answers are noise: the model is untrained.
"""

from __future__ import annotations

from pathlib import Path

#: Text the tokenizer learns merges from, so common words in both languages become single tokens.
_CORPUS = (
    "Describe this image in two sentences. Answer in English.",
    "List up to ten keywords that describe this image, separated by commas.",
    "A cat is sitting on a red sofa in a bright living room.",
    "mountain, lake, sunset, reflection, trees, calm water",
    "이 이미지를 두 문장으로 설명해 주세요. 한국어로 답하세요.",
    "이 이미지를 나타내는 키워드를 쉼표로 구분해 나열해 주세요.",
    "고양이가 밝은 거실의 빨간 소파 위에 앉아 있습니다.",
    "산, 호수, 노을, 반사, 나무, 잔잔한 물",
)

_PAD, _BOS, _EOS, _UNK = "[PAD]", "[BOS]", "[|endofturn|]", "[UNK]"
_ROLES = ("[|system|]", "[|user|]", "[|assistant|]")
_IMAGE = "<image>"

#: EXAONE-style turns: "[|role|]text[|endofturn|]" on their own lines; images become one <image> marker that
#: the processor expands to one token per image patch.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "[|{{ message.role }}|]"
    "{%- if message.content is string -%}{{ message.content }}"
    "{%- else -%}{%- for part in message.content -%}"
    "{%- if part.type == 'image' -%}" + _IMAGE + "{%- elif part.type == 'text' -%}{{ part.text }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "[|endofturn|]\n"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}[|assistant|]{%- endif -%}"
)

IMAGE_SIZE = 32
PATCH_SIZE = 8


def _build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512,
        special_tokens=[_PAD, _BOS, _EOS, _UNK, *_ROLES, _IMAGE],
        # Every byte is in the vocabulary, so any text (Hangul included) encodes without unknowns.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(_CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=_BOS,
        eos_token=_EOS,
        pad_token=_PAD,
        unk_token=_UNK,
        extra_special_tokens={"image_token": _IMAGE},
        model_max_length=512,
        chat_template=CHAT_TEMPLATE,
    )


def build_vision_model(target_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny LLaVA (SigLIP + EXAONE 4) folder to ``target_dir`` and return it.

    The same ``seed`` gives the same weights, so the same image and prompt give the same answer.
    """
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor, SiglipImageProcessorPil

    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = _build_tokenizer()
    image_processor = SiglipImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        # SigLIP has no CLS token: every patch becomes one image token.
        vision_feature_select_strategy="full",
        num_additional_image_tokens=0,
        chat_template=CHAT_TEMPLATE,
        image_token=_IMAGE,
    )
    config = LlavaConfig(
        text_config={
            "model_type": "exaone4",
            "vocab_size": len(tokenizer),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "max_position_embeddings": 512,
            # Layer 0 local (sliding window), layer 1 global, as in EXAONE's hybrid attention.
            "sliding_window": 128,
            "sliding_window_pattern": 2,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": IMAGE_SIZE,
            "patch_size": PATCH_SIZE,
        },
        image_token_id=tokenizer.convert_tokens_to_ids(_IMAGE),
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        projector_hidden_act="gelu",
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config).eval()
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(target_dir), safe_serialization=True)
    processor.save_pretrained(str(target_dir))
    return target_dir
