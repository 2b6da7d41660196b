"""Hostile certificates, one per class of issue 14: `python tests/hostile/make_corpus.py DIR` writes them.

Each entry is (file name, the exit codes certcheck may give, what it exercises). None of them may be accepted,
take long, use much memory, or print a traceback.
"""

from __future__ import annotations

import os
import sys
from fractions import Fraction

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from checker.certificate import Certificate  # noqa: E402
from checker.model import ModelConfig, weights_sha256  # noqa: E402
from generator.certwriter import format_certificate  # noqa: E402


def _params(cfg: ModelConfig, seed: int = 0, scale: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: (rng.standard_normal(shape) * scale).astype(np.float32) for name, shape in cfg.shapes().items()}


def _cert(cfg: ModelConfig, schema: str, version: int, witness: dict, params=None, claim=Fraction(1, 2)) -> str:
    params = _params(cfg) if params is None else params
    return format_certificate(Certificate(1, schema, version, cfg, weights_sha256(cfg, params), params, witness,
                                          claim, {}))


def _underflow_params(cfg: ModelConfig) -> dict[str, np.ndarray]:
    """Weights whose attention scores differ by about 2^120: every exponential but the top one underflows."""
    p = {name: np.zeros(shape, np.float32) for name, shape in cfg.shapes().items()}
    p["embed.W_E"][:, 0] = np.arange(1, cfg.d_vocab + 1, dtype=np.float32)
    p["pos_embed.W_pos"][:, 0] = np.arange(cfg.n_ctx, dtype=np.float32)
    p["blocks.0.attn.W_Q"][0, 0, 0] = p["blocks.0.attn.W_K"][0, 0, 0] = np.float32(2.0 ** 60)
    p["blocks.0.attn.W_V"][0, 0, 0] = p["blocks.0.attn.W_O"][0, 0, 0] = np.float32(1.0)
    p["unembed.W_U"][0, :] = np.arange(cfg.d_vocab, dtype=np.float32)
    return p


def corpus() -> list[tuple[str, set[int], str, object]]:
    """(file name, allowed exit codes, description, text or a function writing the file)."""
    small = ModelConfig(4, 2, 2, 3)
    base = _cert(small, "brute-force", 1, {})
    head, _, rest = base.partition("witness {")
    bf = ModelConfig(64, 1, 1, 12)
    out = [
        ("dim-huge.cert", {2}, "a tensor dimension far beyond any limit",
         base.replace('tensor "embed.W_E" [4 2]', 'tensor "embed.W_E" [' + "9" * 1900 + ' 2]')),
        ("rank-70.cert", {2}, "a tensor with 70 dimensions",
         base.replace('tensor "embed.W_E" [4 2]', 'tensor "embed.W_E" [' + " ".join(["1"] * 70) + "]")),
        ("config-huge.cert", {2}, "a config dimension beyond the limit",
         base.replace("d_vocab 4", "d_vocab " + "9" * 1999, 1)),
        ("shape-product.cert", {2}, "dimensions within the limit whose product is not",
         base.replace("d_vocab 4", "d_vocab 65536", 1).replace("d_model 2", "d_model 65536", 1)),
        ("bf-64pow12.cert", {2}, "brute force over 64^12 inputs", _cert(bf, "brute-force", 1, {})),
        ("cubic-nctx65536.cert", {2}, "cubic with n_ctx 65536",
         _cert(ModelConfig(64, 1, 1, 65536), "cubic", 1, {"direct_path": "separate"})),
        ("bf-k65536.cert", {2}, "brute force over 2^65536 inputs", _cert(ModelConfig(2, 1, 1, 65536), "brute-force", 1, {})),
        ("bf-vocab65536.cert", {2}, "brute force with d_vocab 65536 (FLINT would abort)",
         base.replace("d_vocab 4", "d_vocab 65536", 1)),
        ("cubic-vocab8192.cert", {2}, "cubic with d_vocab 8192 (FLINT would abort)",
         _cert(ModelConfig(8192, 1, 1, 2), "cubic", 1, {"direct_path": "separate"})),
        ("bf-underflow-k30.cert", {2}, "tiny brute force (2^30 inputs) whose exponentials underflow",
         _cert(ModelConfig(2, 1, 1, 30), "brute-force", 1, {}, _underflow_params(ModelConfig(2, 1, 1, 30)))),
        ("bf-underflow-k22.cert", {2}, "brute force within the float budget, all inputs on the exact path",
         _cert(ModelConfig(2, 1, 1, 22), "brute-force", 1, {}, _underflow_params(ModelConfig(2, 1, 1, 22)))),
        ("vector-16m.cert", {2}, "one witness vector of 16 million zeros (32 MiB)",
         head + "witness {\n  zeros [" + " 0" * (1 << 24) + "]\n" + rest),
        ("entries-3m.cert", {2}, "three million distinct witness entries",
         head + "witness {\n" + "".join(f"  e{i} 0\n" for i in range(3_000_000)) + rest),
        ("nested.cert", {2}, "deep nesting", head + "witness {\n  x " + "[" * 100_000 + "\n" + rest),
        ("long-string.cert", {2}, "a string over the token limit", base.replace('"max-of-k"', '"' + "x" * 100_000 + '"')),
        ("rational-zero.cert", {2}, "a claim with zero denominator", base.replace("claim 1/2", "claim 1/0")),
        ("rational-huge.cert", {1, 2}, "a claim of two 2000-digit numbers",
         base.replace("claim 1/2", "claim " + "9" * 2000 + "/" + "9" * 1999 + "8")),
        ("not-utf8.cert", {2}, "bytes that are not UTF-8", b"compact-proofs-certificate 1\n\xff\xfe\x00"),
        ("empty.cert", {2}, "an empty file", ""),
        ("truncated.cert", {2}, "a truncated file", base[: len(base) // 2]),
        ("gaps-shape.cert", {1, 2}, "a subcubic witness whose gaps have the wrong shape",
         _cert(small, "subcubic", 2, {"direct_path": "mean-residual", "attention": "exact", "near_max": "drop",
                                      "gaps": [[1] * 70] * 3})),
        ("factor-shape.cert", {1, 2}, "low-rank factors with a huge claimed rank",
         _cert(small, "subcubic", 2, {"direct_path": "mean-residual", "attention": "low-rank",
                                      "attention_error": "global", "near_max": "drop", "gaps": [[0] * 3] * 16,
                                      "query_factor": [[0] * 5000] * 4, "query_basis": [[0]], "key_factor": [[0]],
                                      "key_basis": [[0]]})),
        ("schema-unknown.cert", {2}, "an unknown schema", base.replace('schema "brute-force" 1', 'schema "x" 9')),
    ]
    return out


def write_corpus(directory: str) -> list[tuple[str, set[int], str]]:
    """Write every hostile file into directory; returns (path, allowed exit codes, description)."""
    os.makedirs(directory, exist_ok=True)
    written = []
    for name, codes, what, content in corpus():
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.write(content if isinstance(content, bytes) else content.encode())
        written.append((path, codes, what))
    return written


if __name__ == "__main__":
    for path, codes, what in write_corpus(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus"):
        print(f"{path}: {what} (exit {'/'.join(map(str, sorted(codes)))})")
