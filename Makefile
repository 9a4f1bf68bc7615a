# clos: `make demo` runs the main job, `make test` runs every test.
# Both install what they need from Debian's packages first (scripts/deps.sh).

GO       ?= go
GOFLAGS  ?= -buildvcs=false
export GOFLAGS

.PHONY: all build test check-fmt vet unit demo deps-test deps-demo fuzz bench clean

all: build

# The binaries are pure Go: without cgo the net package's resolver does not
# pull in libc, and closd on a server stays about 1.5 MiB smaller. Tests keep
# cgo, which -race needs.
build:
	CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/...

deps-test:
	scripts/deps.sh test

deps-demo:
	scripts/deps.sh demo

check-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Every test: unit, scenario, fuzz seeds, and the integration tests that run
# in network namespaces against FRR, BIRD and GoBGP (those need root; in CI,
# CI=true makes a missing privilege or tool a failure instead of a skip).
# The BFD soak runs alone after the rest: its CPU hog would shake the
# timing of other packages' tests running beside it, and they would add
# load the soak does not account for.
SOAK := ^TestSoak100At10ms$$
unit:
	$(GO) test -race -count=1 -timeout 20m -skip '$(SOAK)' ./...
	$(GO) test -race -count=1 -timeout 5m -run '$(SOAK)' ./internal/bfd

test: deps-test check-fmt vet unit

demo: deps-demo build
	scripts/demo.sh

# Longer fuzzing of every fuzz target: FUZZTIME per target (default 10m).
FUZZTIME ?= 10m
fuzz:
	scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# closd against FRR, BIRD and GoBGP on this machine, with clos bench's
# defaults (100,000 prefixes; needs root; see docs/bench.md).
.PHONY: bench-daemons
bench-daemons: build
	bin/clos bench

clean:
	rm -rf bin
