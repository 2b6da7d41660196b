"""Certificate generation: each strategy searches (in float) for a witness, then the claim comes from
the checker's exact computation, so the certificate the generator writes is one the checker accepts."""

from __future__ import annotations

import sys
import time
from fractions import Fraction

import numpy as np

from checker.budget import Budget, OverBudget, format_count, format_size, schema_estimate
from checker.certificate import FORMAT_VERSION, Certificate
from checker.model import ModelConfig, weights_sha256
from checker.schemas.subcubic import ATTENTION, ATTENTION_ERROR, DIRECT_PATH, FACTORS, NEAR_MAX
from checker.verify import check_certificate
from generator import __version__

STRATEGIES = ("brute-force", "cubic", "subcubic", "auto", "branch-and-bound")
CUBIC_DIRECT_PATH = ("separate", "top-outputs", "joint", "per-output")
DEFAULT_TOP_OUTPUTS = 4  # cubic top-outputs: candidate outputs per non-max token (docs/proofs/cubic.md)
DEFAULT_STRATEGY = "auto"  # the tightest candidate that fits the default work and memory budget: it finishes


# Schemas whose cost is estimated from the config before the search. Branch-and-bound's depends on its tree: a
# lower bound is known before the search (witness_skeleton), and its certificate is estimated again, and refused
# above the budget, before the exact check.
SCHEMA_OF = {"brute-force": ("brute-force", 1), "cubic": ("cubic", 1), "subcubic": ("subcubic", 2),
             "branch-and-bound": ("branch-and-bound", 1)}


def witness_skeleton(cfg: ModelConfig, strategy: str, options: dict) -> dict:
    """A witness with the shape the strategy's search will write (every case claimed, no token refined), for
    estimating a candidate's cost before building it. For branch-and-bound, whose tree is known only after its
    search, the cheapest tree that certifies anything: one root certified by the plain bound (every certified
    leaf needs the tables that node needs, and the search builds them too), so its estimate is a lower bound."""
    if strategy == "cubic":
        return cubic_witness(cfg, dict(options))
    if strategy == "subcubic":
        V, K = cfg.d_vocab, cfg.n_ctx
        out = {k: options[k] for k in ("attention", "near_max", "direct_path", "top_outputs") if k in options}
        if options.get("attention") == "low-rank":
            out["query_factor"] = [[0] * int(options.get("rank", 1))]
        out["gaps"] = [[1] * K] * (V * V)
        return out
    if strategy == "branch-and-bound":
        from checker.schemas.branch_and_bound import CERTIFIED, node_row

        V, K = cfg.d_vocab, cfg.n_ctx
        return {"nodes": [node_row(CERTIFIED, 0, 0, (V - 1, V - 1, ((K - 1, V - 1),)))]}
    return {}


def top_outputs_option(options: dict, default: int, strategy: str) -> int:
    """Pop the top_outputs option (a non-negative integer) from options, or the default."""
    value = options.pop("top_outputs", default)
    try:
        top = int(value)
    except ValueError:
        top = -1
    if top < 0:
        raise ValueError(f"{strategy} top_outputs must be a non-negative integer, got {value!r}")
    return top


def proof_length_budget(value) -> float:
    """A proof-length budget (`--budget N`, or the option budget=N) as a float: a positive, finite number, else
    ValueError (nan or inf would silently mean "no limit", 0 or less "nothing fits")."""
    try:
        budget = float(value)
    except (TypeError, ValueError):
        budget = float("nan")
    if not (0 < budget < float("inf")):
        raise ValueError(f"the proof-length budget must be a positive finite number (e.g. --budget 1e8), got "
                         f"{value!r}; leave it out for no limit")
    return budget


def clamped_top_outputs(options: dict, witness: dict) -> tuple[int, int] | None:
    """(asked, used) when the top_outputs option asked for more outputs than the model has candidates (d_vocab - 2,
    beyond which every wrong output is checked one by one), else None."""
    if "top_outputs" not in options:
        return None
    try:
        asked = int(options["top_outputs"])
    except ValueError:
        return None
    used = int(witness.get("top_outputs", 0))  # absent means 0
    return (asked, used) if used != asked else None


