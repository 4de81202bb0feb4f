// Command scale measures kubeha's fan-out at cluster scale against the tools
// operators would otherwise use, in one run on one machine
// (docs/performance.md):
//
//	go run ./e2e/bench/scale -masters 3 -workers 200 -forks 50 -rounds 3
//
// It starts masters+workers Tier-1 hosts (e2e/nshosts: a network namespace,
// a private mount namespace and a real OpenSSH sshd each) and, per round,
// from the same starting state on every host:
//   - kubeha: `kubeha phase host-prep` (gathers every host's facts with the
//     facts phase's script, then prepares each host) and `kubeha render`;
//   - kubeha no-op: the same host-prep again, which probes every host and
//     finds nothing to do;
//   - bare: a golang.org/x/crypto/ssh loop, connect and run `true` on every
//     host (the floor the no-op rerun is compared with);
//   - parallel-ssh -p forks running the facts script, then host-prep's work
//     as one script (phases.HostPrepScript);
//   - Ansible -f forks: `-m setup` (fact gathering), then the same two
//     scripts through `-m command`, with pipelining on as kubespray sets it.
//
// The facts phase's verdict is not part of the measure: Tier-1 hosts share
// the VM's PID 1, which is not systemd. Each tool runs in its own process, so
// the peak RSS reported is its own (Ansible's is its largest process).
// Needs root, openssh-server, pssh and ansible-core.
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
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/ssh"
)

