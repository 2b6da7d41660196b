"""With `pip install .` (no generator extra), the commands that need torch say which extra to install (exit 2,
one line, no traceback), and those documented to work without it (certcheck, export-lean, export-coq) do.

torch, tqdm and matplotlib are made unimportable in a subprocess by a meta-path finder that refuses them."""

import os
import subprocess
import sys

import pytest
from conftest import ROOT, random_params

from checker.model import ModelConfig

BLOCKER = r"""
import importlib.abc, sys
BLOCKED = {"torch", "tqdm", "matplotlib"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
if sys.argv[1] == "certcheck":
    from checker.cli import main
else:
    from generator.cli import main
sys.exit(main(sys.argv[2:]))
"""

MODEL = os.path.join(ROOT, "models", "max4-v64-s123.safetensors")


def _run(*argv):
    return subprocess.run([sys.executable, "-c", BLOCKER, *argv], capture_output=True, text=True, cwd=ROOT)


def test_the_blocker_blocks():
    p = subprocess.run([sys.executable, "-c", BLOCKER.replace("if sys.argv[1]", "import torch\nif sys.argv[1]"),
                        "certify", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode != 0 and "No module named 'torch'" in p.stderr


@pytest.mark.parametrize("argv", [
    ["eval", MODEL],
    ["train", "-o", "{tmp}/m.safetensors"],
    ["report", "--out", "{tmp}/report"],
    ["generate", MODEL, "--strategy", "cubic", "-o", "{tmp}/a.cert"],
])
def test_commands_that_need_torch_name_the_extra(tmp_path, argv):
    p = _run("certify", *(a.format(tmp=tmp_path) for a in argv))
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert f"certify {argv[0]} needs the generator extra" in p.stderr
    assert "pip install '.[generator]' in the project's checkout" in p.stderr  # no index serves compact-proofs
    assert not list(tmp_path.iterdir())  # refused before doing anything


def test_certcheck_and_exports_work_without_torch(tmp_path):
    from generator.certwriter import write_certificate
    from generator.generate import build_certificate

    cfg = ModelConfig(d_vocab=5, d_model=4, d_head=4, n_ctx=3)
    cert, _ = build_certificate(cfg, random_params(cfg, 3), "brute-force", progress=False)
    path = str(tmp_path / "a.cert")
    write_certificate(path, cert)
    p = _run("certcheck", path)
    assert p.returncode == 0 and p.stdout.startswith("ACCEPTED"), p.stderr
    for lang, ext in (("coq", ".v"), ("lean", ".lean")):
        out = tmp_path / f"a{ext}"
        p = _run("certify", f"export-{lang}", path, "-o", str(out))
        assert p.returncode == 0, p.stderr
        assert out.stat().st_size > 0
