# casemgr — see README.md. `make run` serves, `make test` checks everything.
BUILD    ?= build
SAN      ?=
PKGS     := libmicrohttpd jansson sqlite3 libcrypto libpq liblz4
CC       ?= cc

WARN     := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wvla -Wformat=2 -Wundef
ifeq ($(SAN),)
OPT      ?= -O2 -g
HARDEN   := -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fPIE
LDHARDEN := -pie -Wl,-z,relro,-z,now
else
OPT      ?= -O1 -g -fno-omit-frame-pointer
HARDEN   := -fsanitize=$(SAN) -fno-sanitize-recover=undefined
LDHARDEN := -fsanitize=$(SAN)
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CPPFLAGS += -D_GNU_SOURCE -Isrc
CFLAGS   += -std=c17 $(WARN) $(OPT) $(HARDEN) $(PKG_CFLAGS) -MMD -MP
LDLIBS   += $(PKG_LIBS) -lpthread -lm
# The server and the seeding tool allocate with TCMalloc (gperftools' minimal build): the update
# path's JSON work makes hundreds of small allocations a request, and glibc's malloc spent ~20 %
# of the server's CPU on them (malloc_consolidate alone 6 %); see README, performance. jemalloc
# was as fast but crashed inside SQLite under libfiu's allocation faults (43-sqlite-faults).
# Sanitizer builds keep the allocator their runtime brings.
ifeq ($(SAN),)
ALLOC_LIBS = $(shell pkg-config --libs libtcmalloc_minimal 2>/dev/null)
endif