def cubic_witness(cfg: ModelConfig, options: dict) -> dict:
    """The cubic witness for options direct_path (default joint; per-output is tighter, separate and
    top-outputs cubic) and, with top-outputs, top_outputs (default DEFAULT_TOP_OUTPUTS, at most d_vocab - 2)."""
    options = dict(options)
    direct_path = options.pop("direct_path", "joint")
    if direct_path not in CUBIC_DIRECT_PATH:
        raise ValueError(f"cubic direct_path must be one of {', '.join(CUBIC_DIRECT_PATH)}, got {direct_path!r}")
    witness = {"direct_path": direct_path}
    if direct_path == "top-outputs":
        top = top_outputs_option(options, DEFAULT_TOP_OUTPUTS, "cubic")
        witness["top_outputs"] = min(top, max(0, cfg.d_vocab - 2))  # beyond that every output is a candidate
    if options:
        known = "direct_path, top_outputs (with direct_path=top-outputs)"
        raise ValueError(f"unknown cubic options: {sorted(options)} (known: {known})")
    return witness


def estimate_strategy(cfg: ModelConfig, strategy: str, options: dict) -> tuple[int, int] | None:
    """(work, memory) of checking what the strategy builds, from the config (a lower bound for branch-and-bound;
    None for an unknown strategy)."""
    if strategy not in SCHEMA_OF:
        return None
    return schema_estimate(*SCHEMA_OF[strategy], cfg, witness_skeleton(cfg, strategy, options))


def variant_name(strategy: str, options: dict) -> str:
    """e.g. 'subcubic (direct_path=mean-residual, attention=exact, near_max=refine)'."""
    shown = ", ".join(f"{k}={v}" for k, v in options.items() if k != "budget")
    return f"{strategy} ({shown})" if shown else strategy


def build_certificate(cfg: ModelConfig, params: dict[str, np.ndarray], strategy: str, options: dict | None = None,
                      device: str | None = None, progress: bool = True,
                      budget: Budget | None = None) -> tuple[Certificate, dict]:
    """Search for a witness, compute its exact bound with the checker's library, return the certificate.

    The device is checked first, whatever the strategy (generator.model.pick_device: one this torch build or
    machine lacks is a ValueError), and so is a proof-length budget (option budget: positive and finite). With a
    budget, a strategy whose estimated work or memory exceeds it raises OverBudget before any search."""
    if device is not None:
        from generator.model import pick_device

        device = str(pick_device(device))
    options = dict(options or {})
    if strategy in ("auto", "branch-and-bound") and "budget" in options:
        options["budget"] = proof_length_budget(options["budget"])
    cert, info = _build(cfg, params, strategy, options, device, progress, budget)
    top = max(0, cfg.d_vocab - 2)  # beyond, every wrong output is checked one by one: the value used is this
    if strategy in ("cubic", "subcubic") and str(options.get("top_outputs", "")).isdigit() \
            and int(options["top_outputs"]) > top:
        info["notes"] = [f"top_outputs={options['top_outputs']} is more than this model's d_vocab - 2 = {top} "
                         f"candidate outputs: top_outputs={top} used (every wrong output checked one by one)"]
    return cert, info


