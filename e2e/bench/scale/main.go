// Command scale measures kubeha's fan-out at cluster scale against the tools
// operators would otherwise use, in one run on one machine
// (docs/performance.md):
//
//	go run ./e2e/bench/scale -masters 3 -workers 200 -forks 50 -rounds 3
//
// It starts masters+workers Tier-1 hosts (e2e/nshosts: a network namespace,
// a private mount namespace and a real OpenSSH sshd each). Every tool then
// does the same work on every host, forks hosts at once, from the same
// starting state: the facts script (phases.FactsScript with the host's
// address), then host-prep (the sysctl.d and modules-load.d files written,
// swap, SELinux, kernel modules, `sysctl -p`, firewalld where it runs,
// kubeha's /etc/hosts block). Per round:
//   - kubeha host-prep: `kubeha phase host-prep`: one probe command per host
//     (the facts script, the files' hashes, the /etc/hosts block), then the
//     files and the prep steps;
//   - kubeha render: `kubeha render`, every phase's files for every host
//     written to a local directory. It connects to nothing, and neither
//     pssh nor Ansible has anything like it, so it is reported on its own
//     line and left out of the ratios; host-prep + render is the scale
//     figure of issue 18 (1000 hosts against 203);
//   - kubeha no-op rerun: host-prep again, which probes every host and
//     finds nothing to do, against bare: a golang.org/x/crypto/ssh loop,
//     connect and run `true` on every host;
//   - parallel-ssh -p forks: each host's facts script, then each host's
//     host-prep script (phases.HostPrepScript: the same files from the same
//     template, the same steps), both staged on the host (hostScripts);
//   - Ansible: ansible-playbook -f forks, a playbook with gather_facts off
//     running the same two scripts through `command`, with pipelining and
//     ControlPersist on as kubespray sets them.
//
// After every tool's round every host's files are compared byte for byte
// (and by mode) with what kubeha's host-prep writes there (expectedFiles),
// and the round fails naming the tool, the host and the file that differ.
// The facts phase's verdict is not part of the measure: Tier-1 hosts share
// the VM's PID 1, which is not systemd. Each tool runs in its own process,
// so the peak RSS reported is its own (Ansible's is its largest process).
// Needs root, openssh-server, pssh and ansible-core.
//
// At 1000 hosts (-masters 3 -workers 997 -skip-ansible): nshosts gives the
// addresses and the neighbour table room; each host is its own sshd, which
// sees one connection per tool at a time, so MaxStartups is never reached;
// the bench raises its open-file limit to the hard one for every tool it
// starts (fdLimit), and kubeha, a Go program, raises its own; kubeha's
// plain output folds each host's lines into one per phase.
//
// The results go to stdout as Markdown (result.markdown). With -doc FILE
// -section NAME they also replace what stands between FILE's
// "<!-- NAME -->" and "<!-- /NAME -->" lines, after a run whose every round
// passed its checks; a run that fails leaves FILE alone. make bench-scale
// and make bench-scale-1000 write docs/performance.md's two sections so.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	xssh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/kubeha/kubeha/e2e/bench/benchutil"
	"github.com/kubeha/kubeha/e2e/nshosts"
	"github.com/kubeha/kubeha/e2e/sshd"
	"github.com/kubeha/kubeha/inventory"
)

