# kubeha: `make test` is the README's test command and what CI runs.
GO ?= go
BIN ?= kubeha

.PHONY: build test example clean

build:
	$(GO) build -o $(BIN) ./cmd/kubeha

# Unit tests, plus the ssh package against real sshd processes (needs root
# and openssh-server; .ci/run installs it).
test:
	$(GO) test -count=1 ./...

# The README's first command: validate and render the seed 001 example.
example: build
	./$(BIN) inventory validate -i examples/keepalived-haproxy.yaml
	./$(BIN) render -i examples/keepalived-haproxy.yaml -o out/keepalived-haproxy

clean:
	rm -rf $(BIN) out
