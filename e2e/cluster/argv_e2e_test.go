//go:build e2e

package cluster

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// joinSecret matches what must never be in a command line: a bootstrap
// token, kubeadm's --certificate-key flag, or `token create <token>`.
var joinSecret = regexp.MustCompile(`\b[a-z0-9]{6}\.[a-z0-9]{16}\b|--certificate-key|token create [a-z0-9]`)

// sampleArgv watches the command line of every process on this host
// until the returned stop is called: the named machines' processes, their
// pods' and kubeha's own, all in the host's /proc. stop fails the test if
// one held a join secret, or if a machine's processes were seen in too few
// rounds for that to mean anything. Reading /proc from here starts no
// process: the sampler inside each machine that it replaced forked a tr
// for every process, every round, on five machines, and took a core from
// the cluster it watched.
func (c *cluster) sampleArgv(ctx context.Context, t *testing.T, names ...string) (stop func()) {
	t.Helper()
	// A machine's processes are those in its init's PID namespace (its
	// pods' are in namespaces of their own, and are sampled too).
	pidNS := map[string]string{}
	for _, n := range names {
		pid, err := c.d.Run(ctx, "inspect", "-f", "{{.State.Pid}}", c.machine(n).Container())
		if err != nil {
			t.Fatalf("%s: its init's pid: %v", n, err)
		}
		ns, err := os.Readlink("/proc/" + strings.TrimSpace(pid) + "/ns/pid")
		if err != nil {
			t.Fatalf("%s: its PID namespace: %v", n, err)
		}
		pidNS[ns] = n
	}
	type result struct {
		rounds map[string]int // machine: rounds that read its processes
		found  []string
	}
	done := make(chan struct{})
	results := make(chan result, 1)
	go func() {
		r := result{rounds: map[string]int{}}
		seen := map[string]bool{}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				results <- r
				return
			case <-ctx.Done():
				results <- r
				return
			case <-tick.C:
			}
			entries, err := os.ReadDir("/proc")
			if err != nil {
				continue
			}
			inRound := map[string]bool{}
			for _, e := range entries {
				pid := e.Name()
				if pid[0] < '0' || pid[0] > '9' {
					continue
				}
				b, err := os.ReadFile("/proc/" + pid + "/cmdline")
				if err != nil || len(b) == 0 {
					continue // gone, or a kernel thread
				}
				if ns, err := os.Readlink("/proc/" + pid + "/ns/pid"); err == nil && pidNS[ns] != "" {
					inRound[pidNS[ns]] = true
				}
				line := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
				if joinSecret.MatchString(line) && !seen[pid+" "+line] {
					seen[pid+" "+line] = true
					r.found = append(r.found, fmt.Sprintf("pid %s: %s", pid, line))
				}
			}
			for m := range inRound {
				r.rounds[m]++
			}
		}
	}()
	return func() {
		t.Helper()
		close(done)
		r := <-results
		if len(r.found) > 0 {
			t.Errorf("a join secret in a process's command line:\n%s", strings.Join(r.found, "\n"))
		}
		for _, n := range names {
			if r.rounds[n] < 10 {
				t.Errorf("%s: command lines sampled only %d times", n, r.rounds[n])
				continue
			}
			t.Logf("%s: every command line sampled %d times while kubeha worked, no join secret", n, r.rounds[n])
		}
	}
}