func main() {
	child := flag.String("bare", "", "internal: run the bare loop over this hosts file and print its wall time in ns")
	var o options
	flag.IntVar(&o.forks, "forks", 50, "hosts at once, for every tool")
	flag.IntVar(&o.masters, "masters", 3, "masters")
	flag.IntVar(&o.workers, "workers", 200, "workers")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds; medians are reported")
	flag.BoolVar(&o.skipAnsible, "skip-ansible", false, "leave Ansible out (it takes minutes per round)")
	flag.BoolVar(&o.skipPSSH, "skip-pssh", false, "leave parallel-ssh out")
	flag.Float64Var(&o.baseline, "baseline", 0, "seconds of kubeha host-prep + render at 203 hosts, to report this run's against (issue 18: at 1000 hosts, at most 5x)")
	flag.StringVar(&o.doc, "doc", "", "after a successful run, write its results into this Markdown file's -section (docs/performance.md)")
	flag.StringVar(&o.section, "section", "", "with -doc, the section's name: it stands between <!-- NAME --> and <!-- /NAME --> lines")
	flag.BoolVar(&hold, "hold", false, "start the hosts, print the inventory's path and wait for Ctrl-C (to explore by hand)")
	flag.Parse()
	if *child != "" {
		d, err := bareLoop(*child, o.forks)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(d.Nanoseconds())
		return
	}
	if err := bench(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var hold bool

type options struct {
	forks, masters, workers, rounds int
	skipAnsible, skipPSSH           bool
	baseline                        float64
	doc, section                    string
}

func (o options) psshLabel() string    { return fmt.Sprintf("pssh -p %d", o.forks) }
func (o options) ansibleLabel() string { return fmt.Sprintf("ansible-playbook -f %d", o.forks) }

// measurement is one row's figures, one a round: wall time in seconds and
// peak RSS in MB, 0 where the round has none.
type measurement struct {
	wall  []float64
	rssMB []float64
}

// vip is the inventory's VIP: outside HostAddr's range at any number of
// hosts (an address of the one-/24 plan's, .250, was the 240th host's).
const vip = "10.214.0.254"

// playbook is what Ansible runs: the staged scripts, without fact
// gathering, which would be work kubeha does not do.
const playbook = `- hosts: all
  gather_facts: false
  tasks:
    - name: facts script
      command: sh ` + factsPath + `
    - name: host-prep script
      command: sh ` + prepPath + `
`

// fdLimit raises this process's open-file limit to its hard limit, which
// every tool started from here inherits, and fails when even that is
// short of what n hosts need: a stderr pipe per host's sshd here, a socket
// per host in kubeha (which also raises its own), a margin for the rest.
// Raising the hard limit needs CAP_SYS_RESOURCE, which is for whoever runs
// the bench to give (ulimit -Hn).
func fdLimit(n int) error {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return err
	}
	if need := uint64(n + 256); l.Max < need {
		return fmt.Errorf("%d hosts need %d open files, the hard limit is %d: raise it (ulimit -Hn) and run again", n, need, l.Max)
	}
	l.Cur = l.Max
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
}

func bench(o options) error {
	// The date and commit are the run's start: what was measured, even if
	// HEAD moves while it runs.
	r := result{date: time.Now().UTC().Format("2006-01-02"), options: o, measured: map[string]*measurement{}}
	commit, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	r.commit = strings.TrimSpace(string(commit))
	if o.doc != "" {
		if err != nil {
			return fmt.Errorf("git rev-parse --short HEAD, for -doc: %w", err)
		}
		if err := checkSection(o.doc, o.section); err != nil {
			return err
		}
	} else if err != nil {
		r.commit = "unknown"
	}
	if err := sshd.Available(); err != nil {
		return err
	}
	var need []string
	if !o.skipPSSH {
		need = append(need, "parallel-ssh")
	}
	if !o.skipAnsible {
		need = append(need, "ansible-playbook")
	}
	for _, tool := range need {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s missing: apt-get install pssh ansible-core", tool)
		}
	}
	if o.workers < 0 || o.masters < 1 {
		return fmt.Errorf("-masters %d -workers %d: at least one master", o.masters, o.workers)
	}
	if err := fdLimit(o.masters + o.workers); err != nil {
		return err
	}
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "kubeha-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	kubeha := filepath.Join(dir, "kubeha")
	if out, err := exec.Command("go", "build", "-o", kubeha, "./cmd/kubeha").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/kubeha (run from the repository root): %v\n%s", err, out)
	}
	key, err := sshd.NewClientKey(filepath.Join(dir, "id"), "")
	if err != nil {
		return err
	}
	var names []string
	for i := 1; i <= o.masters; i++ {
		names = append(names, fmt.Sprintf("m%d", i))
	}
	for i := 1; i <= o.workers; i++ {
		names = append(names, fmt.Sprintf("w%d", i))
	}
	start := time.Now()
	hosts, err := nshosts.Start(ctx, filepath.Join(dir, "hosts"), names, key.Public)
	if err != nil {
		return err
	}
	defer nshosts.Stop(hosts)
	fmt.Fprintf(os.Stderr, "%d Tier-1 hosts SSH-ready in %v\n", len(hosts), time.Since(start).Round(time.Millisecond))

	var kh, hostList, ansibleInv strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&kh, "%s %s", h.IP, xssh.MarshalAuthorizedKey(h.HostKey))
		fmt.Fprintf(&hostList, "%s\n", h.IP)
		fmt.Fprintf(&ansibleInv, "%s ansible_host=%s\n", h.Name, h.IP)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	hostsFile := filepath.Join(dir, "hosts.txt")
	invFile := filepath.Join(dir, "kubeha.yaml")
	ansibleFile := filepath.Join(dir, "ansible.ini")
	playbookFile := filepath.Join(dir, "host-prep.yml")
	write := func(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
	if err := errors.Join(write(knownHosts, kh.String()), write(hostsFile, hostList.String()), write(playbookFile, playbook),
		write(ansibleFile, ansibleInv.String()), write(invFile, inventoryYAML(hosts, o.masters, key.Path, knownHosts))); err != nil {
		return err
	}
	cl, _, err := inventory.Load(invFile)
	if err != nil {
		return fmt.Errorf("the generated inventory: %w", err)
	}
	want, err := expectedFiles(ctx, cl)
	if err != nil {
		return err
	}
	if err := stageScripts(hosts, hostScripts(cl)); err != nil {
		return err
	}
	if hold {
		fmt.Fprintf(os.Stderr, "inventory %s; kubeha %s; Ctrl-C stops the hosts\n", invFile, kubeha)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		return nil
	}

	sshOpts := fmt.Sprintf("-F /dev/null -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes", key.Path, knownHosts)
	ansibleEnv := append(os.Environ(),
		"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PIPELINING=True", "ANSIBLE_FORKS="+strconv.Itoa(o.forks),
		"ANSIBLE_SSH_ARGS=-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile="+knownHosts,
		"ANSIBLE_PRIVATE_KEY_FILE="+key.Path, "ANSIBLE_REMOTE_USER=root", "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "ansible-tmp"), "ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(dir, "cp"),
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_STDOUT_CALLBACK=minimal", "ANSIBLE_RETRY_FILES_ENABLED=False")

	record := func(name string, d time.Duration, rssMB float64) {
		m := r.measured[name]
		if m == nil {
			m = &measurement{}
			r.measured[name] = m
		}
		m.wall = append(m.wall, d.Seconds())
		m.rssMB = append(m.rssMB, rssMB)
		line := fmt.Sprintf("  %-28s %7.2fs", name, d.Seconds())
		if rssMB > 0 {
			line += fmt.Sprintf("  peak RSS %.1f MB", rssMB)
		}
		fmt.Fprintln(os.Stderr, line)
	}
	type step struct {
		env  []string
		name string
		args []string
	}
	// run times one command, with its peak RSS in MB.
	run := func(s step) (time.Duration, float64, string, error) {
		cmd := exec.Command(s.name, s.args...)
		cmd.Env = s.env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			return d, 0, string(out), fmt.Errorf("%s %s: %v\n%s", s.name, strings.Join(s.args[:min(3, len(s.args))], " "), err, benchutil.Tail(string(out), 12))
		}
		return d, float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024, string(out), nil
	}
	// measure runs steps one after the other, as one measurement: their
	// walls added, the largest RSS kept.
	measure := func(label string, steps ...step) (time.Duration, float64, error) {
		var total time.Duration
		var peak float64
		for _, s := range steps {
			d, rss, _, err := run(s)
			if err != nil {
				return 0, 0, fmt.Errorf("%s: %w", label, err)
			}
			total += d
			peak = max(peak, rss)
		}
		record(label, total, peak)
		return total, peak, nil
	}
	nonlocal := nonlocalBindHosts(want)
	reset := func() error { return resetHosts(hosts, nonlocal, want) }
	check := func(tool string) error { return checkPrepared(tool, hosts, nonlocal, want) }
	env := os.Environ()
	stateDir := filepath.Join(dir, "state")
	rendered := filepath.Join(dir, "rendered")
	khArgs := func(args ...string) []string {
		return append(args, "-i", invFile, "--state-dir", stateDir, "--concurrency", strconv.Itoa(o.forks), "--output", "plain")
	}
	pssh := func(script string) step {
		return step{env, "parallel-ssh", []string{"-p", strconv.Itoa(o.forks), "-t", "0", "-h", hostsFile, "-l", "root", "-x", sshOpts, "sh " + script}}
	}
	psshLabel, ansibleLabel := o.psshLabel(), o.ansibleLabel()
	self, _ := os.Executable()

	for round := 1; round <= o.rounds; round++ {
		fmt.Fprintf(os.Stderr, "round %d/%d\n", round, o.rounds)
		os.RemoveAll(stateDir)
		os.RemoveAll(rendered)
		if err := reset(); err != nil {
			return err
		}
		prepTook, prepRSS, err := measure("kubeha host-prep", step{env, kubeha, khArgs("phase", "host-prep")})
		if err != nil {
			return err
		}
		if err := check("kubeha host-prep"); err != nil {
			return err
		}
		renderTook, renderRSS, err := measure("kubeha render", step{env, kubeha, []string{"render", "-i", invFile, "-o", rendered}})
		if err != nil {
			return err
		}
		record("kubeha host-prep + render", prepTook+renderTook, max(prepRSS, renderRSS))

		d, rss, out, err := run(step{env, kubeha, khArgs("phase", "host-prep")})
		if err != nil {
			return fmt.Errorf("kubeha no-op rerun: %w", err)
		}
		if !strings.Contains(out, "skipped") {
			return fmt.Errorf("kubeha no-op rerun did not skip host-prep:\n%s", benchutil.Tail(out, 12))
		}
		record("kubeha no-op rerun", d, rss)

		// Timed from outside like kubeha: process start and key loading
		// included on both sides.
		d, rss, _, err = run(step{env, self, []string{"-bare", hostsFile + "," + knownHosts + "," + key.Path, "-forks", strconv.Itoa(o.forks)}})
		if err != nil {
			return fmt.Errorf("bare loop: %w", err)
		}
		record("bare connect+true", d, rss)

		if !o.skipPSSH {
			if err := reset(); err != nil {
				return err
			}
			if _, _, err := measure(psshLabel, pssh(factsPath), pssh(prepPath)); err != nil {
				return err
			}
			if err := check(psshLabel); err != nil {
				return err
			}
		}
		if !o.skipAnsible {
			if err := reset(); err != nil {
				return err
			}
			os.RemoveAll(filepath.Join(dir, "cp"))
			if _, _, err := measure(ansibleLabel, step{ansibleEnv, "ansible-playbook", []string{"-i", ansibleFile, "-f", strconv.Itoa(o.forks), playbookFile}}); err != nil {
				return err
			}
			if err := check(ansibleLabel); err != nil {
				return err
			}
		}
	}
	// Only a run that got here, every round checked, reaches the doc.
	return publish(os.Stdout, r)
}