def _build(cfg: ModelConfig, params: dict[str, np.ndarray], strategy: str, options: dict | None, device: str | None,
           progress: bool, budget: Budget | None) -> tuple[Certificate, dict]:
    """build_certificate once its device and budget option are checked."""
    start = time.perf_counter()
    if strategy == "auto":
        return _auto(cfg, params, dict(options or {}), device, progress, budget)
    if strategy == "subcubic":
        variants = subcubic_variants(dict(options or {}), max_rank=cfg.d_head, max_vocab=cfg.d_vocab)
        if len(variants) > 1:  # the search over options: the tightest variant
            return _tightest(cfg, params, [("subcubic", v) for v in variants], float("inf"), device, progress, budget)
    if budget is not None and strategy in SCHEMA_OF:
        opts = dict(options or {})
        if strategy == "subcubic":
            (opts,) = subcubic_variants(opts, max_rank=cfg.d_head, max_vocab=cfg.d_vocab)
        budget.require(*estimate_strategy(cfg, strategy, opts), f"the {strategy} strategy on this model")
    schema, version, witness = _search(cfg, params, strategy, dict(options or {}), device, progress)
    cert = Certificate(FORMAT_VERSION, schema, version, cfg, weights_sha256(cfg, params), params, witness,
                       Fraction(0), {})
    bar = None
    unit = {"brute-force": "query", "cubic": "max token"}.get(schema)  # checks that call progress(done, d_vocab)
    if progress and unit:
        from tqdm import tqdm

        bar = tqdm(total=cfg.d_vocab, desc=f"{schema} (exact check)", unit=unit, leave=False)
    callback = (lambda done, total: bar.update(done - bar.n)) if bar is not None else None
    try:
        verdict = check_certificate(cert, progress=callback, budget=budget)  # exact: the claim is what it proves
    finally:
        if bar is not None:
            bar.close()
    if verdict.verdict == "refused":
        raise OverBudget(verdict.reason)
    if verdict.bound is None:
        raise RuntimeError(f"the checker rejected the generator's own witness: {verdict.reason}")
    cert.claim = verdict.bound
    seconds = time.perf_counter() - start
    cert.meta = {"generator": f"certify {__version__}", "generation_seconds": f"{seconds:.2f}",
                 "proof_length": str(verdict.result.proof_length)}
    shown = dict(options or {})
    info = {"seconds": seconds, "verdict": verdict}
    clamped = clamped_top_outputs(shown, witness) if strategy in ("cubic", "subcubic") else None
    if clamped is not None:  # the name says the value used (build_certificate adds a note saying why)
        shown["top_outputs"] = clamped[1]
    info["variant"] = variant_name(strategy, shown)
    return cert, info


def brute_force_length(cfg: ModelConfig) -> int:
    """The brute-force proof length, known before running it (d_vocab^K inputs, 2 (K + 1) d_vocab ops each)."""
    return cfg.d_vocab ** cfg.n_ctx * 2 * (cfg.n_ctx + 1) * cfg.d_vocab


AUTO_EXACT_INPUTS = 1 << 25  # up to this many inputs auto's branch-and-bound aims at the exact accuracy (as the sweep)
AUTO_SEARCH_BUDGET = 1e8  # beyond, without --budget, the proof-length budget of auto's branch-and-bound search


def auto_candidates(cfg: ModelConfig, budget: float = float("inf")) -> list[tuple[str, dict]]:
    """auto's candidates, cheapest kinds first: the subcubic search's default variants (with a proof-length
    budget, all 28 of its grid), the four cubic direct paths, branch-and-bound (with the proof-length budget, if
    any, as its own; without one, exact up to AUTO_EXACT_INPUTS inputs and budgeted by AUTO_SEARCH_BUDGET beyond),
    and brute force when its proof length fits that budget. `_tightest` skips any whose
    estimated work or memory is over --max-work or --max-memory before building it."""
    grid = subcubic_variants({}, full_grid=budget != float("inf"), max_rank=cfg.d_head, max_vocab=cfg.d_vocab)
    candidates = [("subcubic", opts) for opts in grid]
    candidates += [("cubic", {"direct_path": path}) for path in CUBIC_DIRECT_PATH]
    if budget != float("inf"):
        candidates.append(("branch-and-bound", {"budget": budget}))
    elif cfg.d_vocab ** cfg.n_ctx <= AUTO_EXACT_INPUTS:  # the exact tree: shorter than brute force, seconds
        candidates.append(("branch-and-bound", {}))
    else:  # an exact search takes minutes here: a bounded one (about 5 CPU-s on Max-5/64 and 10/64)
        candidates.append(("branch-and-bound", {"budget": AUTO_SEARCH_BUDGET}))
    if brute_force_length(cfg) <= budget:
        candidates.append(("brute-force", {}))
    return candidates


