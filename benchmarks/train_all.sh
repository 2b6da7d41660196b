#!/usr/bin/env bash
# Train the shipped models (models/). Prints each model's training time.
set -euo pipefail
cd "$(dirname "$0")/.."
CERTIFY=${CERTIFY:-.venv/bin/certify}
for seed in 123 50 104 519 742; do
  "$CERTIFY" train --k 4 --d-vocab 64 --seed "$seed" --quiet -o "models/max4-v64-s$seed.safetensors"
done
"$CERTIFY" train --k 5 --d-vocab 64 --seed 123 --quiet -o models/max5-v64-s123.safetensors
"$CERTIFY" train --k 10 --d-vocab 64 --seed 123 --quiet -o models/max10-v64-s123.safetensors
"$CERTIFY" train --k 10 --d-vocab 128 --seed 123 --quiet -o models/max10-v128-s123.safetensors
"$CERTIFY" train --k 20 --d-vocab 64 --seed 123 --quiet -o models/max20-v64-s123.safetensors
