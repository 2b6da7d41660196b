"""`certify generate --strategy auto`: the tightest certificate among every strategy that fits the budgets,
branch-and-bound and brute force included (issue 23, item 5)."""

import pytest
from reference import exhaustive_accuracy
from test_fuzz_soundness import fuzz_model, table_model

from checker.budget import Budget, OverBudget
from checker.model import ModelConfig
from checker.verify import check_file

pytest.importorskip("torch", reason="certify generate needs the generator extra (torch)")

# Small models on which branch-and-bound's exact tree is tighter than every subcubic and cubic variant:
# table_model(7) (d_vocab 6, K 4) with a proof shorter than brute force's, fuzz_model(4) (d_vocab 9, K 3) whose
# tree gives up no input, so that brute force is not built at all.
MODELS = {"table7": lambda: table_model(7), "fuzz4": lambda: fuzz_model(4)}


def _spy(monkeypatch):
    """Record (strategy, options, claim, proof length) of every candidate auto builds."""
    import generator.generate as generate

    built = []
    build = generate._build

    def recording(cfg, params, strategy, options, *args, **kwargs):
        cert, info = build(cfg, params, strategy, options, *args, **kwargs)
        if strategy != "auto":
            built.append((strategy, dict(options or {}), cert.claim, info["verdict"].result.proof_length))
        return cert, info

    monkeypatch.setattr(generate, "_build", recording)
    return built


@pytest.mark.parametrize("name", sorted(MODELS))
def test_auto_picks_branch_and_bound_when_it_is_tighter(name, monkeypatch, tmp_path):
    from generator.certwriter import write_certificate
    from generator.generate import build_certificate

    cfg, params = MODELS[name]()
    built = _spy(monkeypatch)
    cert, info = build_certificate(cfg, params, "auto", {}, device="cpu", progress=False, budget=Budget())
    kinds = {strategy for strategy, _, _, _ in built}
    assert {"subcubic", "cubic", "branch-and-bound"} <= kinds, kinds
    others = [claim for strategy, _, claim, _ in built if strategy in ("subcubic", "cubic")]
    (bnb,) = [claim for strategy, _, claim, _ in built if strategy == "branch-and-bound"]
    assert bnb > max(others)  # tighter than every subcubic and cubic candidate
    assert cert.schema == "branch-and-bound" and cert.claim == bnb and info["variant"] == "branch-and-bound"
    assert all(claim <= bnb for strategy, _, claim, _ in built if strategy == "brute-force")
    path = tmp_path / "auto.cert"
    write_certificate(str(path), cert)
    verdict = check_file(str(path))
    assert verdict.verdict == "accepted", verdict.reason
    assert verdict.bound == cert.claim
    truth = exhaustive_accuracy(params)  # the independent reference (tests/reference.py)
    assert cert.claim <= truth
    assert cert.claim == truth  # without a proof-length budget the tree reaches the exact accuracy here
    if name == "fuzz4":  # its tree gives up no input with a proof shorter than brute force's: not built
        assert "brute-force" not in kinds


def test_auto_holds_branch_and_bound_to_the_proof_length_budget(monkeypatch):
    from generator.generate import build_certificate

    cfg, params = table_model(7)
    built = _spy(monkeypatch)
    unlimited, _ = build_certificate(cfg, params, "branch-and-bound", {}, device="cpu", progress=False)
    budget = int(unlimited.meta["proof_length"]) - 1  # the exact tree does not fit
    cert, _ = build_certificate(cfg, params, "auto", {"budget": str(budget)}, device="cpu", progress=False,
                                budget=Budget())
    assert int(cert.meta["proof_length"]) <= budget
    searched = [options for strategy, options, _, _ in built if strategy == "branch-and-bound"]
    assert searched[1:] == [{"budget": float(budget)}]  # after the unlimited search above: auto's, with the budget
    assert cert.claim <= exhaustive_accuracy(params)


