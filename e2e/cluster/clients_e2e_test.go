//go:build e2e

package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// workloadYAML is the test workload of the day-2 scenarios: two replicas
// of the echo server behind a NodePort Service, with a PodDisruptionBudget
// so a drain moves them one at a time, as an operator's workload would
// have. The server ignores SIGTERM (PID 1 without a handler), so a pod
// being deleted keeps answering for its grace period while the Service
// stops sending to it.
const workloadYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: default}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 5
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm: {topologyKey: kubernetes.io/hostname, labelSelector: {matchLabels: {app: echo}}}
      containers:
      - name: echo
        image: kubeha.local/echo:1
        imagePullPolicy: Never
        env:
        - name: NODE_NAME
          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
        ports: [{containerPort: 8080}]
        # Serves on for 3 s after its pod starts terminating (a drain),
        # while the endpoint's removal reaches kube-proxy on every node,
        # as a well-behaved server does: kh-echo itself exits at SIGTERM.
        lifecycle: {preStop: {sleep: {seconds: 3}}}
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: echo, namespace: default}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: echo}}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  type: NodePort
  selector: {app: echo}
  ports: [{port: 8080, targetPort: 8080, nodePort: 30080}]
`

// deployWorkload applies workloadYAML and waits until both replicas are
// available.
func (c *cluster) deployWorkload(ctx context.Context, t *testing.T) {
	t.Helper()
	f := c.dir + "/workload.yaml"
	if err := os.WriteFile(f, []byte(workloadYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := c.kubectlOut(ctx, "apply", "-f", f); err != nil {
		t.Fatalf("apply the workload: %v\n%s", err, out)
	}
	if out, err := c.kubectlOut(ctx, "rollout", "status", "deployment/echo", "--timeout=180s"); err != nil {
		t.Fatalf("the workload did not roll out: %v\n%s", err, out)
	}
	if out, err := c.kubectlOut(ctx, "create", "configmap", "probe", "--from-literal=n=0"); err != nil && !strings.Contains(out, "already exists") {
		t.Fatalf("create the probe ConfigMap: %v\n%s", err, out)
	}
	// The Service's NodePort answers once kube-proxy on each worker has
	// its rules: the clients start after that, not before.
	web := &http.Client{Timeout: 2 * time.Second}
	for _, w := range []string{"w1", "w2"} {
		deadline := time.Now().Add(90 * time.Second)
		for {
			resp, err := web.Get("http://" + c.machine(w).IP + ":30080/")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the workload does not answer through %s's NodePort 90 s after its rollout: %v", w, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

// clientFailure is one failed request of a client.
type clientFailure struct {
	At  time.Duration // since the clients started
	Err string
}

// clientReport is what each client saw: requests made and those that
// failed.
type clientReport map[string]*clientStats

type clientStats struct {
	Requests int
	Failures []clientFailure
	// Retried counts the requests answered only after the apiserver said
	// Retry-After (a 429 or 5xx with that header, as a shutting-down
	// apiserver answers) and the client asked again, as client-go does.
	Retried int
	// Longest is the longest time from a failed request's start to the
	// next success's: how long this client could not get through.
	Longest  time.Duration
	failedAt time.Duration // start of the current run of failures, or -1
}

// String is one line per client: requests, failures, and when each
// failure came (the first 20).
func (r clientReport) String() string {
	var b strings.Builder
	for _, name := range []string{"readyz", "write", "workload"} {
		s := r[name]
		if s == nil {
			continue
		}
		fmt.Fprintf(&b, "%s: %d requests, %d failed, longest outage %.2fs", name, s.Requests, len(s.Failures), s.Longest.Seconds())
		if s.Retried > 0 {
			fmt.Fprintf(&b, ", %d answered after a Retry-After", s.Retried)
		}
		for i, f := range s.Failures {
			if i == 20 {
				fmt.Fprintf(&b, " …")
				break
			}
			fmt.Fprintf(&b, "; at %.2fs: %s", f.At.Seconds(), f.Err)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// startClients runs, until stop, the clients an operator's users are:
// every 50 ms a GET of /readyz and a ConfigMap write (a merge patch)
// through the VIP, over kept-alive connections authenticated with the
// admin kubeconfig's certificate as client-go would, and a GET of the
// workload through its NodePort on the workers in turn. Each request has
// 2 s. Like client-go, the API clients ask again when an answer carries
// Retry-After (up to 3 times, waiting as told, at most 2 s), and the
// report counts those.
func (c *cluster) startClients(ctx context.Context, t *testing.T, workers []string) (stop func() clientReport) {
	t.Helper()
	api := c.adminHTTPClient(t)
	web := &http.Client{Timeout: 2 * time.Second}
	base := "https://" + vip + ":16443"
	ctx, cancel := context.WithCancel(ctx)
	start := time.Now()
	var mu sync.Mutex
	report := clientReport{"readyz": {failedAt: -1}, "write": {failedAt: -1}, "workload": {failedAt: -1}}
	record := func(name string, began time.Duration, retried bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		s := report[name]
		s.Requests++
		if retried {
			s.Retried++
		}
		switch {
		case err != nil:
			s.Failures = append(s.Failures, clientFailure{At: began, Err: err.Error()})
			if s.failedAt < 0 {
				s.failedAt = began
			}
		case s.failedAt >= 0:
			s.Longest = max(s.Longest, time.Since(start)-s.failedAt)
			s.failedAt = -1
		}
	}
	// do sends the request newReq makes; with retryAfter, an answer that
	// says Retry-After is asked again as client-go would.
	do := func(cl *http.Client, newReq func() *http.Request, retryAfter bool) (retried bool, err error) {
		for try := 0; ; try++ {
			resp, err := cl.Do(newReq())
			if err != nil {
				return retried, err
			}
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				return retried, nil
			}
			wait, werr := strconv.Atoi(resp.Header.Get("Retry-After"))
			if !retryAfter || try == 3 || werr != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500) {
				return retried, fmt.Errorf("HTTP %d: %s", resp.StatusCode, firstLine(body.String()))
			}
			retried = true
			select {
			case <-ctx.Done():
				return retried, ctx.Err()
			case <-time.After(min(time.Duration(wait)*time.Second, 2*time.Second)):
			}
		}
	}
	var wg sync.WaitGroup
	loop := func(name string, one func(i int) (bool, error)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				began := time.Since(start)
				retried, err := one(i)
				if ctx.Err() != nil {
					return // cut off by stop, not a failure
				}
				record(name, began, retried, err)
			}
		}()
	}
	loop("readyz", func(int) (bool, error) {
		return do(api, func() *http.Request {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
			return req
		}, true)
	})
	loop("write", func(i int) (bool, error) {
		body := fmt.Sprintf(`{"data":{"n":"%d"}}`, i)
		return do(api, func() *http.Request {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, base+"/api/v1/namespaces/default/configmaps/probe", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/merge-patch+json")
			return req
		}, true)
	})
	loop("workload", func(i int) (bool, error) {
		w := c.machine(workers[i%len(workers)])
		_, err := do(web, func() *http.Request {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+w.IP+":30080/", nil)
			return req
		}, false)
		if err != nil {
			err = fmt.Errorf("through %s: %w", w.Name, err)
		}
		return false, err
	})
	return func() clientReport {
		cancel()
		wg.Wait()
		for _, s := range report {
			if s.failedAt >= 0 { // still failing at the end
				s.Longest = max(s.Longest, time.Since(start)-s.failedAt)
			}
		}
		return report
	}
}

// adminHTTPClient is an HTTP client with the admin kubeconfig's client
// certificate that trusts only the cluster's CA and keeps connections
// alive, as kubectl and client-go do.
func (c *cluster) adminHTTPClient(t *testing.T) *http.Client {
	t.Helper()
	pool, cert := c.adminCredentials(t)
	return &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
		ForceAttemptHTTP2: true,
	}}
}

// adminCredentials reads the local admin kubeconfig: the cluster's CA, as
// a pool that trusts only it, and the admin's client certificate.
func (c *cluster) adminCredentials(t *testing.T) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	b, err := os.ReadFile(c.dir + "/.kubeha/e2e/admin.conf")
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Clusters []struct {
			Cluster struct {
				CA string `yaml:"certificate-authority-data"`
			}
		}
		Users []struct {
			User struct {
				Cert string `yaml:"client-certificate-data"`
				Key  string `yaml:"client-key-data"`
			}
		}
	}
	if err := yaml.Unmarshal(b, &kc); err != nil || len(kc.Clusters) == 0 || len(kc.Users) == 0 {
		t.Fatalf("admin.conf: %v", err)
	}
	dec := func(s string) []byte {
		d, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(dec(kc.Clusters[0].Cluster.CA)) {
		t.Fatal("admin.conf: no CA certificate")
	}
	cert, err := tls.X509KeyPair(dec(kc.Users[0].User.Cert), dec(kc.Users[0].User.Key))
	if err != nil {
		t.Fatal(err)
	}
	return pool, cert
}