def _auto(cfg, params, options, device, progress, resources: Budget | None = None):
    """The tightest certificate whose proof length is within options['budget'] (default: no limit), among
    `auto_candidates` whose estimated cost fits the work and memory budget (default: checker.budget's defaults);
    at equal bounds, the shortest proof."""
    budget = float(options.pop("budget", "inf"))
    if options:
        raise ValueError(f"unknown auto options: {sorted(options)} (known: budget)")
    resources = resources or Budget()
    best = _tightest(cfg, params, auto_candidates(cfg, budget), budget, device, progress, resources)
    if best is None:
        raise OverBudget(f"over budget: no strategy fits (proof length <= {budget:g}, estimated work <= "
                         f"{format_count(resources.max_work)} operations, memory <= "
                         f"{format_size(resources.max_memory)}; "
                         f"raise them with --budget, --max-work N, --max-memory SIZE)")
    return best


def _tightest(cfg, params, candidates, budget, device, progress, resources: Budget | None = None):
    """Build every (strategy, options) candidate whose estimated cost fits `resources` (the others are skipped
    before they are built); the highest bound within the proof-length budget, then the shortest. Progress (one
    line per candidate) goes to stderr when `progress` is set and stderr is a terminal."""
    from checker.maxofk import table_ops

    start = time.perf_counter()
    best = None
    progress_lines = progress and sys.stderr.isatty()
    if table_ops(cfg, with_eqke=False) > budget:  # every candidate's proof length counts the tables' products
        return None
    settled = False  # a branch-and-bound tree that gives up no input: brute force cannot do better
    for i, (strategy, opts) in enumerate(candidates):
        name = variant_name(strategy, opts)
        if strategy == "brute-force" and settled:
            if progress_lines:
                print(f"auto {i + 1}/{len(candidates)}: {name}: skipped, the branch-and-bound tree gives up no "
                      f"input with a shorter proof", file=sys.stderr, flush=True)
            continue
        if resources is not None:
            work, memory = estimate_strategy(cfg, strategy, opts)
            if work > resources.max_work or memory > resources.max_memory:
                if progress_lines:
                    print(f"auto {i + 1}/{len(candidates)}: {name}: skipped, estimated {format_count(work)} "
                          f"operations, {format_size(memory)} (over the budget)", file=sys.stderr, flush=True)
                continue
        if progress_lines:
            print(f"auto {i + 1}/{len(candidates)}: {name} ...", file=sys.stderr, flush=True)
        try:
            cert, info = _build(cfg, params, strategy, dict(opts), device, progress, resources)
        except OverBudget as exc:  # the witness built turned out over the budget
            if progress_lines:
                print(f"auto {i + 1}/{len(candidates)}: {name}: skipped, {exc}", file=sys.stderr, flush=True)
            continue
        key = (cert.claim, -info["verdict"].result.proof_length)
        if -key[1] <= budget and (best is None or key > best[0]):
            best = (key, cert, info)
        if strategy == "branch-and-bound" and _settles_brute_force(cfg, info["verdict"].result):
            settled = True
    if best is None:
        return None
    _, cert, info = best
    info["seconds"] = time.perf_counter() - start  # the whole search, every candidate included
    cert.meta["generation_seconds"] = f"{info['seconds']:.2f}"
    cert.meta["search"] = f"tightest of {len(candidates)} candidates"
    return cert, info


def _settles_brute_force(cfg: ModelConfig, result) -> bool:
    """Whether a checked branch-and-bound result makes brute force pointless: no input given up, so its bound
    counts every input that brute force's evaluator could (certified leaves are all correct, enumerated ones use
    that evaluator), with a proof no longer than brute force's (which is at least brute_force_length)."""
    return result.details.get("inputs_given_up") == 0 and result.proof_length <= brute_force_length(cfg)


SUBCUBIC_AXES = {"direct_path": DIRECT_PATH, "attention": ATTENTION, "attention_error": ATTENTION_ERROR,
                 "near_max": NEAR_MAX}
LOW_RANKS = (1, 2, 3)  # the ranks searched when attention=low-rank and no rank is pinned
REFINE_TOP_OUTPUTS = 1  # subcubic near_max=refine: outputs checked one by one per refined token (the default)