LIB_SRC  := $(filter-out src/main.c,$(sort $(wildcard src/*/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
UNIT_SRC := $(sort $(wildcard tests/unit/*/*.c))
UNIT_BIN := $(BUILD)/unit-tests
# the PostgreSQL-only end-to-end files run in the PostgreSQL leg only, the SQLite-only ones
# (syscall traces of the WAL, faults injected into SQLite's file I/O) in the SQLite leg only
E2E_PG_ONLY     := $(sort $(wildcard tests/e2e/*-pg-*.test.mjs))
E2E_SQLITE_ONLY := $(sort $(wildcard tests/e2e/*-sqlite-*.test.mjs))
E2E_FILES       := $(filter-out $(E2E_PG_ONLY) $(E2E_SQLITE_ONLY),$(sort $(wildcard tests/e2e/*.test.mjs)))

.PHONY: all deps run test unit e2e e2e-pg e2e-contract e2e-contract-asan asan-run test-asan check check-static check-tsan \
        cppcheck clang-tidy gcc-analyzer clean fmt bench
all: $(BUILD)/casemgr

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libcasemgr.a: $(LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/casemgr: $(BUILD)/src/main.o $(BUILD)/libcasemgr.a
	$(CC) $(LDHARDEN) -o $@ $^ $(LDLIBS) $(ALLOC_LIBS)

$(UNIT_BIN): $(UNIT_SRC:%.c=$(BUILD)/%.o) $(BUILD)/libcasemgr.a
	$(CC) $(LDHARDEN) -o $@ $^ $(LDLIBS) -lcriterion

$(BUILD)/casemgr-seed: $(BUILD)/bench/seed.o $(BUILD)/libcasemgr.a
	$(CC) $(LDHARDEN) -o $@ $^ $(LDLIBS) $(ALLOC_LIBS)

deps:
	@scripts/install-deps

run: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p data
	@echo "casemgr: serving on http://127.0.0.1:8080 with ./data/casemgr.db. In another terminal:"
	@echo "  $(BUILD)/casemgr app create --account acc-demo --stream st-demo --name demo"
	@echo "  $(BUILD)/casemgr token --client-id CLIENT_ID --client-secret CLIENT_SECRET --sub u-agent-1"
	@echo "  then POST .../caseManagement/api/public/analytics/st-demo/createCase (README.md, Quick start)"
	$(BUILD)/casemgr serve --listen 127.0.0.1:8080 --db sqlite:./data/casemgr.db

unit: $(UNIT_BIN)
	$(UNIT_BIN) --jobs 2

e2e: $(BUILD)/casemgr
	CASEMGR_BIN=$(abspath $(BUILD)/casemgr) node --test --test-concurrency=2 $(E2E_FILES) $(E2E_SQLITE_ONLY)

# The whole suite again (but the SQLite-only files), plus the PostgreSQL-only files, against a
# private PostgreSQL 15 cluster that scripts/pg-test-cluster creates, starts, and always stops
# and deletes afterwards.
e2e-pg: $(BUILD)/casemgr
	scripts/pg-test-cluster run -- env CASEMGR_BIN=$(abspath $(BUILD)/casemgr) \
	  node --test --test-concurrency=2 $(E2E_FILES) $(E2E_PG_ONLY)

# The SQLite suite once more with every server behind a Prism proxy that validates each request
# and answer against docs/openapi.yaml (tests/e2e/lib/contract.mjs); then what it checked.
E2E_CONTRACT_STATS := $(BUILD)/e2e-contract.jsonl
E2E_CONTRACT_FILES ?= $(E2E_FILES)
e2e-contract: $(BUILD)/casemgr
	@rm -f $(E2E_CONTRACT_STATS)
	CASEMGR_E2E_PRISM=1 CASEMGR_E2E_CONTRACT_STATS=$(abspath $(E2E_CONTRACT_STATS)) \
	  CASEMGR_BIN=$(abspath $(BUILD)/casemgr) node --test --test-concurrency=2 $(E2E_CONTRACT_FILES)
	@node tests/e2e/lib/contract-report.mjs $(E2E_CONTRACT_STATS)

test: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-replay
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory e2e-contract-asan
	@$(MAKE) --no-print-directory e2e-pg
	@$(MAKE) --no-print-directory check

# The unit tests and one end-to-end leg (ASAN_LEG: e2e or e2e-contract) on an ASan+UBSan build.
# Servers write sanitizer reports to build/asan/reports/; any report fails the run (a leak shows
# only at exit, after the test saw a clean answer).
ASAN_LEG ?= e2e
asan-run: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SAN=address,undefined all build/asan/unit-tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  LSAN_OPTIONS=suppressions=$(abspath tests/static/lsan-unit.supp) build/asan/unit-tests --jobs 2
	rm -rf build/asan/reports && mkdir -p build/asan/reports
	ASAN_OPTIONS=detect_leaks=1:log_path=$(abspath build/asan/reports)/asan \
	UBSAN_OPTIONS=print_stacktrace=1:log_path=$(abspath build/asan/reports)/ubsan \
	  $(MAKE) --no-print-directory BUILD=build/asan SAN=address,undefined $(ASAN_LEG)
	@if ls build/asan/reports/* >/dev/null 2>&1; then cat build/asan/reports/*; \
	  echo "$(ASAN_LEG) under ASan+UBSan: sanitizer reports above"; exit 1; fi
	@echo "$(ASAN_LEG) under ASan+UBSan: no sanitizer reports"

# The whole SQLite suite under ASan+UBSan.
test-asan:
	@$(MAKE) --no-print-directory asan-run ASAN_LEG=e2e

# What make test runs under the sanitizers: the unit tests, and the end-to-end suite once more
# through the contract proxy (make e2e-contract) with every server an ASan+UBSan build, so one
# leg checks both the documents against docs/openapi.yaml and the server's memory.
# 41-slow-clients measures timeouts and latency in seconds, which an ASan build under a proxy
# does not keep: it runs in the e2e and e2e-pg legs.
e2e-contract-asan:
	@$(MAKE) --no-print-directory asan-run ASAN_LEG=e2e-contract \
	  E2E_CONTRACT_FILES="$(filter-out %/41-slow-clients.test.mjs,$(E2E_FILES))"

# Static analysis of src/ and the concurrency tests under ThreadSanitizer; any finding fails.
# What is not a finding is written down where it is decided: .clang-tidy (the check set, each
# exclusion with its reason), tests/static/casemgr.cfg (what cppcheck must be told about jansson
# and our code), tests/static/cppcheck.suppress and tests/static/tsan.supp (baselines, each entry
# with its reason), and `NOLINT(check): reason` comments at single places in the code.
# check runs the analysers two at a time (-j2); their results are kept per file in
# build/check/ and redone when the file, a header it includes or the configuration changes.
CHECK_DIR   := build/check
CHECK_SRC   := src/main.c $(LIB_SRC)
CHECK_FLAGS  = $(CPPFLAGS) -std=c17 $(PKG_CFLAGS)
CLANG_TIDY  ?= clang-tidy-14
TIDY_OK     := $(CHECK_SRC:%.c=$(CHECK_DIR)/tidy/%.ok)
ANALYZER_OK := $(CHECK_SRC:%.c=$(CHECK_DIR)/analyzer/%.ok)
# TSan: the files that run many requests at once, server starts and drains; the crash test
# with fewer kill -9 cycles (each restart is slower under TSan). Criterion's runner cannot run
# under TSan (its inheritable arena wants addresses TSan reserves), so the unit tests' threads
# run under it through tests/tsan/store_threads.c instead.
TSAN_E2E    := tests/e2e/07-concurrency.test.mjs tests/e2e/08-ops.test.mjs \
               tests/e2e/09-crash.test.mjs tests/e2e/15-update-concurrency.test.mjs
TSAN_CRASH_CYCLES ?= 10

check: deps
	@$(MAKE) --no-print-directory -j2 check-static
	@$(MAKE) --no-print-directory check-tsan

check-static: cppcheck clang-tidy gcc-analyzer

# one process, not -j: cppcheck's checks across files (ctunullpointer, ...) need all of them
cppcheck:
	cppcheck --error-exitcode=1 --quiet --inline-suppr --std=c11 \
	  --enable=warning,style,performance,portability \
	  --library=posix,gnu,openssl,sqlite3,tests/static/casemgr.cfg \
	  --suppressions-list=tests/static/cppcheck.suppress \
	  --template='{file}:{line}: {severity}: {message} [{id}]' $(CPPFLAGS) src

clang-tidy: $(TIDY_OK)

$(CHECK_DIR)/tidy/%.ok: %.c .clang-tidy
	@mkdir -p $(dir $@)
	@$(CC) $(CHECK_FLAGS) -MM -MP -MT $@ -MF $(@:.ok=.d) $<
	@echo "clang-tidy $<"
	@$(CLANG_TIDY) --quiet --warnings-as-errors='*' $< -- $(CHECK_FLAGS) 2>$(@:.ok=.log) \
	  || { cat $(@:.ok=.log); exit 1; }
	@touch $@

gcc-analyzer: $(ANALYZER_OK)

$(CHECK_DIR)/analyzer/%.ok: %.c
	@mkdir -p $(dir $@)
	@echo "gcc -fanalyzer $<"
	@gcc $(CHECK_FLAGS) $(WARN) -O2 -fanalyzer -c $< -o /dev/null -MMD -MP -MT $@ -MF $(@:.ok=.d)
	@touch $@

# Servers and the driver write TSan reports to build/tsan/reports/ (printed at the end, even
# when a test failed because of them); any report fails the run.
# setarch -R (no address randomisation): gcc 12's TSan runtime dies with "unexpected memory
# mapping" on kernels with vm.mmap_rnd_bits=32 (google/sanitizers#1716); used where the
# sandbox allows it (Docker's default seccomp profile does not).
TSAN_ENV = TSAN_OPTIONS="log_path=$(abspath build/tsan/reports)/tsan halt_on_error=0 \
           suppressions=$(abspath tests/static/tsan.supp)"
NO_ASLR  = $(shell setarch -R true 2>/dev/null && echo setarch -R)

check-tsan:
	@$(MAKE) --no-print-directory BUILD=build/tsan SAN=thread all build/tsan/store-threads
	rm -rf build/tsan/reports && mkdir -p build/tsan/reports
	@status=0; set -x; \
	$(TSAN_ENV) $(NO_ASLR) build/tsan/store-threads || status=1; \
	$(TSAN_ENV) CASEMGR_CRASH_CYCLES=$(TSAN_CRASH_CYCLES) CASEMGR_BIN=$(abspath build/tsan/casemgr) \
	  $(NO_ASLR) node --test --test-concurrency=1 $(TSAN_E2E) || status=1; \
	set +x; \
	if ls build/tsan/reports/* >/dev/null 2>&1; then cat build/tsan/reports/*; \
	  echo "check-tsan: ThreadSanitizer reports above"; exit 1; fi; \
	if [ $$status != 0 ]; then echo "check-tsan: a test failed"; exit 1; fi; \
	echo "check-tsan: no ThreadSanitizer reports"

$(BUILD)/store-threads: $(BUILD)/tests/tsan/store_threads.o $(BUILD)/libcasemgr.a
	$(CC) $(LDHARDEN) -o $@ $^ $(LDLIBS)

# libFuzzer harnesses (tests/fuzz/fuzz_*.c) built with clang-14 under ASan+UBSan against the
# project's sources. `make fuzz` runs each for FUZZ_SECONDS, keeping what it finds in FUZZ_WORK
# (git-ignored: new corpus entries, and crashes under artifacts/); `make fuzz-replay` runs the
# committed corpus (tests/fuzz/corpus/<harness>/) once, as a regression test.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_WORK    ?= tests/fuzz/work
FUZZ_ARGS    ?=
FUZZ_NAMES   := body jwt query http jtext
FUZZ_BUILD   := $(BUILD)/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS  := -std=c17 $(WARN) -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) \
                -fsanitize=fuzzer-no-link $(PKG_CFLAGS) -MMD -MP
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_BUILD)/fuzz_%)

$(FUZZ_BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_BUILD)/libcasemgr.a: $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/tests/fuzz/fuzz_%.o $(FUZZ_BUILD)/tests/fuzz/fixture.o \
                      $(FUZZ_BUILD)/libcasemgr.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_BUILD)/tests/fuzz/fuzz_%.o) $(FUZZ_BUILD)/tests/fuzz/fixture.o

.PHONY: fuzz fuzz-replay
fuzz: $(FUZZ_BINS)
	@for h in $(FUZZ_NAMES); do \
	  mkdir -p $(FUZZ_WORK)/$$h $(FUZZ_WORK)/artifacts/$$h || exit 1; \
	  echo "fuzz: $$h for $(FUZZ_SECONDS)s (new inputs in $(FUZZ_WORK)/$$h)"; \
	  $(FUZZ_BUILD)/fuzz_$$h -max_total_time=$(FUZZ_SECONDS) -dict=tests/fuzz/$$h.dict \
	    -artifact_prefix=$(FUZZ_WORK)/artifacts/$$h/ -print_final_stats=1 $(FUZZ_ARGS) \
	    $(FUZZ_WORK)/$$h tests/fuzz/corpus/$$h || exit 1; \
	done

fuzz-replay: $(FUZZ_BINS)
	@for h in $(FUZZ_NAMES); do \
	  log=$(FUZZ_BUILD)/replay-$$h.log; \
	  if $(FUZZ_BUILD)/fuzz_$$h -runs=0 tests/fuzz/corpus/$$h >$$log 2>&1; then \
	    echo "fuzz-replay: $$h: $$(ls tests/fuzz/corpus/$$h | wc -l) inputs ok"; \
	  else cat $$log; echo "fuzz-replay: $$h failed (log: $$log)"; exit 1; fi; \
	done

# Seeds 100,000 and 1,000,000 tasks, runs wrk against casemgr, nginx and json-server, prints
# the table and writes it to bench/results/latest.md. BENCH_DURATION, BENCH_QUERY_TASKS scale it.
bench: deps
	@$(MAKE) --no-print-directory all $(BUILD)/casemgr-seed
	BUILD=$(BUILD) bench/run

fmt:
	clang-format -i src/*.c src/*/*.c src/*/*.h tests/unit/*/*.c

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
