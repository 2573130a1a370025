# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# Both are idempotent and quick when nothing changed.
PY      := .venv/bin/python
BUILD   := build/py
SOURCES := $(shell find src tools python include tests/cpp tests/fuzz -type f -not -path '*/__pycache__/*' 2>/dev/null) CMakeLists.txt pyproject.toml
SAN_CXX ?= clang++
FUZZ_SECONDS ?= 30

.PHONY: setup build test test-format test-cpp test-asan test-fuzz test-python demo bench format clean

setup:
	@bash scripts/setup.sh

# The Python package, the CLI and the C++ tests come from one CMake build (scikit-build-core).
$(BUILD)/.stamp: $(SOURCES) .stamps/venv
	@echo "[build] bitsmith (C++ core, CLI, tests, Python extension)"
	@$(PY) -m pip install -q --no-build-isolation --disable-pip-version-check . \
	  -C build-dir=$(BUILD) -C cmake.define.BITSMITH_TESTS=ON
	@touch $@

.stamps/venv: deps/requirements.txt deps/apt-packages.txt scripts/setup.sh
	@bash scripts/setup.sh

build: setup $(BUILD)/.stamp

test: build test-format test-cpp test-asan test-fuzz test-python

# Every C++ file must be as clang-format writes it.
test-format: setup
	@git ls-files '*.cc' '*.h' | xargs clang-format --dry-run -Werror

test-cpp: build
	@cd $(BUILD) && ctest --output-on-failure -j2

# C++ tests again under AddressSanitizer + UndefinedBehaviorSanitizer (clang), plus the loader fuzzer.
build/asan/.stamp: $(SOURCES)
	@cmake -S . -B build/asan -G Ninja -DCMAKE_CXX_COMPILER=$(SAN_CXX) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DBITSMITH_SANITIZE=ON -DBITSMITH_FUZZ=ON > /dev/null
	@cmake --build build/asan
	@touch $@

test-asan: setup build/asan/.stamp
	@cd build/asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j2

test-fuzz: setup build/asan/.stamp
	@mkdir -p build/asan/corpus
	@cp examples/*.onnx tests/fuzz/seeds/* build/asan/corpus/ 2>/dev/null || true
	@echo "[fuzz] loader for $(FUZZ_SECONDS) s"
	@bash -o pipefail -c 'build/asan/fuzz_loader -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 \
	  -max_len=65536 -print_final_stats=1 -artifact_prefix=build/asan/ build/asan/corpus 2>&1 | tail -n 12'
	@for f in tests/fuzz/seeds/*; do build/asan/fuzz_loader "$$f" > /dev/null 2>&1 || \
	  { echo "[fuzz] regression input $$f fails"; build/asan/fuzz_loader "$$f"; exit 1; }; done

test-python: build
	@$(PY) -m pytest -q tests/python

demo: build
	@$(PY) examples/demo.py

bench: build
	@$(PY) bench/bench_reference.py
	@$(PY) bench/bench_engine.py
	@$(PY) bench/bench_codegen.py
	@$(PY) bench/bench_qat.py

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

clean:
	rm -rf build