func main() {
	child := flag.String("bare", "", "internal: run the bare loop over this hosts file and print its wall time in ns")
	forks := flag.Int("forks", 50, "hosts at once, for every tool")
	masters := flag.Int("masters", 3, "masters")
	workers := flag.Int("workers", 200, "workers")
	rounds := flag.Int("rounds", 3, "rounds; medians are reported")
	skipAnsible := flag.Bool("skip-ansible", false, "leave Ansible out (it takes minutes per round)")
	flag.BoolVar(&hold, "hold", false, "start the hosts, print the inventory's path and wait for Ctrl-C (to explore by hand)")
	flag.Parse()
	if *child != "" {
		d, err := bareLoop(*child, *forks)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(d.Nanoseconds())
		return
	}
	if err := bench(*masters, *workers, *forks, *rounds, *skipAnsible); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

var hold bool

type measurement struct {
	wall   []float64
	rssMB  []float64
	detail string
}

func bench(nm, nw, forks, rounds int, skipAnsible bool) error {
	if err := sshd.Available(); err != nil {
		return err
	}
	need := []string{"parallel-ssh"}
	if !skipAnsible {
		need = append(need, "ansible")
	}
	for _, tool := range need {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s missing: apt-get install pssh ansible-core", tool)
		}
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
	for i := 1; i <= nm; i++ {
		names = append(names, fmt.Sprintf("m%d", i))
	}
	for i := 1; i <= nw; i++ {
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
	write := func(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
	if err := errors.Join(write(knownHosts, kh.String()), write(hostsFile, hostList.String()),
		write(ansibleFile, ansibleInv.String()), write(invFile, inventoryYAML(hosts, nm, key.Path, knownHosts))); err != nil {
		return err
	}
	cl, _, err := inventory.Load(invFile)
	if err != nil {
		return fmt.Errorf("the generated inventory: %w", err)
	}
	if hold {
		fmt.Fprintf(os.Stderr, "inventory %s; kubeha %s; Ctrl-C stops the hosts\n", invFile, kubeha)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		return nil
	}
	factsCmd := "KH_ADDR=$(hostname -i)\n" + phases.FactsScript
	prepCmd := prepForAll(cl)

	sshOpts := fmt.Sprintf("-F /dev/null -i %s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes", key.Path, knownHosts)
	ansibleEnv := append(os.Environ(),
		"ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PIPELINING=True", "ANSIBLE_FORKS="+strconv.Itoa(forks),
		"ANSIBLE_SSH_ARGS=-o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile="+knownHosts,
		"ANSIBLE_PRIVATE_KEY_FILE="+key.Path, "ANSIBLE_REMOTE_USER=root", "ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3",
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(dir, "ansible-tmp"), "ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(dir, "cp"),
		"ANSIBLE_NOCOLOR=1", "ANSIBLE_LOAD_CALLBACK_PLUGINS=0", "ANSIBLE_STDOUT_CALLBACK=minimal")

	results := map[string]*measurement{}
	record := func(name string, d time.Duration, ps *os.ProcessState) {
		m := results[name]
		if m == nil {
			m = &measurement{}
			results[name] = m
		}
		m.wall = append(m.wall, d.Seconds())
		line := fmt.Sprintf("  %-24s %7.2fs", name, d.Seconds())
		if ps != nil {
			rss := float64(ps.SysUsage().(*syscall.Rusage).Maxrss) / 1024
			m.rssMB = append(m.rssMB, rss)
			line += fmt.Sprintf("  peak RSS %.1f MB", rss)
		}
		fmt.Fprintln(os.Stderr, line)
	}
	// run times one command; steps measured together add their walls and
	// keep the largest RSS.
	run := func(env []string, name string, args ...string) (time.Duration, *os.ProcessState, string, error) {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			return d, cmd.ProcessState, string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args[:min(3, len(args))], " "), err, benchutil.Tail(string(out), 12))
		}
		return d, cmd.ProcessState, string(out), nil
	}
	type step struct {
		env  []string
		name string
		args []string
	}
	measure := func(label string, steps ...step) error {
		var total time.Duration
		var peak *os.ProcessState
		for _, s := range steps {
			d, ps, _, err := run(s.env, s.name, s.args...)
			if err != nil {
				return fmt.Errorf("%s: %w", label, err)
			}
			total += d
			if peak == nil || ps.SysUsage().(*syscall.Rusage).Maxrss > peak.SysUsage().(*syscall.Rusage).Maxrss {
				peak = ps
			}
		}
		record(label, total, peak)
		return nil
	}
	reset := func() error { return resetHosts(hosts) }
	env := os.Environ()
	stateDir := filepath.Join(dir, "state")
	khArgs := func(args ...string) []string {
		return append(args, "-i", invFile, "--state-dir", stateDir, "--concurrency", strconv.Itoa(forks), "--output", "plain")
	}
	pssh := func(script string) step {
		return step{env, "parallel-ssh", []string{"-p", strconv.Itoa(forks), "-t", "0", "-h", hostsFile, "-l", "root", "-x", sshOpts, script}}
	}
	ansible := func(args ...string) step {
		return step{ansibleEnv, "ansible", append([]string{"all", "-i", ansibleFile, "-f", strconv.Itoa(forks), "-o"}, args...)}
	}
	self, _ := os.Executable()

	for r := 1; r <= rounds; r++ {
		fmt.Fprintf(os.Stderr, "round %d/%d\n", r, rounds)
		os.RemoveAll(stateDir)
		if err := reset(); err != nil {
			return err
		}
		if err := measure("kubeha host-prep+render",
			step{env, kubeha, khArgs("phase", "host-prep")},
			step{env, kubeha, []string{"render", "-i", invFile, "-o", filepath.Join(dir, "rendered")}}); err != nil {
			return err
		}
		if err := checkPrepared(hosts, cl); err != nil {
			return fmt.Errorf("after kubeha: %w", err)
		}
		d, ps, out, err := run(env, kubeha, khArgs("phase", "host-prep")...)
		if err != nil {
			return fmt.Errorf("kubeha no-op rerun: %w", err)
		}
		if !strings.Contains(out, "skipped") {
			return fmt.Errorf("kubeha no-op rerun did not skip host-prep:\n%s", benchutil.Tail(out, 12))
		}
		record("kubeha no-op rerun", d, ps)

		// Timed from outside like kubeha: process start and key loading
		// included on both sides.
		d, ps, _, err = run(env, self, "-bare", hostsFile+","+knownHosts+","+key.Path, "-forks", strconv.Itoa(forks))
		if err != nil {
			return fmt.Errorf("bare loop: %w", err)
		}
		record("bare connect+true", d, ps)

		if err := reset(); err != nil {
			return err
		}
		if err := measure(fmt.Sprintf("pssh -p %d", forks), pssh(factsCmd), pssh(prepCmd)); err != nil {
			return err
		}
		if err := checkPrepared(hosts, cl); err != nil {
			return fmt.Errorf("after pssh: %w", err)
		}
		if skipAnsible {
			continue
		}
		if err := reset(); err != nil {
			return err
		}
		os.RemoveAll(filepath.Join(dir, "cp"))
		if err := measure(fmt.Sprintf("ansible -f %d", forks),
			ansible("-m", "setup"),
			ansible("-m", "command", "-a", "sh -c "+ssh.Quote(factsCmd)),
			ansible("-m", "command", "-a", "sh -c "+ssh.Quote(prepCmd))); err != nil {
			return err
		}
		if err := checkPrepared(hosts, cl); err != nil {
			return fmt.Errorf("after ansible: %w", err)
		}
	}

	med := func(name string) float64 {
		if m := results[name]; m != nil {
			return benchutil.Median(m.wall)
		}
		return 0
	}
	fmt.Printf("\n%d masters + %d workers (Tier-1 hosts, real sshd), %d at once, %d rounds, medians (%s)\n\n", nm, nw, forks, rounds, time.Now().UTC().Format("2006-01-02"))
	fmt.Println("| measurement | wall time | peak RSS |")
	fmt.Println("|---|---|---|")
	order := []string{"kubeha host-prep+render", "kubeha no-op rerun", "bare connect+true", fmt.Sprintf("pssh -p %d", forks), fmt.Sprintf("ansible -f %d", forks)}
	for _, name := range order {
		m := results[name]
		if m == nil {
			continue
		}
		rss := "—"
		if len(m.rssMB) > 0 {
			rss = fmt.Sprintf("%.1f MB", benchutil.Median(m.rssMB))
		}
		fmt.Printf("| %s | %.2f s | %s |\n", name, benchutil.Median(m.wall), rss)
	}
	k := med("kubeha host-prep+render")
	fmt.Printf("\nkubeha vs pssh: %.2fx faster (target ≥ 1.5x)", med(order[3])/k)
	if !skipAnsible {
		fmt.Printf("; vs Ansible: %.1fx faster (target ≥ 10x)", med(order[4])/k)
	}
	fmt.Printf("; no-op rerun / bare connect+true: %.2f (target ≤ 1.5); kubeha peak RSS %.1f MB (target < 150 MB)\n",
		med(order[1])/med(order[2]), benchutil.Median(results[order[0]].rssMB))
	return nil
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
  loadBalancer: {mode: keepalived-haproxy, placement: masters, vip: 10.214.0.250, virtualRouterID: 77}
  network: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/12, kubeProxyMode: iptables}
  cni: {plugin: bridge}
  hosts:
