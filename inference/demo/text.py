"""Build a tiny EXAONE 4.0 text model: real architecture, random weights, a real bilingual tokenizer.

The model talks nonsense, but every code path a real EXAONE checkpoint takes is exercised: the
``Exaone4ForCausalLM`` architecture (hybrid sliding-window / global attention), safetensors weights, a
byte-level BPE tokenizer with Hangul merges, the EXAONE chat markers and a chat template with
``enable_thinking``.

Chat template (EXAONE 4.0 style)::

    [|system|]You are helpful.[|endofturn|]
    [|user|]안녕하세요?[|endofturn|]
    [|assistant|]<think>\\n          <- generation prompt, enable_thinking=True
    [|assistant|]                    <- generation prompt, enable_thinking=False (nothing after the marker)

Reasoning in earlier assistant turns (anything up to ``</think>``) is dropped from the prompt, as EXAONE does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Special tokens, in id order. The role markers are special (hidden when decoding); ``<think>`` tags are not,
#: so they survive ``skip_special_tokens`` and the reasoning splitter can see them.
SPECIAL_TOKENS = ["[PAD]", "[BOS]", "[|endofturn|]", "[|system|]", "[|user|]", "[|assistant|]", "[|tool|]"]
THINK_TOKENS = ["<think>", "</think>"]
PAD, BOS, EOS = SPECIAL_TOKENS[0], SPECIAL_TOKENS[1], SPECIAL_TOKENS[2]

CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant', 'tool'] -%}"
    "{{- raise_exception('Unknown role ' + message['role'] + ': use system, user or assistant.') -}}"
    "{%- endif -%}"
    "{%- set content = message['content'] -%}"
    "{%- if message['role'] == 'assistant' and '</think>' in content -%}"
    "{%- set content = content.split('</think>')[-1] | trim -%}"
    "{%- endif -%}"
    "{{- '[|' + message['role'] + '|]' + content + '[|endofturn|]\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{- '[|assistant|]' -}}"
    "{%- if enable_thinking is defined and enable_thinking -%}{{- '<think>\n' -}}{%- endif -%}"
    "{%- endif -%}"
)

# A small bilingual corpus: enough repetition for BPE to learn common Hangul syllables and English words, with
# code and emoji so the merges cover them too. Every other character still works through the 256 byte tokens.
_CORPUS = [
    "안녕하세요. 저는 한국어와 영어를 모두 이해하는 전문가 도우미입니다.",
    "무엇을 도와드릴까요? 질문이 있으면 언제든지 물어보세요.",
    "오늘 서울의 날씨는 맑고 따뜻합니다. 내일은 비가 올 수도 있습니다.",
    "대한민국의 수도는 서울입니다. 부산은 두 번째로 큰 도시입니다.",
    "인공지능 모델은 데이터를 학습하여 새로운 문장을 생성합니다.",
    "한글은 세종대왕이 만든 글자로, 자음과 모음을 모아 음절을 이룹니다.",
    "감사합니다! 좋은 하루 보내세요. 다음에 또 만나요.",
    "이 코드는 파이썬으로 작성되었으며 리스트를 정렬하는 함수입니다.",
    "먼저 문제를 이해하고, 그다음 단계별로 해결 방법을 생각해 봅시다.",
    "결론적으로, 두 가지 방법 모두 장점과 단점이 있습니다.",
    "학생들은 도서관에서 책을 읽고 공부를 열심히 했습니다.",
    "가나다라마바사아자차카타파하 각난닫랄맘밥삿앙잦찿캌탙팦핳",
    "Hello! I am an expert assistant that understands both Korean and English.",
    "What can I help you with today? Feel free to ask any question.",
    "The capital of South Korea is Seoul, and Busan is the second largest city.",
    "Language models learn from data and generate new sentences one token at a time.",
    "First, let us understand the problem, then think about the solution step by step.",
    "In conclusion, both approaches have their advantages and disadvantages.",
    "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.",
    "def sort_numbers(values: list[int]) -> list[int]:\n    return sorted(values)\n",
    "for i in range(10):\n    print(f'{i} squared is {i * i}')\n",
    'import json\n\ndata = json.loads(\'{"name": "EXAONE", "lang": ["ko", "en"]}\')\n',
    "class Greeter:\n    def greet(self, name):\n        return 'Hello, ' + name + '!'\n",
    "SELECT name, age FROM users WHERE age > 20 ORDER BY name;",
    "const answer = items.filter((x) => x > 0).map((x) => x * 2);",
    "if (a && b) { return a + b; } else { return null; }",
    "😀 😃 😄 😁 🙂 😉 👍 🎉 ❤️ 🇰🇷 ✨ 🚀 🤖 📚 ☕ 🌸",
    "좋아요 👍 정말 멋져요 🎉 한국 🇰🇷 화이팅! 🚀",
    "<think>\n사용자가 인사를 했습니다. 친절하게 답하겠습니다.\n</think>\n\n안녕하세요!",
    "<think>\nThe user asks a math question. 2 + 2 = 4.\n</think>\n\nThe answer is 4.",
    "숫자 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 그리고 100, 1000, 2024년 3월 15일.",
    "Numbers: 0 1 2 3 4 5 6 7 8 9, 3.14159, 2.71828, 100%, $42, #1, @home.",
]


def _train_tokenizer(target_dir: Path) -> int:
    """Train the byte-level BPE tokenizer, save it with its chat template and return the vocabulary size."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1600,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        # Every byte is in the base vocabulary, so any text (rare Hangul, emoji, Thai...) is representable.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Repeat the corpus so merges of frequent Hangul syllables clear min_frequency.
    tokenizer.train_from_iterator(_CORPUS * 4, trainer=trainer)
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS])

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=SPECIAL_TOKENS[3:],
        clean_up_tokenization_spaces=False,
        model_max_length=2048,
        padding_side="left",
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(target_dir)
    return len(fast)


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """Hide transformers' progress bars for a moment (they clutter test and command output)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def build_text_model(target_dir: Path, *, seed: int = 0) -> Path:
    """Write a tiny random EXAONE 4.0 model (safetensors, tokenizer, chat template) into ``target_dir``.

    Takes a few seconds on a CPU. The same seed gives the same weights and tokenizer.
    """
    import torch
    from transformers import Exaone4Config, Exaone4ForCausalLM, GenerationConfig

    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    vocab_size = _train_tokenizer(target_dir)
    ids = {token: SPECIAL_TOKENS.index(token) for token in (PAD, BOS, EOS)}

    config = Exaone4Config(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        max_position_embeddings=2048,
        # A short window so tests with long prompts exercise EXAONE's hybrid local / global attention.
        sliding_window=64,
        layer_types=["sliding_attention", "full_attention"],
        # Larger than the default 0.02 so logits are well separated: greedy decoding then does not flip on
        # rounding differences between batched and single-sequence runs.
        initializer_range=0.2,
        bos_token_id=ids[BOS],
        eos_token_id=ids[EOS],
        pad_token_id=ids[PAD],
        tie_word_embeddings=False,
    )
    generator_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = Exaone4ForCausalLM(config).eval()
    finally:
        torch.random.set_rng_state(generator_state)  # leave the caller's random stream alone
    model.generation_config = GenerationConfig(
        bos_token_id=ids[BOS], eos_token_id=ids[EOS], pad_token_id=ids[PAD], do_sample=False
    )
    with _quiet_progress_bars():
        model.save_pretrained(target_dir, safe_serialization=True)
    (target_dir / "DEMO_MODEL.json").write_text(
        json.dumps({"kind": "text", "architecture": "Exaone4ForCausalLM", "seed": seed, "random_weights": True}) + "\n",
        encoding="utf-8",
    )
    return target_dir