def subcubic_variants(options: dict, full_grid: bool = False, max_rank: int = 64,
                      max_vocab: int = 1 << 30) -> list[dict]:
    """Every subcubic option combination that agrees with the pinned `options`.

    Unpinned axes: by default the search covers both direct paths with exact attention and refinement
    (the tightest choices; low-rank attention and drop only shorten the proof); with full_grid, every
    combination: 2 direct paths x (exact + 3 ranks x 2 error bounds) x 2 near-max modes = 28 variants.
    Ranks above max_rank (the model's d_head) are left out of the search; a pinned one is an error. With refine,
    `top_outputs` (default REFINE_TOP_OUTPUTS, at most max_vocab - 2: the model's d_vocab) is the number of
    outputs each refined token is checked at one by one."""
    options = dict(options)
    for name, allowed in SUBCUBIC_AXES.items():
        if name in options and options[name] not in allowed:
            raise ValueError(f"subcubic {name} must be one of {', '.join(allowed)}, got {options[name]!r}")
    ranks = tuple(r for r in LOW_RANKS if r <= max_rank)
    pinned_rank = "rank" in options
    if pinned_rank:
        try:
            ranks = (int(options.pop("rank")),)
        except ValueError:
            raise ValueError("subcubic rank must be an integer") from None
        if not 1 <= ranks[0] <= max_rank:
            raise ValueError(f"subcubic rank must be in 1..{max_rank} (at most d_head)")
        options.setdefault("attention", "low-rank")
    if "attention_error" in options:
        options.setdefault("attention", "low-rank")
    if "top_outputs" in options and options.get("near_max") == "drop":
        raise ValueError("subcubic top_outputs applies to near_max=refine only")
    top = top_outputs_option(options, REFINE_TOP_OUTPUTS, "subcubic")
    unknown = set(options) - set(SUBCUBIC_AXES)
    if unknown:
        raise ValueError(f"unknown subcubic options: {sorted(unknown)} (known: {', '.join(SUBCUBIC_AXES)}, rank, "
                         f"top_outputs)")
    if options.get("attention") == "exact" and ("attention_error" in options or pinned_rank):
        raise ValueError("attention_error and rank apply to attention=low-rank only")
    pick = (lambda name, default: (options[name],) if name in options
            else SUBCUBIC_AXES[name] if full_grid else default)
    attentions = []
    if "exact" in pick("attention", ("exact",)):
        attentions.append({"attention": "exact"})
    if "low-rank" in pick("attention", ("exact",)):
        attentions += [{"attention": "low-rank", "rank": r, "attention_error": e}
                       for r in ranks for e in pick("attention_error", ("entrywise",))]
    return [{"direct_path": d, **a, "near_max": n, **({"top_outputs": min(top, max(0, max_vocab - 2))}
                                                        if n == "refine" else {})}
            for d in pick("direct_path", DIRECT_PATH) for a in attentions for n in pick("near_max", ("refine",))]


def _search(cfg, params, strategy, options, device, progress):
    if strategy == "brute-force":
        if options:
            raise ValueError("brute-force takes no options")
        return "brute-force", 1, {}
    if strategy == "cubic":
        return "cubic", 1, cubic_witness(cfg, options)
    if strategy == "branch-and-bound":
        return "branch-and-bound", 1, branch_and_bound_witness(cfg, params, options, progress, device)
    if strategy == "subcubic":
        (variant,) = subcubic_variants(options, max_rank=cfg.d_head, max_vocab=cfg.d_vocab)  # build_certificate expanded the search
        return "subcubic", 2, subcubic_witness(cfg, params, variant)
    raise ValueError(f"unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")


def branch_and_bound_witness(cfg: ModelConfig, params: dict[str, np.ndarray], options: dict, progress: bool,
                             device: str | None = None) -> dict:
    """The case tree of generator/branch_and_bound.py for options['budget'] (proof length; default none), its
    search on `device` (default: CUDA when present)."""
    import flint

    from checker.maxofk import build_tables
    from generator.branch_and_bound import search

    budget = options.pop("budget", None)
    if options:
        raise ValueError(f"unknown branch-and-bound options: {sorted(options)} (known: budget)")
    old = flint.ctx.prec
    flint.ctx.prec = 128
    try:
        witness, _ = search(build_tables(cfg, params), None if budget is None else float(budget), progress, device)
    finally:
        flint.ctx.prec = old
    return witness