def _attempted(monkeypatch, cfg, budget: Budget, proof_budget=None) -> list[str]:
    """The strategies auto tries to build for `cfg` under `budget` (each attempt is stopped at once)."""
    import numpy as np

    import generator.generate as generate

    tried = []
    build = generate._build

    def refuse(cfg, params, strategy, options, *args, **kwargs):
        if strategy == "auto":  # build_certificate's own call: auto's search, whose candidates are stopped
            return build(cfg, params, strategy, options, *args, **kwargs)
        tried.append(strategy)
        raise OverBudget("over budget: stopped by the test")

    monkeypatch.setattr(generate, "_build", refuse)
    params = {n: np.zeros(shape, np.float32) for n, shape in cfg.shapes().items()}
    options = {} if proof_budget is None else {"budget": proof_budget}
    with pytest.raises(OverBudget, match="no strategy fits"):
        generate.build_certificate(cfg, params, "auto", options, progress=False, budget=budget)
    return tried


def test_auto_tries_brute_force_whenever_its_estimate_fits_max_work(monkeypatch):
    """Brute force is a candidate by its estimate alone (it was capped at 2^25 inputs): d_vocab 2, K 26 has
    2^26 inputs and a brute-force estimate far below the default --max-work; one operation less than that
    estimate and it is skipped before it is built."""
    from generator.generate import estimate_strategy

    cfg = ModelConfig(d_vocab=2, d_model=2, d_head=2, n_ctx=26)
    work, memory = estimate_strategy(cfg, "brute-force", {})
    assert work < Budget().max_work
    assert "brute-force" in _attempted(monkeypatch, cfg, Budget(max_work=work, max_memory=1 << 40))
    assert "brute-force" not in _attempted(monkeypatch, cfg, Budget(max_work=work - 1, max_memory=1 << 40))
    assert "branch-and-bound" in _attempted(monkeypatch, cfg, Budget())


def test_auto_leaves_out_brute_force_beyond_the_proof_length_budget(monkeypatch):
    from generator.generate import brute_force_length

    cfg = ModelConfig(d_vocab=6, d_model=4, d_head=4, n_ctx=3)
    length = brute_force_length(cfg)
    assert "brute-force" not in _attempted(monkeypatch, cfg, Budget(), str(length - 1))
    assert "brute-force" in _attempted(monkeypatch, cfg, Budget(), str(length * 100))


def test_auto_skips_branch_and_bound_whose_smallest_tree_is_over_the_memory_budget(monkeypatch):
    """20 x 512: a tree with one certified leaf needs the V^3 tables (85 GiB): never searched by auto."""
    cfg = ModelConfig(d_vocab=512, d_model=4, d_head=4, n_ctx=20)
    tried = _attempted(monkeypatch, cfg, Budget())
    assert "branch-and-bound" not in tried and "brute-force" not in tried


def test_auto_help_and_readme_say_what_it_tries():
    import os

    from conftest import ROOT

    from generator.cli import build_parser

    parser = build_parser()
    generate = parser._subparsers._group_actions[0].choices["generate"]
    text = " ".join(generate.format_help().split())
    for needed in ("branch-and-bound", "brute force", "--max-work", "--max-memory", "--budget"):
        assert needed in text, needed
    with open(os.path.join(ROOT, "README.md")) as f:
        (row,) = [line for line in f if line.startswith("| `auto`")]
    for needed in ("subcubic", "cubic", "branch-and-bound", "brute force", "--max-work", "--max-memory", "--budget"):
        assert needed in row, needed



def test_auto_searches_branch_and_bound_exactly_only_where_its_exact_tree_is_cheap():
    """Without --budget, auto's branch-and-bound aims at the exact accuracy up to 2^25 inputs (Max-of-4/64) and
    is held to a proof-length budget beyond (an exact search takes minutes on Max-of-5/64); --budget is its own."""
    from generator.generate import AUTO_SEARCH_BUDGET, auto_candidates

    def bnb_options(cfg, *budget):
        return [opts for strategy, opts in auto_candidates(cfg, *budget) if strategy == "branch-and-bound"]

    assert bnb_options(ModelConfig(d_vocab=64, d_model=32, d_head=32, n_ctx=4)) == [{}]
    assert bnb_options(ModelConfig(d_vocab=64, d_model=32, d_head=32, n_ctx=5)) == [{"budget": AUTO_SEARCH_BUDGET}]
    assert bnb_options(ModelConfig(d_vocab=64, d_model=32, d_head=32, n_ctx=5), 3e6) == [{"budget": 3e6}]