`, keyPath, knownHosts)
	for i, h := range hosts {
		role := "worker"
		if i < masters {
			role = "master"
		}
		fmt.Fprintf(&b, "  - {name: %s, address: %s, role: %s}\n", h.Name, h.IP, role)
	}
	return b.String()
}

// prepForAll is host-prep's work as one script for every host, choosing
// each host's part by its hostname, so tools that run one command everywhere
// do what kubeha does.
func prepForAll(c *inventory.Cluster) string {
	var b strings.Builder
	b.WriteString("case \"$(hostname)\" in\n")
	var workers []inventory.Host
	for _, h := range c.Spec.Hosts {
		if h.Role == inventory.RoleMaster {
			fmt.Fprintf(&b, "%s)\n%s;;\n", h.Name, phases.HostPrepScript(c, h, inventory.ProxyModeIPTables))
		} else {
			workers = append(workers, h)
		}
	}
	// Workers' scripts differ only in nothing: one is every worker's.
	fmt.Fprintf(&b, "*)\n%s;;\nesac\n", phases.HostPrepScript(c, workers[0], inventory.ProxyModeIPTables))
	return b.String()
}

// resetHosts brings every host back to unprepared: no kubeha files, no
// /etc/hosts block, ip_nonlocal_bind off.
func resetHosts(hosts []*nshosts.Host) error {
	for _, h := range hosts {
		os.Remove(filepath.Join(h.Root, phases.SysctlPath))
		os.Remove(filepath.Join(h.Root, phases.ModulesPath))
		if err := os.WriteFile(filepath.Join(h.Root, "hosts"), []byte("127.0.0.1 localhost\n"+h.IP+" "+h.Name+"\n"), 0o644); err != nil {
			return err
		}
		if _, err := h.Exec(context.Background(), "sysctl", "-qw", "net.ipv4.ip_nonlocal_bind=0"); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
	}
	return nil
}

// checkPrepared proves a tool did the work: every host has both files and
// the endpoint name in /etc/hosts, and masters have ip_nonlocal_bind on.
func checkPrepared(hosts []*nshosts.Host, c *inventory.Cluster) error {
	for i, h := range hosts {
		for _, p := range []string{phases.SysctlPath, phases.ModulesPath} {
			if _, err := os.Stat(filepath.Join(h.Root, p)); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
		}
		b, err := os.ReadFile(filepath.Join(h.Root, "hosts"))
		if err != nil || !strings.Contains(string(b), c.Spec.ControlPlaneEndpoint.Name) {
			return fmt.Errorf("%s: /etc/hosts lacks the endpoint name", h.Name)
		}
		if i < 3 && c.Spec.Hosts[i].Role == inventory.RoleMaster {
			out, err := h.Exec(context.Background(), "sysctl", "-n", "net.ipv4.ip_nonlocal_bind")
			if err != nil || strings.TrimSpace(out) != "1" {
				return fmt.Errorf("%s: ip_nonlocal_bind is %q", h.Name, strings.TrimSpace(out))
			}
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
