# Two commands do everything on a fresh machine (each creates or reuses .venv, idempotently):
#   make demo   train-or-load the default model, evaluate it, generate certificates, check them, say what
#               was proved
#   make test   run the test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
MODEL ?= models/max4-v64-s123.safetensors
OUT ?= out
# The pinned CPU wheel, installed before the project so that the generator extra's range (torch>=2.1) is already
# met and pip never downloads a CUDA build. Override for a GPU, e.g. TORCH='torch==2.13.0 --index-url URL'.
TORCH ?= torch==2.13.0

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[generator,test]'
	touch $(STAMP)

DEMO_CERTS = $(OUT)/demo.subcubic.cert $(OUT)/demo.cubic.cert $(OUT)/demo.brute-force.cert

# The last step runs only when certcheck accepted every certificate (exit 0): it says in words what was proved.
demo: $(STAMP)
	@mkdir -p $(OUT)
	@test -f $(MODEL) || $(BIN)/certify train --k 4 --d-vocab 64 --seed 123 -o $(MODEL)
	$(BIN)/certify eval $(MODEL)
	$(BIN)/certify generate $(MODEL) --strategy subcubic -o $(OUT)/demo.subcubic.cert
	$(BIN)/certify generate $(MODEL) --strategy cubic -o $(OUT)/demo.cubic.cert
	$(BIN)/certify generate $(MODEL) --strategy brute-force -o $(OUT)/demo.brute-force.cert
	$(BIN)/certcheck --model $(MODEL) $(DEMO_CERTS)
	@echo
	@$(BIN)/python -m generator.report --proved $(MODEL) $(DEMO_CERTS)

test: $(STAMP)
	@$(BIN)/python -m pytest -q -n 2; status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$status

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache
