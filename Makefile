# buckets — plain Makefile. `make` installs missing Debian packages and builds
# into $(BUILD)/; `make test` also runs every test; `make sanitize` does the
# same under ASan+UBSan in build-san/. `make unit` builds and runs only the unit
# tests. Every entry target first runs scripts/deps.sh (the $(DEPS_STAMP) stamp)
# and then builds in a sub-make, because B3DIR (BLAKE3 C sources from
# librust-blake3-dev) is only found once the package is installed.
BUILD   ?= build
CC      ?= cc
OPT     ?= -O2
SAN     ?=
# The public library needs only PUB_PKGS; the server side adds SRV_PKGS.
PUB_PKGS := libcurl liblz4 libcjson
SRV_PKGS := libmicrohttpd sqlite3 libpq expat libcrypto
PKGS    := $(SRV_PKGS) $(PUB_PKGS)
B3DIR   := $(firstword $(wildcard /usr/share/cargo/registry/blake3-*/c))

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS))
# -fvisibility=hidden: only declarations marked BK_API (include/buckets/api.h)
# are exported from libbuckets.so (docs/architecture.md "Libraries and the
# public API"); static linking is not affected.
CFLAGS_ALL = -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE -fPIC -fvisibility=hidden \
             -Iinclude -Isrc -I$(B3DIR) $(PKG_CFLAGS) $(SAN) $(CFLAGS)
LDLIBS_ALL = $(PKG_LIBS) -lpthread -lm $(SAN)
LDLIBS_PUB = $(shell pkg-config --libs $(PUB_PKGS)) -lpthread -lm $(SAN)

# Libraries (docs/architecture.md "Libraries and the public API"):
#   libbuckets.{a,so}  public: src/core, src/client, the durable-write helper
#                      (fsutil, also used by the client) and BLAKE3; no SQLite,
#                      no libmicrohttpd. The .so exports only BK_API.
#   libbkstore.a       server side: src/store (metadata, SQL driver, blob backends)
#   libbksvc.a         server side: src/service (the storage service)
#   libbucketd.a       src/server (HTTP), libhfcli.a: src/cli (the hf commands)
# Link order: bucketd.a bksvc.a bkstore.a buckets.a (each only calls rightwards).
LIB_SRC    := $(wildcard src/core/*.c src/util/*.c src/client/*.c)
STORE_SRC  := $(wildcard src/store/*.c)
SVC_SRC    := $(wildcard src/service/*.c)
SERVER_SRC := $(filter-out src/server/main.c,$(wildcard src/server/*.c))
CLI_SRC    := $(filter-out src/cli/main.c,$(wildcard src/cli/*.c))
UNIT_SRC   := $(wildcard tests/unit/*/test_*.c)
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRC  := $(wildcard bench/*.c)
INTEG_SRC  := $(wildcard tests/integration/*.c)
B3_C       := blake3.c blake3_dispatch.c blake3_portable.c
B3_S       := blake3_sse2_x86-64_unix.S blake3_sse41_x86-64_unix.S \
              blake3_avx2_x86-64_unix.S blake3_avx512_x86-64_unix.S

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
B3_OBJ     := $(addprefix $(BUILD)/obj/blake3/,$(B3_C:.c=.o) $(B3_S:.S=.o))
B3A        := $(BUILD)/obj/blake3/libb3.a
LIB_OBJ    := $(call obj,$(LIB_SRC)) $(B3_OBJ)
STORE_OBJ  := $(call obj,$(STORE_SRC))
SVC_OBJ    := $(call obj,$(SVC_SRC))
SERVER_OBJ := $(call obj,$(SERVER_SRC))
CLI_OBJ    := $(call obj,$(CLI_SRC))

LIBA   := $(BUILD)/lib/libbuckets.a
LIBSO  := $(BUILD)/lib/libbuckets.so
SRVA   := $(BUILD)/lib/libbucketd.a
CLIA   := $(BUILD)/lib/libhfcli.a
STOREA := $(BUILD)/lib/libbkstore.a
SVCA   := $(BUILD)/lib/libbksvc.a
# What bucketd links, in order; the tests, fuzz replays and benches link ALLLIBS.
SRVLIBS := $(SRVA) $(SVCA) $(STOREA) $(LIBA)
ALLLIBS := $(SRVA) $(CLIA) $(SVCA) $(STOREA) $(LIBA)
BINS   := $(if $(wildcard src/xetsum/xetsum.c),$(BUILD)/bin/xetsum) \
          $(if $(wildcard src/server/main.c),$(BUILD)/bin/bucketd) \
          $(if $(wildcard src/cli/main.c),$(BUILD)/bin/hf)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC))
REPLAY_BIN := $(patsubst tests/fuzz/fuzz_%.c,$(BUILD)/tests/fuzz/replay_%,$(FUZZ_SRC))
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
INTEG_BIN := $(patsubst tests/integration/%.c,$(BUILD)/tests/integration/%,$(INTEG_SRC))
DEPS_STAMP := $(BUILD)/.deps-ok
# Fault-injection shim (LD_PRELOAD) and its control tool, see tests/fault/faultinject.h.
FAULT_BIN := $(BUILD)/tests/fault/libfaultinject.so $(BUILD)/tests/fault/faultctl

# Python package hfbuckets (python/) installed into .venv (see docs/python.md).
EXTRA_ALL += python

.SECONDARY:
.PHONY: all build-all unit build-unit deps test test-only sanitize fuzz bench bench-core run python clean
all: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory build-all

# The real build; entered through `all` (or test/run/sanitize) so that B3DIR is
# computed after scripts/deps.sh installed librust-blake3-dev.
build-all: $(LIBA) $(LIBSO) $(STOREA) $(SVCA) $(BINS) $(UNIT_BIN) $(REPLAY_BIN) $(BENCH_BIN) $(INTEG_BIN) $(FAULT_BIN) $(EXTRA_ALL)
build-unit: $(UNIT_BIN)
ifneq ($(filter build-all build-unit,$(MAKECMDGOALS)),)
ifeq ($(B3DIR),)
$(error BLAKE3 C sources not found under /usr/share/cargo/registry (Debian package librust-blake3-dev; run `make deps`))
endif
endif

deps: ; @scripts/deps.sh
$(DEPS_STAMP): scripts/deps.sh
	@mkdir -p $(@D) && scripts/deps.sh && touch $@

$(BUILD)/obj/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

$(BUILD)/obj/blake3/%.o: $(B3DIR)/%.c | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -std=c11 -O3 -g -fPIC -fvisibility=hidden $(SAN) -c $< -o $@
$(BUILD)/obj/blake3/%.o: $(B3DIR)/%.S | $(DEPS_STAMP)
	@mkdir -p $(@D)
	$(CC) -fPIC -c $< -o $@

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
# BLAKE3 (third-party; its assembly symbols cannot be hidden by a compiler
# flag) goes into the .so through a private archive, whose symbols
# --exclude-libs keeps out of the dynamic symbol table. -z defs: the .so must
# not need anything outside itself and PUB_PKGS (skipped under sanitizers,
# whose runtime lives in the executable).
$(B3A): $(B3_OBJ)
	rm -f $@ && ar rcs $@ $^
$(LIBSO): $(call obj,$(LIB_SRC)) $(B3A)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $(call obj,$(LIB_SRC)) $(B3A) -Wl,--exclude-libs,libb3.a \
	  $(if $(SAN),,-Wl,-z,defs) $(LDLIBS_PUB)
$(STOREA): $(STORE_OBJ) $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $(STORE_OBJ)
$(SVCA): $(SVC_OBJ) $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $(SVC_OBJ)
$(SRVA): $(SERVER_OBJ) $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $(SERVER_OBJ)
$(CLIA): $(CLI_OBJ) $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $(CLI_OBJ)

$(BUILD)/bin/xetsum: $(call obj,src/xetsum/xetsum.c) $(LIBA)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS_PUB)
$(BUILD)/bin/bucketd: $(call obj,src/server/main.c) $(SRVLIBS)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS_ALL)
$(BUILD)/bin/hf: $(call obj,src/cli/main.c) $(CLIA) $(LIBA)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS_PUB)

# Unit tests link every library: the server side, the CLI objects (minus main)
# and the public library.
$(BUILD)/tests/unit/%: $(call obj,tests/unit/%.c) $(ALLLIBS)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# Fuzz corpora replayed as plain regression tests (any compiler).
$(BUILD)/tests/fuzz/replay_%: $(call obj,tests/fuzz/fuzz_%.c) $(call obj,tests/fuzz/replay_main.c) $(ALLLIBS)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# Helper programs driven by tests/integration/*.sh (not run on their own).
$(BUILD)/tests/integration/%: $(call obj,tests/integration/%.c) $(ALLLIBS)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# Built without sanitizers: preloaded into a (possibly sanitized) bucketd.
FAULT_CFLAGS = -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE $(CFLAGS)
$(BUILD)/tests/fault/libfaultinject.so: tests/fault/faultinject.c tests/fault/faultinject.h
	@mkdir -p $(@D)
	$(CC) $(FAULT_CFLAGS) -fPIC -shared -o $@ $< -ldl
$(BUILD)/tests/fault/faultctl: tests/fault/faultctl.c tests/fault/faultinject.h
	@mkdir -p $(@D)
	$(CC) $(FAULT_CFLAGS) -o $@ $<

$(BUILD)/bench/%: $(call obj,bench/%.c) $(ALLLIBS)
	@mkdir -p $(@D)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

test: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory build-all
	@tests/run.sh $(BUILD)

# Unit tests only (no server, CLI, python venv): what tests/integration/fresh_clone.sh
# runs in a clean clone.
unit: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory build-unit
	@tests/run.sh $(BUILD) unit/

test-only: all
	@tests/run.sh $(BUILD)

sanitize: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory BUILD=build-san OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all
	@ASAN_OPTIONS=detect_leaks=1 tests/run.sh build-san

# libFuzzer targets (clang). FUZZ_SECONDS per target; new inputs land in a
# scratch corpus, the committed seed corpus is only read.
FUZZ_SECONDS ?= 60
fuzz: $(DEPS_STAMP)
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

bench-core: all
	@bench/run-core.sh $(BUILD)

bench: all
	@for s in bench/run-*.sh; do $$s $(BUILD) || exit 1; done

run: $(DEPS_STAMP)
	@$(MAKE) --no-print-directory build-all
	@scripts/run.sh $(BUILD)

python: $(LIBSO)
	@python/install-venv.sh .venv

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