// inventoryYAML is a cluster over the hosts: keepalived+haproxy on the
// masters (so masters get ip_nonlocal_bind), kube-proxy in iptables mode
// (this VM has no ip_vs).
func inventoryYAML(hosts []*nshosts.Host, masters int, keyPath, knownHosts string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: kubeha.io/v1alpha1
kind: Cluster
metadata: {name: scale}
spec:
  ssh: {user: root, keyPath: %s, knownHostsPath: %s, useAgent: false}
  controlPlaneEndpoint: {name: k8s-api.scale.internal, port: 16443}
  loadBalancer: {mode: keepalived-haproxy, placement: masters, vip: %s, virtualRouterID: 77}
  network: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/12, kubeProxyMode: iptables}
  cni: {plugin: bridge}
  hosts:
`, keyPath, knownHosts, vip)
	for i, h := range hosts {
		role := "worker"
		if i < masters {
			role = "master"
		}
		fmt.Fprintf(&b, "  - {name: %s, address: %s, role: %s}\n", h.Name, h.IP, role)
	}
	return b.String()
}

// resetHosts brings every host back to unprepared: host-prep's files gone
// (resetFiles), ip_nonlocal_bind off where host-prep turns it on.
func resetHosts(hosts []*nshosts.Host, nonlocalBind []string, want map[string][]wantFile) error {
	if err := resetFiles(hosts, want); err != nil {
		return err
	}
	for _, h := range hosts {
		if !slices.Contains(nonlocalBind, h.Name) {
			continue
		}
		if _, err := h.Exec(context.Background(), "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=0"); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	return nil
}

// checkPrepared proves tool did host-prep's work: every host's files are
// kubeha's, byte for byte (checkFiles), and the hosts whose sysctl file
// turns ip_nonlocal_bind on have it on, so the steps after the files ran.
func checkPrepared(tool string, hosts []*nshosts.Host, nonlocalBind []string, want map[string][]wantFile) error {
	if err := checkFiles(tool, hosts, want); err != nil {
		return err
	}
	for _, h := range hosts {
		if !slices.Contains(nonlocalBind, h.Name) {
			continue
		}
		out, err := h.Exec(context.Background(), "sysctl", "-n", "net.ipv4.ip_nonlocal_bind")
		if err != nil || strings.TrimSpace(out) != "1" {
			return fmt.Errorf("after %s: %s: ip_nonlocal_bind is %q, want 1 (%v)", tool, h.Name, strings.TrimSpace(out), err)
		}
	}
	return nil
}

// bareLoop connects to every host in the hosts file and runs `true`, forks
// at once: the floor for any SSH tool.
func bareLoop(arg string, forks int) (time.Duration, error) {
	parts := strings.Split(arg, ",")
	if len(parts) != 3 {
		return 0, errors.New("-bare hosts,known_hosts,key")
	}
	b, err := os.ReadFile(parts[0])
	if err != nil {
		return 0, err
	}
	addrs := strings.Fields(string(b))
	kb, err := os.ReadFile(parts[2])
	if err != nil {
		return 0, err
	}
	signer, err := xssh.ParsePrivateKey(kb)
	if err != nil {
		return 0, err
	}
	cb, err := knownhosts.New(parts[1])
	if err != nil {
		return 0, err
	}
	cfg := &xssh.ClientConfig{User: "root", Auth: []xssh.AuthMethod{xssh.PublicKeys(signer)}, HostKeyCallback: cb,
		HostKeyAlgorithms: []string{xssh.KeyAlgoED25519}, Timeout: 30 * time.Second}
	sem := make(chan struct{}, forks)
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	start := time.Now()
	for i, a := range addrs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := xssh.Dial("tcp", net.JoinHostPort(a, "22"), cfg)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			s, err := c.NewSession()
			if err != nil {
				errs[i] = err
				return
			}
			defer s.Close()
			errs[i] = s.Run("true")
		}()
	}
	wg.Wait()
	return time.Since(start), errors.Join(errs...)
}