def subcubic_witness(cfg: ModelConfig, params: dict[str, np.ndarray], variant: dict) -> dict:
    """The witness of one subcubic variant: its options, low-rank factors if any, and the searched gaps."""
    import flint

    from checker.maxofk import build_tables
    from checker.schemas.subcubic import LowRankScores, SubcubicBounds, parse_factors

    old = flint.ctx.prec
    flint.ctx.prec = 128
    try:
        tables = build_tables(cfg, params)
        witness = {"direct_path": variant["direct_path"], "attention": variant["attention"]}
        scores = None
        if variant["attention"] == "low-rank":
            witness["attention_error"] = variant["attention_error"]
            factors = low_rank_factors(tables, variant["rank"])
            witness.update(factors)
            scores = LowRankScores(tables, parse_factors(dict(factors), cfg.d_vocab, cfg.d_head),
                                   variant["attention_error"])
        bounds = SubcubicBounds(tables, variant["direct_path"], scores)
    finally:
        flint.ctx.prec = old
    witness["near_max"] = variant["near_max"]
    if variant["near_max"] == "refine" and variant["top_outputs"]:  # absent means 0 (the entry is optional)
        witness["top_outputs"] = variant["top_outputs"]
    witness["gaps"] = search_gaps(bounds)
    return witness


def low_rank_factors(tables, rank: int) -> dict[str, list[list[Fraction]]]:
    """U, X, W, Y with query ~ U X and key_tok ~ W Y: the top `rank` right singular vectors of each
    factor (float SVD; any values are sound, the checker bounds the exact residual), rounded to float32.
    Where the float computation fails (values beyond float range), that factor pair is zero."""
    out = {}
    pairs = ((("query_factor", "query_basis"), tables.query), (("key_factor", "key_basis"), tables.key_tok))
    for (factor_name, basis_name), exact in pairs:
        rows, cols = exact.shape
        basis, factor = np.zeros((rank, cols), np.float32), np.zeros((rows, rank), np.float32)
        with np.errstate(all="ignore"):
            try:
                mat = exact.to_float64()[0]
                svd_basis = np.linalg.svd(mat, full_matrices=False)[2][:rank].astype(np.float32)
                svd_factor = (mat @ svd_basis.astype(np.float64).T).astype(np.float32)
                if np.all(np.isfinite(svd_basis)) and np.all(np.isfinite(svd_factor)):
                    basis[: len(svd_basis)], factor[:, : len(svd_basis)] = svd_basis, svd_factor
            except (OverflowError, np.linalg.LinAlgError):
                pass
        out[factor_name] = [[Fraction(float(v)) for v in row] for row in factor]
        out[basis_name] = [[Fraction(float(v)) for v in row] for row in basis]
    return {name: out[name] for name in FACTORS}


def search_gaps(bounds) -> list[list[int]]:
    """Smallest certifiable gap per (q, m, c), by binary search (the bound is monotone in the gap).

    The smallest gap is also the best for near_max "refine": the fewer tokens are left to refine, the
    shorter the proof, and a smaller prefix bound only makes each refined token easier to certify."""
    V, K = bounds.V, bounds.K
    q, m = np.meshgrid(np.arange(V), np.arange(V), indexing="ij")
    valid = np.stack([(q <= m) & ((q == m) | (c <= K - 2)) & ((m >= 1) | (c == 0)) for c in range(K)], axis=2)
    mm = np.broadcast_to(m[:, :, None], (V, V, K))
    lo = np.ones((V, V, K), dtype=np.int64)  # invariant: gaps below lo fail
    hi = np.where(valid, np.maximum(mm, 1), 0).astype(np.int64)  # candidate; checked below
    hi[:, :, 0] = np.where(valid[:, :, 0], 1, 0)
    ok_hi = _certified(bounds, hi) & valid
    while True:
        mid = (lo + hi) // 2
        active = ok_hi & (lo < hi)
        if not active.any():
            break
        ok_mid = _certified(bounds, np.where(active, mid, hi))
        hi = np.where(active & ok_mid, mid, hi)
        lo = np.where(active & ~ok_mid, mid + 1, lo)
    gaps = np.where(ok_hi, hi, 0)
    return gaps.reshape(V * V, K).tolist()


def _certified(bounds, gaps: np.ndarray) -> np.ndarray:
    f, _, _ = bounds.case_bounds(gaps)
    return np.isfinite(f) & (f < 0)
