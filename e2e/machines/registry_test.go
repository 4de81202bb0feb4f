package machines

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSplitImage(t *testing.T) {
	tests := []struct {
		name, image, host, path, err string
	}{
		{name: "the suite's agnhost", image: "registry.k8s.io/e2e-test-images/agnhost:2.66.1",
			host: "registry.k8s.io", path: "e2e-test-images/agnhost:2.66.1"},
		{name: "one path component", image: "registry.k8s.io/pause:3.10.2", host: "registry.k8s.io", path: "pause:3.10.2"},
		{name: "a host with a port", image: "localhost:5000/a/b:1", host: "localhost:5000", path: "a/b:1"},
		{name: "localhost", image: "localhost/a:1", host: "localhost", path: "a:1"},
		{name: "no host at all", image: "agnhost:2.66.1", err: "no registry host"},
		{name: "a Docker Hub path", image: "e2e-test-images/agnhost:2.66.1", err: "no registry host"},
		{name: "no tag", image: "registry.k8s.io/e2e-test-images/agnhost", err: "no tag"},
		{name: "a colon before the last component only", image: "reg.io:5000/agnhost", err: "no tag"},
		{name: "an empty tag", image: "registry.k8s.io/agnhost:", err: "no tag"},
		{name: "a digest", image: "registry.k8s.io/agnhost@sha256:" + strings.Repeat("0", 64), err: "digest"},
		{name: "a tag and a digest", image: "registry.k8s.io/agnhost:1@sha256:" + strings.Repeat("0", 64), err: "digest"},
		{name: "an empty component", image: "registry.k8s.io/a//b:1", err: "empty path component"},
		{name: "nothing after the host", image: "registry.k8s.io/", err: "no tag"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, path, err := splitImage(tt.image)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("splitImage(%q) = %q, %q, %v; want an error with %q", tt.image, host, path, err, tt.err)
				}
				return
			}
			if err != nil || host != tt.host || path != tt.path {
				t.Fatalf("splitImage(%q) = %q, %q, %v; want %q, %q", tt.image, host, path, err, tt.host, tt.path)
			}
		})
	}
}

// The file Mirror writes on every machine, whole.
func TestHostsTOML(t *testing.T) {
	got := hostsTOML("https://registry.k8s.io", RegistryURL)
	want := `server = "https://registry.k8s.io"

[host."http://10.213.0.1:5000"]
  capabilities = ["pull", "resolve"]
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestRegistryConfig(t *testing.T) {
	got, err := renderRegistryConfig("0.0.0.0:5000", "/run/kh-e2e/registry/data")
	if err != nil {
		t.Fatal(err)
	}
	want := `version: "0.1"
log:
    level: info
storage:
    filesystem:
        rootdirectory: /run/kh-e2e/registry/data
http:
    addr: 0.0.0.0:5000
`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// freePort returns a TCP port on 127.0.0.1 nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// The real docker-registry with the harness's configuration, on loopback
// in this namespace (not the harness's, nor port 5000): it starts, stores
// an image under the name splitImage gives and serves its manifest as a
// pull through a mirror asks for it, and Stop ends it and removes its
// storage.
func TestServeRegistry(t *testing.T) {
	if _, err := os.Stat(registryBin); err != nil {
		t.Skipf("%s missing (apt-get install docker-registry)", registryBin)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "registry")
	logPath := filepath.Join(t.TempDir(), "registry.log")
	url := "http://127.0.0.1:" + freePort(t)
	r, err := serveRegistry(ctx, nil, dir, strings.TrimPrefix(url, "http://"), url, logPath)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			r.Stop(context.Background())
		}
	}()
	_, path, err := splitImage("registry.k8s.io/e2e-test-images/agnhost:2.66.1")
	if err != nil {
		t.Fatal(err)
	}
	repo, tag, _ := strings.Cut(path, ":")
	digest := func(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }
	do := func(method, u, ctype string, body []byte, want int) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
			req.Header.Set("Accept", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != want {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("%s %s: %s, want %d: %s", method, u, resp.Status, want, b)
		}
		return resp
	}
	// The config blob (an upload started, then finished in one PUT), then
	// the manifest under the tag, as docker push does.
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	resp := do(http.MethodPost, fmt.Sprintf("%s/v2/%s/blobs/uploads/", url, repo), "", nil, http.StatusAccepted)
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	q.Set("digest", digest(config))
	loc.RawQuery = q.Encode()
	do(http.MethodPut, loc.String(), "application/octet-stream", config, http.StatusCreated).Body.Close()
	const mt = "application/vnd.docker.distribution.manifest.v2+json"
	manifest := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":%d,"digest":%q},"layers":[]}`,
		mt, len(config), digest(config)))
	do(http.MethodPut, fmt.Sprintf("%s/v2/%s/manifests/%s", url, repo, tag), mt, manifest, http.StatusCreated).Body.Close()
	resp = do(http.MethodGet, fmt.Sprintf("%s/v2/%s/manifests/%s", url, repo, tag), mt, nil, http.StatusOK)
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Equal(got, manifest) || resp.Header.Get("Docker-Content-Digest") != digest(manifest) {
		t.Errorf("manifest %s (digest %s), want %s (%s)", got, resp.Header.Get("Docker-Content-Digest"), manifest, digest(manifest))
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "docker", "registry", "v2", "repositories", repo)); err != nil {
		t.Errorf("storage not under the registry's directory: %v", err)
	}
	pid := r.cmd.Process.Pid
	stopped = true
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("docker-registry (pid %d) runs after Stop", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s after Stop: %v", dir, err)
	}
	if registryAnswers(ctx, url) {
		t.Errorf("%s answers after Stop", url)
	}
	if log, _ := os.ReadFile(logPath); !bytes.Contains(log, []byte("/v2/"+repo+"/manifests/"+tag)) {
		t.Errorf("the registry's log has no request for the manifest:\n%s", log)
	}
}

// A second registry on a taken address fails with the first one's
// complaint, not a timeout.
func TestServeRegistryPortTaken(t *testing.T) {
	if _, err := os.Stat(registryBin); err != nil {
		t.Skipf("%s missing (apt-get install docker-registry)", registryBin)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "registry")
	_, err = serveRegistry(ctx, nil, dir, l.Addr().String(), "http://"+l.Addr().String(), filepath.Join(t.TempDir(), "registry.log"))
	if err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("got %v, want docker-registry's 'address already in use'", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s after the failed start: %v", dir, err)
	}
}
