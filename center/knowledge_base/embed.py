"""Sentence vectors from a static embedding model that ships inside its PyPI wheel.

The default is WordLlama's `l2_supercat` at 256 dimensions (token vectors averaged, so a
query costs ~0.05 ms and no GPU). Its weights and tokenizer are files of the installed
package; we open them ourselves rather than through ``WordLlama.load``, which looks for
the tokenizer in the wrong folder of the package and then tries a model hub. Nothing here
ever reaches the network: a missing file is an error, not a download.

Vectors are L2-normalised float32, so a dot product is the cosine similarity; they are
stored as float16 bytes (512 bytes an article part).
"""

from __future__ import annotations

import importlib.resources
import re
import threading
from typing import Protocol

import numpy as np

DIM = 256
MAX_CHARS = 2_000  # what one text may give the model: a query, a section, a title block
MAX_TOKENS = 256  # static vectors are averaged: past a few hundred tokens they blur
SECTION_CHARS = 1_200  # articles longer than this are embedded section by section
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.M)


class Embedder(Protocol):
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...


class WordLlamaEmbedder:
    """WordLlama from its packaged files (downloads impossible by construction)."""

    dim = DIM

    def __init__(self) -> None:
        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference

        root = importlib.resources.files("wordllama")
        weights = root / "weights" / f"l2_supercat_{DIM}.safetensors"
        tokenizer = root / "tokenizers" / "l2_supercat_tokenizer_config.json"
        with safe_open(str(weights), framework="np", device="cpu") as f:
            table = f.get_tensor("embedding.weight")
        self._model = WordLlamaInference(table, Tokenizer.from_file(str(tokenizer)))
        self._model.tokenizer.enable_truncation(MAX_TOKENS)

    def embed(self, texts: list[str]) -> np.ndarray:
        capped = [(t or " ")[:MAX_CHARS] for t in texts]
        vectors = np.asarray(self._model.embed(capped, norm=False), dtype=np.float32)
        return normalise(vectors)


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.nan_to_num(vectors)  # a text of no tokens pools to 0/0
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.where(norms > 0, norms, 1.0)).astype(np.float32)


_lock = threading.Lock()
_default: Embedder | None = None


def model() -> Embedder:
    """The process's embedder, loaded once (0.3 s, 16 MB); call it from a thread."""
    global _default
    with _lock:
        if _default is None:
            _default = WordLlamaEmbedder()
        return _default


def loaded() -> Embedder | None:
    return _default


def use(embedder: Embedder | None) -> None:
    """Swap the process's embedder (an optional heavier model; None: back to the default)."""
    global _default
    with _lock:
        _default = embedder


def headings(body_md: str) -> list[str]:
    return [m.group(1) for m in _HEADING.finditer(body_md or "")]


def sections(body_md: str) -> list[str]:
    """The body cut at its headings, long parts cut again at paragraph breaks, each part at
    most SECTION_CHARS: a long article is embedded piece by piece, never truncated."""
    parts: list[str] = []
    for chunk in re.split(r"(?m)^(?=\s{0,3}#{1,6}\s)", body_md or ""):
        buf = ""
        for para in re.split(r"\n\s*\n", chunk):
            para = para.strip()
            while len(para) > SECTION_CHARS:  # one huge paragraph: cut at a space
                cut = para.rfind(" ", 0, SECTION_CHARS)
                cut = cut if cut > 0 else SECTION_CHARS
                parts.append(para[:cut])
                para = para[cut:].strip()
            if buf and len(buf) + len(para) > SECTION_CHARS:
                parts.append(buf)
                buf = ""
            buf = f"{buf}\n\n{para}" if buf else para
        if buf.strip():
            parts.append(buf)
    return parts


def article_texts(
    title: str, answer: str | None, tags: str, body_md: str, body_text: str
) -> list[str]:
    """What an article is embedded from: its head (title, summary, tags, headings) and its
    body, whole when short, by section when long. Part 0 is always the head."""
    head = ". ".join(x for x in [title, answer or "", tags, *headings(body_md)] if x)
    if len(body_text or "") <= SECTION_CHARS:
        return [head, f"{title}. {body_text}"] if body_text else [head]
    return [head, *[f"{title}. {s}" for s in sections(body_md)][:50]]


def to_bytes(vector: np.ndarray) -> bytes:
    return vector.astype(np.float16).tobytes()


def from_bytes(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=np.float16).astype(np.float32)
