"""A static sentence embedding, loaded once per process from files inside a wheel. Pure.

The model is WordLlama's ``l2_supercat`` at 256 dimensions: a token-embedding table
(32,000 x 256, 16 MB of safetensors) and its tokenizer, both shipped inside the
``wordllama`` wheel. A sentence's vector is the mean of its tokens' vectors, L2-normalised,
so cosine similarity is a dot product. Nothing is ever downloaded: the files are read
from the installed package's folder, found without importing the package (its
``__init__`` configures the root logger and its loader falls back to the network when
a file is missing; this module does neither, and raises if a file is missing).
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

WEIGHTS = Path("weights") / "l2_supercat_256.safetensors"
TOKENIZER = Path("tokenizers") / "l2_supercat_tokenizer_config.json"
TENSOR_KEY = "embedding.weight"
DIMENSIONS = 256
_BATCH = 512


def _package_folder() -> Path:
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the wordllama package (which ships the model) is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


class StaticEmbedding:
    """Mean-pooled token vectors; ``embed`` returns unit rows (float32)."""

    def __init__(self, table: np.ndarray, tokenizer: object) -> None:
        self._table = np.ascontiguousarray(table, dtype=np.float32)
        self._tokenizer = tokenizer

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        result = np.zeros((len(texts), self._table.shape[1]), dtype=np.float32)
        vocabulary = self._table.shape[0]
        for start in range(0, len(texts), _BATCH):
            chunk = list(texts[start : start + _BATCH])
            encodings = self._tokenizer.encode_batch(chunk, add_special_tokens=False)  # type: ignore[attr-defined]
            for offset, encoding in enumerate(encodings):
                ids = np.asarray(encoding.ids, dtype=np.int64)
                ids = ids[(ids >= 0) & (ids < vocabulary)]
                if len(ids):
                    result[start + offset] = self._table[ids].mean(axis=0)
        norms = np.linalg.norm(result, axis=1, keepdims=True)
        np.divide(result, norms, out=result, where=norms > 0)
        return result


@functools.cache
def load_model() -> StaticEmbedding:
    """The model, read once per process from the installed ``wordllama`` package."""
    from safetensors import safe_open
    from tokenizers import Tokenizer

    folder = _package_folder()
    weights, tokenizer_file = folder / WEIGHTS, folder / TOKENIZER
    for path in (weights, tokenizer_file):
        if not path.is_file():
            raise FileNotFoundError(f"model file missing from the wordllama wheel: {path}")
    with safe_open(str(weights), framework="np", device="cpu") as handle:
        table = handle.get_tensor(TENSOR_KEY)
    tokenizer = Tokenizer.from_file(str(tokenizer_file))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return StaticEmbedding(table, tokenizer)


def embed(texts: Sequence[str]) -> np.ndarray:
    """Unit vectors (``len(texts)`` x 256, float32) for ``texts``."""
    return load_model().embed(texts)
