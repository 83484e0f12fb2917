# coldimage — see README.md. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
export GOFLAGS ?= -mod=mod
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.Version=$(VERSION)
BIN := bin/coldimage
FUZZTIME ?= 10000x
# Every parser of untrusted on-disk data has a fuzz target; make test runs each briefly.
FUZZ_TARGETS := ./disk/passthru/:FuzzParsers ./raid/:FuzzParseMD090 ./raid/:FuzzParseMD1 ./raid/:FuzzExamineOpen ./raid/:FuzzDDF \
	./raid/:FuzzIMSM ./raid/:FuzzLVM2 ./raid/:FuzzBtrfs ./raid/:FuzzZFS ./raid/:FuzzLDM \
	./raid/:FuzzRAID6Degraded ./imager/ewf/:FuzzParseSegment ./imager/ewf/:FuzzHeaderText ./disk/:FuzzPartTable ./disk/:FuzzProbe \
	./disk/:FuzzFSSpace ./disk/:FuzzAPFS

.PHONY: all help build appliance usb demo demo-host fuzz test test-unit bench deps clean

all: build ## build bin/coldimage (static, linux/amd64)

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

build: ## build bin/coldimage (static, linux/amd64)
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/coldimage

appliance: ## build build/vmlinuz (Debian's kernel) and build/initramfs.cpio.zst
	$(GO) run ./initramfs/cmd/mkappliance -out build -version $(VERSION)

usb: appliance ## build build/coldimage-usb.img, a raw disk image to dd onto a USB stick
	$(GO) run ./image-build/cmd/mkusb -appliance build -out build/coldimage-usb.img

deps: ## install what builds and tests need (Debian packages; needs root)
	./scripts/install-deps.sh

demo: build ## installs what it needs, builds the appliance, boots it in QEMU unattended on demo disks, prints the session summary
	./scripts/demo.sh

demo-host: build ## host-only demo: a demo disk image acquired, verified and recorded by bin/coldimage
	./scripts/demo-host.sh

test: build appliance ## every test (unit, root-only loop-device tests, QEMU end-to-end)
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m ./...
	COLDIMAGE_NO_DEPS=1 ./scripts/demo-host.sh >/dev/null
	$(MAKE) --no-print-directory fuzz

fuzz: ## run every fuzz target briefly (FUZZTIME=10000x executions each: a count, not a duration, so no deadline race)
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($$pkg, $(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 500x $$pkg >/tmp/coldimage-fuzz.log 2>&1 || { cat /tmp/coldimage-fuzz.log; exit 1; }; \
	done

test-unit: ## unit tests only (no QEMU, -short)
	$(GO) test -short -count=1 ./...

bench: build ## benchmarks; prints a table (BENCHMARKS.md keeps the last one)
	$(GO) run ./cmd/coldimage-bench -bin $(BIN) -write BENCHMARKS.md

clean: ## remove build outputs
	rm -rf bin build
