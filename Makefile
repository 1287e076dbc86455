# The two commands of the README:
#   make demo   dry run of the bundled example: prints what would be uploaded
#   make test   the whole test suite (what CI runs; also sets up the real
#               SciCat backend validator, which needs Node 20+ and npm)
# Both install what is missing first (cmake >= 3.26, the wasm32-wasip2 target,
# libcurl headers for librdkafka, the Kafka broker's jars).

SHELL := /bin/bash
SETUP = eval "$$(scripts/setup.sh)"
DEMO_FILE = $(CURDIR)/demo/out/443503/raw/demo_coda_31010.nxs

.PHONY: demo test test-strictness lint build release bench clean-demo plugins plugin-demo plugin-cases plugin-scaffold

demo:
	@echo "building (the first build compiles HDF5 and wasmtime: a few minutes)..."
	@$(SETUP) && cargo build -p scicat-ingestor -p scicat-test-kit --bin scicat-ingestor --bin make-fixture
	@target/debug/make-fixture $(DEMO_FILE)
	@target/debug/scicat-ingestor -c demo/config.json --nexus-file $(DEMO_FILE) --dry-run

# The real SciCat backend's validation code (tests/backend_validator.rs runs
# every body we produce through it): setup.sh copies the backend and installs
# its npm packages into a cache folder the first time (~30 s, ~420 MB, needs
# Node 20+, npm and the npm registry), afterwards it only checks (~0.2 s). The
# shared folder is only read.
SCICAT_BACKEND_VALIDATOR ?= $(abspath $(CURDIR)/../shared/scicat-backend-validator)
SCICAT_VALIDATOR_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/scicat-backend-validator
export SCICAT_BACKEND_VALIDATOR SCICAT_VALIDATOR_DIR
VALIDATOR_SETUP = bash $(SCICAT_BACKEND_VALIDATOR)/setup.sh $(SCICAT_VALIDATOR_DIR) </dev/null

# One Kafka broker for all online tests (they start their own without it).
# The tests use the plugin components `make plugins` builds; they do not build
# them themselves. `plugin-scaffold` checks `plugin new` end to end first.
test: plugins plugin-scaffold
	@$(SETUP) && $(VALIDATOR_SETUP) && kdir=$$(mktemp -d) && export SCICAT_TEST_KAFKA=$$(scripts/kafka.sh start $$kdir) && \
	  { cargo test --workspace; rc=$$?; scripts/kafka.sh stop $$kdir; rm -rf $$kdir; exit $$rc; }

# The test server's verdicts against the real backend's on every property of
# both API versions with every kind of value (a minute or two).
test-strictness:
	@$(SETUP) && $(VALIDATOR_SETUP) && SCICAT_STRICTNESS_FULL=1 cargo test -p scicat-ingestor --test it backend_validator:: -- --nocapture

lint:
	@$(SETUP) && cargo fmt --all -- --check && cargo clippy --all-targets -- -D warnings

build:
	@$(SETUP) && cargo build

release:
	@$(SETUP) && cargo build --release -p scicat-ingestor -p scicat-test-kit --bins --examples

bench: release
	@scripts/bench.sh
	@scripts/bench-batch.sh
	@scripts/bench-online.sh

clean-demo:
	rm -rf demo/out

# Every plugin component, built into target/wasm32-wasip2/release/*.wasm
# (what the example schemas point at, and where the tests look for them; a
# test fails naming this target when one is missing or older than its
# sources). The one list of them: the examples, then the test plugins.
EXAMPLE_PLUGINS = array-stats instrument-select title-keywords
TEST_PLUGINS = hostile-plugin
PLUGINS = $(EXAMPLE_PLUGINS) $(TEST_PLUGINS)
PLUGIN_DEMO = $(CURDIR)/demo/out/plugins

plugins:
	@$(SETUP) && cargo build --release --target wasm32-wasip2 $(addprefix -p ,$(PLUGINS))

# A dry run of each example plugin's schema on a generated file.
plugin-demo: plugins
	@$(SETUP) && cargo build --quiet -p scicat-ingestor -p scicat-test-kit --bin scicat-ingestor --bin make-fixture
	@target/debug/make-fixture $(PLUGIN_DEMO)/443503/raw/run_31010.nxs --title "LaB6 powder_saxs_290K"
	@for p in $(EXAMPLE_PLUGINS); do \
	  echo "== $$p" >&2; \
	  target/debug/scicat-ingestor -c example-plugins/$$p/config.json --nexus-file $(PLUGIN_DEMO)/443503/raw/run_31010.nxs --dry-run || exit 1; \
	done

# The golden test case of each example plugin (scicat-ingestor test), on
# fixtures generated next to the cases.
CASE_FIXTURE = tests/fixture/443503/raw/run_31010.nxs

plugin-cases: plugins
	@$(SETUP) && cargo build --quiet -p scicat-ingestor -p scicat-test-kit --bin scicat-ingestor --bin make-fixture
	@target/debug/make-fixture example-plugins/array-stats/$(CASE_FIXTURE)
	@target/debug/make-fixture example-plugins/instrument-select/$(CASE_FIXTURE)
	@target/debug/make-fixture example-plugins/title-keywords/$(CASE_FIXTURE) --title "LaB6   powder _saxs_290K"
	@target/debug/scicat-ingestor test $(addprefix example-plugins/,$(addsuffix /tests,$(EXAMPLE_PLUGINS)))

# `plugin new` followed as a newcomer would (the README's three commands), in
# a temporary folder: the new crate's unit test, its component, its golden
# case. Inside this repository the crate depends on plugin-sdk/ by path; its
# target folder is target/scaffold (kept, so the next run is quick).
plugin-scaffold:
	@$(SETUP) && cargo build --quiet -p scicat-ingestor --bin scicat-ingestor && \
	  dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	  target/debug/scicat-ingestor plugin new scaffold-check --dir "$$dir" --sdk plugin-sdk && \
	  cp Cargo.lock "$$dir/scaffold-check/" && mkdir -p target/scaffold && \
	  ln -s $(CURDIR)/target/scaffold "$$dir/scaffold-check/target" && \
	  cd "$$dir/scaffold-check" && \
	  cargo test --quiet && \
	  cargo build --quiet --target wasm32-wasip2 --release && \
	  $(CURDIR)/target/debug/scicat-ingestor test tests/
