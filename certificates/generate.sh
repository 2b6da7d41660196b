#!/usr/bin/env bash
# How the shipped certificates were made: `bash certificates/generate.sh [subcubic|cubic|brute-force|branch-and-bound|all]`.
# Every certificate's claim is the bound the checker computes exactly; `certcheck certificates/*.cert` replays them.
set -euo pipefail
cd "$(dirname "$0")/.."
CERTIFY=${CERTIFY:-.venv/bin/certify}
what=${1:-all}
for model in models/*.safetensors; do
  name=$(basename "$model" .safetensors)
  gen() { "$CERTIFY" generate "$model" --quiet -o "certificates/$name.$1.cert" "${@:2}"; }
  if [[ $what == all || $what == subcubic ]]; then
    gen subcubic --strategy subcubic  # the tightest variant the search finds
    gen subcubic-drop --strategy subcubic --option direct_path=mean-residual --option near_max=drop
    gen subcubic-lowrank --strategy subcubic --option attention=low-rank --option rank=1 \
        --option attention_error=entrywise --option near_max=refine
  fi
  if [[ $what == all || $what == cubic ]]; then
    gen cubic --strategy cubic
    gen cubic-separate --strategy cubic --option direct_path=separate
    gen cubic-top-outputs --strategy cubic --option direct_path=top-outputs
    if [[ $name != max10-v128-* ]]; then  # 78 s to check: not shipped, to keep CI short
      gen cubic-per-output --strategy cubic --option direct_path=per-output
    fi
  fi
  if [[ ($what == all || $what == brute-force) && $name == max4-* ]]; then
    gen brute-force --strategy brute-force
  fi
  if [[ ($what == all || $what == branch-and-bound) && $name == max4-* ]]; then
    gen branch-and-bound --strategy branch-and-bound  # the exact accuracy (the shipped files were written by
    # benchmarks/bench_branch_and_bound.py, which runs the same search and claims the same checked bound)
  fi
  if [[ ($what == all || $what == branch-and-bound) && ($name == max10-v64-* || $name == max20-v64-*) ]]; then
    gen branch-and-bound --strategy branch-and-bound --budget 1e10  # 2.8 and 2.0 MB, 5 and 4 CPU-s to check
  fi
done
# Not shipped (a minute or more to check, or over 2 MB): branch-and-bound for Max-of-5 and Max-of-10/128, made with
#   certify generate models/max5-v64-s123.safetensors --strategy branch-and-bound -o max5.bnb.cert   # exact, 3.3 MB
#   certify generate models/max10-v128-s123.safetensors --strategy branch-and-bound --budget 1e10 -o max10-128.bnb.cert
# or all at once, with the baselines and the report's figures:
#   nice python benchmarks/bench_branch_and_bound.py --json docs/report/branch_and_bound.json
