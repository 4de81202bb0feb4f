package wizard

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/ssh"
)

// fakeChecker stands in for SSH in the model tests; the real one is proved
// against real sshd by the tmux test in e2e/wizard and, for the contract
// that Login refuses an unknown key with ssh.UnknownHostKeyError and that
// hosts are reached as apply reaches them, by the sshChecker tests in
// cmd/kubeha. It reaches a host at its address, the host's port, else
// spec.ssh's, else 22, and logs in as the host's user and key, else
// spec.ssh's: the inventory's part of apply's resolution.
type fakeChecker struct {
	accepted  []string // fingerprints
	acceptErr error
	logins    []string // "user keyPath" of each login past the host key
	loginErr  error
	// known are the addresses whose key known_hosts holds (Accept adds
	// to it); changed those whose key known_hosts contradicts.
	known   map[string]bool
	changed map[string]bool
	dials   []string // "scan|login address:port" of every call
	// calls are the inventory and host of every call, in order.
	calls []call
}

type call struct {
	c *inventory.Cluster
	h inventory.Host
}

// target is where and as whom the fake reaches h.
func target(c *inventory.Cluster, h inventory.Host) (address string, port int, user, key string) {
	s := c.Spec.SSH
	address, port, user, key = h.Address, s.Port, s.User, s.KeyPath
	if hs := h.SSH; hs != nil {
		port, user, key = cmp.Or(hs.Port, port), cmp.Or(hs.User, user), cmp.Or(hs.KeyPath, key)
	}
	return address, cmp.Or(port, 22), user, key
}

func (f *fakeChecker) Scan(_ context.Context, c *inventory.Cluster, h inventory.Host) (ssh.HostKey, error) {
	f.calls = append(f.calls, call{c, h})
	address, port, _, _ := target(c, h)
	f.dials = append(f.dials, fmt.Sprintf("scan %s:%d", address, port))
	if address == "10.0.0.99" {
		return ssh.HostKey{}, errors.New("connect to 10.0.0.99:22: connection refused")
	}
	return ssh.HostKey{Name: h.Name, Address: fmt.Sprintf("%s:%d", address, port), Type: "ssh-ed25519", Fingerprint: "SHA256:fp-" + address}, nil
}

func (f *fakeChecker) Accept(c *inventory.Cluster, h inventory.Host, key ssh.HostKey) error {
	f.calls = append(f.calls, call{c, h})
	if f.acceptErr != nil {
		return f.acceptErr
	}
	f.accepted = append(f.accepted, key.Fingerprint)
	host, _, _ := net.SplitHostPort(key.Address)
	if f.known == nil {
		f.known = map[string]bool{}
	}
	f.known[host] = true
	return nil
}

func (f *fakeChecker) Login(_ context.Context, c *inventory.Cluster, h inventory.Host) error {
	f.calls = append(f.calls, call{c, h})
	address, port, user, key := target(c, h)
	f.dials = append(f.dials, fmt.Sprintf("login %s:%d", address, port))
	addr := fmt.Sprintf("%s:%d", address, port)
	knownHosts := c.Spec.SSH.KnownHostsPath
	switch {
	case address == "10.0.0.99":
		return errors.New("connect to 10.0.0.99:22: connection refused")
	case f.changed[address]:
		return &ssh.ChangedHostKeyError{Host: address, Address: addr, Fingerprint: "SHA256:fp-" + address, Known: "SHA256:old", KnownHostsFile: knownHosts, Line: 1}
	case !f.known[address]:
		return &ssh.UnknownHostKeyError{Host: address, Address: addr, KeyType: "ssh-ed25519", Fingerprint: "SHA256:fp-" + address, KnownHosts: knownHosts}
	}
	f.logins = append(f.logins, user+" "+key)
	return f.loginErr
}

func typeText(m Model, s string) Model {
	for _, r := range s {
		nm, _ := m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		m = nm.(Model)
	}
	return m
}

// press sends a key and runs the commands it returns, one at a time in
// order, as the program would (host checks are commands, a batch of them
// when the hosts screen is reached).
func press(m Model, k tea.KeyMsg) Model {
	nm, cmd := m.Update(k)
	m = nm.(Model)
	queue := []tea.Cmd{cmd}
	for len(queue) > 0 {
		cmd, queue = queue[0], queue[1:]
		if cmd == nil {
			continue
		}
		switch msg := cmd().(type) {
		case tea.BatchMsg:
			queue = append(queue, msg...)
		case scannedMsg, acceptedMsg, loginMsg:
			nm, cmd = m.Update(msg)
			m = nm.(Model)
			queue = append(queue, cmd)
		}
	}
	return m
}

var (
	enter = tea.KeyMsg{Type: tea.KeyEnter}
	tab   = tea.KeyMsg{Type: tea.KeyTab}
	esc   = tea.KeyMsg{Type: tea.KeyEsc}
	right = tea.KeyMsg{Type: tea.KeyRight}
	left  = tea.KeyMsg{Type: tea.KeyLeft}
	space = tea.KeyMsg{Type: tea.KeySpace, Runes: []rune(" ")}
	yes   = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("y")}
	no    = tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("n")}
)

func clear(m Model) Model {
	fs := m.visible()
	fs[m.focus].input.SetValue("")
	return m
}

// Cluster screen: a field is checked by the inventory validator as it is
// typed, and enter does not go on while it is wrong.
func TestClusterScreenValidatesInline(t *testing.T) {
	m := New(&fakeChecker{}, "x.yaml")
	m = typeText(clear(m), "Bad_Name")
	if v := m.View(); !strings.Contains(v, "metadata.name") {
		t.Fatalf("no inline error for a bad name:\n%s", v)
	}
	m = press(m, enter)
	if m.Step() != StepCluster {
		t.Fatal("enter went on past an invalid field")
	}
	m = typeText(clear(m), "prod")
	m = press(m, enter)
	if m.Step() != StepHosts {
		t.Fatalf("a valid cluster screen did not go on:\n%s", m.View())
	}
}

// Hosts screen: each host is scanned, its fingerprint shown until the
// operator accepts (y) or refuses (n) it; only then is it logged into.
func TestHostsScreenShowsFingerprintsToAccept(t *testing.T) {
	fc := &fakeChecker{}
	m := New(fc, "x.yaml")
	m = press(m, enter) // cluster defaults
	m = typeText(m, "m1")
	m = press(m, tab)
	m = typeText(m, "10.0.0.1")
	m = press(m, enter)
	if v := m.View(); !strings.Contains(v, "host key SHA256:fp-10.0.0.1") || !strings.Contains(v, "accept? [y/n]") {
		t.Fatalf("fingerprint not shown for acceptance:\n%s", v)
	}
	if len(fc.accepted) != 0 {
		t.Fatal("accepted before the operator said so")
	}
	m = press(m, enter) // not accepted yet: enter does nothing
	if m.Step() != StepHosts {
		t.Fatal("went on with a host key waiting")
	}
	m = press(m, yes)
	if v := m.View(); !strings.Contains(v, "✓ ssh ok") || len(fc.accepted) != 1 {
		t.Fatalf("after y: %v\n%s", fc.accepted, v)
	}
	// A host with its own user and key logs in with them.
	m = typeText(m, "m2")
	m = press(m, tab)
	m = typeText(m, "10.0.0.2")
	m = press(m, tab)
	m = press(m, tab)
	m = typeText(m, "admin")
	m = press(m, tab)
	m = typeText(m, "/keys/m2")
	m = press(m, enter)
	m = press(m, yes)
	if got := fc.logins[len(fc.logins)-1]; got != "admin /keys/m2" {
		t.Fatalf("m2 logged in as %q", got)
	}
	if c := m.Cluster(); c.Spec.Hosts[1].SSH == nil || c.Spec.Hosts[1].SSH.User != "admin" {
		t.Fatalf("m2's SSH settings not in the inventory: %+v", c.Spec.Hosts[1])
	}
	// A refused key removes the host; an unreachable host shows why.
	m = typeText(m, "w9")
	m = press(m, tab)
	m = typeText(m, "10.0.0.9")
	m = press(m, enter)
	m = press(m, no)
	if strings.Contains(m.View(), "w9") {
		t.Fatalf("a refused host stays:\n%s", m.View())
	}
	m = typeText(m, "w1")
	m = press(m, tab)
	m = typeText(m, "10.0.0.99")
	m = press(m, enter)
	if v := m.View(); !strings.Contains(v, "connection refused") {
		t.Fatalf("unreachable host not explained:\n%s", v)
	}
	m = press(m, enter)
	if m.Step() != StepHosts {
		t.Fatal("went on with an unreachable host")
	}
}

// addHost types a host on the hosts screen and presses enter, returning
// the scan command without running it.
func addHost(m Model, name, address string) (Model, tea.Cmd) {
	m = typeText(m, name)
	m = press(m, tab)
	m = typeText(m, address)
	nm, cmd := m.Update(enter)
	return nm.(Model), cmd
}

// update feeds msg to m.
func update(m Model, msg tea.Msg) (Model, tea.Cmd) {
	nm, cmd := m.Update(msg)
	return nm.(Model), cmd
}

// An accepted key is recorded by a command, not inside Update; until it is
// written the host waits, and keys do not record it twice.
func TestAcceptRecordsInACommand(t *testing.T) {
	fc := &fakeChecker{}
	m := press(New(fc, "x.yaml"), enter)
	m, scan := addHost(m, "m1", "10.0.0.1")
	m, _ = update(m, scan())
	m, record := update(m, yes)
	if len(fc.accepted) != 0 || record == nil {
		t.Fatalf("y wrote known_hosts inside Update (accepted %v, command %v)", fc.accepted, record != nil)
	}
	if v := m.View(); !strings.Contains(v, "recording host key SHA256:fp-10.0.0.1") {
		t.Fatalf("no sign of the key being recorded:\n%s", v)
	}
	if m2, again := update(m, yes); again != nil || strings.Contains(m2.View(), "accept?") {
		t.Fatal("y while the key is being recorded must do nothing")
	}
	msg := record()
	if _, ok := msg.(acceptedMsg); !ok || len(fc.accepted) != 1 {
		t.Fatalf("the command did not record the key: %T %v", msg, fc.accepted)
	}
	m, login := update(m, msg)
	if login == nil {
		t.Fatal("no login after the key was recorded")
	}
	m, _ = update(m, login())
	if v := m.View(); !strings.Contains(v, "✓ ssh ok") {
		t.Fatalf("after the login:\n%s", v)
	}
}

// A key known_hosts refuses to record shows why on the screen, and y tries
// again (after the operator fixed known_hosts, say).
func TestAcceptErrorShownAndRetried(t *testing.T) {
	fc := &fakeChecker{acceptErr: errors.New("m1 (10.0.0.1:22): HOST KEY CHANGED")}
	m := press(New(fc, "x.yaml"), enter)
	m, scan := addHost(m, "m1", "10.0.0.1")
	m, _ = update(m, scan())
	m = press(m, yes)
	v := m.View()
	if !strings.Contains(v, "✗ record host key: m1 (10.0.0.1:22): HOST KEY CHANGED") || !strings.Contains(v, "y tries again") {
		t.Fatalf("the refusal is not on the screen:\n%s", v)
	}
	if len(fc.logins) != 0 {
		t.Fatal("logged in with a key that was not recorded")
	}
	fc.acceptErr = nil
	m = press(m, yes)
	if v := m.View(); !strings.Contains(v, "✓ ssh ok") || strings.Contains(v, "HOST KEY CHANGED") || len(fc.accepted) != 1 {
		t.Fatalf("retry: %v\n%s", fc.accepted, v)
	}
}

// A check's answer reaches its own host even when a host before it was
// removed while the check ran.
func TestAnswersFollowTheirHost(t *testing.T) {
	fc := &fakeChecker{}
	m := press(New(fc, "x.yaml"), enter)
	m, scanA := addHost(m, "m1", "10.0.0.1")
	m, scanB := addHost(m, "m2", "10.0.0.2") // while m1 is being scanned
	m, _ = update(m, scanA())
	m = press(m, no) // refuses m1's key: m2 moves up
	m, _ = update(m, scanB())
	if v := m.View(); strings.Contains(v, "m1 ") || !strings.Contains(v, "host key SHA256:fp-10.0.0.2 — accept?") {
		t.Fatalf("m2's key not on m2:\n%s", v)
	}
	m = press(m, yes)
	if len(fc.accepted) != 1 || fc.accepted[0] != "SHA256:fp-10.0.0.2" {
		t.Fatalf("accepted %v", fc.accepted)
	}
}

// The load-balancer screen asks only what the chosen mode needs.
func TestLoadBalancerFieldsFollowTheMode(t *testing.T) {
	m := New(&fakeChecker{}, "x.yaml")
	m.step = StepLB
	m.focusField(0)
	if v := m.View(); !strings.Contains(v, "VIP") || strings.Contains(v, "SLB address") {
		t.Fatalf("keepalived-haproxy fields:\n%s", v)
	}
	m = press(m, right)
	if v := m.View(); !strings.Contains(v, "local-proxy") || strings.Contains(v, "VIP") || !strings.Contains(v, "local proxy") {
		t.Fatalf("local-proxy fields:\n%s", v)
	}
	m = press(m, right)
	if v := m.View(); !strings.Contains(v, "external") || !strings.Contains(v, "SLB address") {
		t.Fatalf("external fields:\n%s", v)
	}
	// kube-vip: the VIP and its interface; no port, which can only be
	// the apiserver's, and the screen says why.
	m = press(m, right)
	if got, want := shown(m, StepLB), []string{"endpoint name: ", "VIP: ", "VIP interface: "}; !slices.Equal(got, want) {
		t.Fatalf("kube-vip fields %q, want %q", got, want)
	}
	if v := m.View(); !strings.Contains(v, "← kube-vip →") ||
		!strings.Contains(v, "endpoint port 6443: kube-vip forwards nothing, a client of the VIP reaches its holder's apiserver") {
		t.Fatalf("kube-vip screen:\n%s", v)
	}
	m = press(m, right)
	if v := m.View(); !strings.Contains(v, "← keepalived-haproxy →") || strings.Contains(v, "kube-vip forwards") {
		t.Fatalf("after kube-vip:\n%s", v)
	}
}

// kube-vip chosen on the screen: the saved inventory validates, with the
// VIP and interface typed and the endpoint port 6443, whatever the port
// field holds from another mode; the review names them. A VIP that is a
// host's address, or an interface name the inventory refuses, keeps the
// operator on the screen with the validator's message under its field.
func TestKubeVIPSavesAValidInventory(t *testing.T) {
	tests := []struct {
		name, vip, iface string
		refused          string // the line under a field, when refused
		review           string
	}{
		{name: "VIP and interface", vip: "10.0.0.100", iface: "eth1",
			review: "  endpoint  prod-apiserver:6443 → kube-vip on the masters, VIP 10.0.0.100 on eth1"},
		{name: "the interface left to each master", vip: "10.0.0.100",
			review: "  endpoint  prod-apiserver:6443 → kube-vip on the masters, VIP 10.0.0.100"},
		{name: "a master's address as the VIP", vip: "10.0.0.2",
			refused: "    10.0.0.2 is the address of spec.hosts[1] (m2) (fix: choose an address no host has: the VIP moves between hosts)"},
		{name: "no VIP", refused: "    mode kube-vip needs a vip (fix: set a free address on the masters' subnet for the VIP)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kubeha.yaml")
			m := New(&fakeChecker{}, path)
			m = press(m, enter)
			for i, h := range [][2]string{{"m1", "10.0.0.1"}, {"m2", "10.0.0.2"}, {"m3", "10.0.0.3"}, {"w1", "10.0.0.4"}} {
				m = typeText(m, h[0])
				m = press(m, tab)
				m = typeText(m, h[1])
				if i == 3 {
					m = press(m, tab)
					m = typeText(clear(m), "worker")
				}
				m = press(m, enter)
				m = press(m, yes)
			}
			m = press(m, enter)
			// A port kube-vip cannot use, left in keepalived-haproxy's
			// field: not kube-vip's concern.
			m = fill(t, m, "endpoint port", "abc")
			m = press(m, left) // keepalived-haproxy → kube-vip
			m = typeText(focus(t, m, "VIP"), tt.vip)
			m = typeText(focus(t, m, "VIP interface"), tt.iface)
			if tt.refused != "" {
				if lines := strings.Split(m.View(), "\n"); !slices.Contains(lines, tt.refused) {
					t.Errorf("no line %q under a field:\n%s", tt.refused, m.View())
				}
				if m = press(m, enter); m.Step() != StepLB {
					t.Fatalf("enter went on:\n%s", m.View())
				}
				return
			}
			m = press(m, enter)
			m = press(m, enter) // network defaults
			if lines := strings.Split(m.View(), "\n"); m.Step() != StepReview || !slices.Contains(lines, tt.review) {
				t.Fatalf("review, want %q:\n%s", tt.review, m.View())
			}
			if m = press(m, enter); !m.Saved() {
				t.Fatalf("not saved:\n%s", m.View())
			}
			c, _, err := inventory.Load(path)
			if err != nil {
				t.Fatalf("the saved inventory does not load: %v", err)
			}
			if ps := inventory.Validate(c); len(ps) > 0 {
				t.Errorf("the saved inventory has problems: %v", ps)
			}
			lb := c.Spec.LoadBalancer
			if lb.Mode != inventory.ModeKubeVIP || lb.VIP != tt.vip || lb.Interface != tt.iface || c.Spec.ControlPlaneEndpoint.Port != inventory.APIServerPort ||
				lb.Images == nil || lb.Images.KubeVIP != inventory.DefaultKubeVIPImage {
				t.Errorf("saved %+v, endpoint %+v", lb, c.Spec.ControlPlaneEndpoint)
			}
		})
	}
}

// The SSH user's kubeconfig is a yes/no field on the cluster screen, off
// by default: y and n set it, space and ←/→ switch it, and nothing typed
// lands in it. The review says which it is, and the inventory has it.
func TestSSHUsersKubeconfigIsYesOrNo(t *testing.T) {
	const (
		label   = "SSH user's kubeconfig"
		copied  = "            each master's admin.conf copied to the SSH user's ~/.kube/config"
		kept    = "            admin.conf not copied to the SSH user's ~/.kube/config on the masters"
		hintRow = "y/n · copy each master's admin.conf to the SSH user's ~/.kube/config"
	)
	typed := func(s string) []tea.KeyMsg {
		var ks []tea.KeyMsg
		for _, r := range s {
			ks = append(ks, tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
		}
		return ks
	}
	tests := []struct {
		name string
		keys []tea.KeyMsg
		want bool
	}{
		{name: "off by default"},
		{name: "y sets it", keys: []tea.KeyMsg{yes}, want: true},
		{name: "y twice keeps it on", keys: []tea.KeyMsg{yes, yes}, want: true},
		{name: "n sets it off", keys: []tea.KeyMsg{yes, no}},
		{name: "space switches it", keys: []tea.KeyMsg{space}, want: true},
		{name: "space twice switches it back", keys: []tea.KeyMsg{space, space}},
		{name: "right switches it", keys: []tea.KeyMsg{right}, want: true},
		{name: "left after right switches it back", keys: []tea.KeyMsg{right, left}},
		{name: "typed text does not land in it", keys: typed("true"), want: false},
		{name: "typed yes: the y sets it, the rest is ignored", keys: typed("yes"), want: true},
		{name: "backspace does not empty it", keys: []tea.KeyMsg{yes, {Type: tea.KeyBackspace}}, want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := focus(t, New(&fakeChecker{}, "x.yaml"), label)
			for _, k := range tt.keys {
				m = press(m, k)
			}
			if m.Step() != StepCluster {
				t.Fatalf("left the cluster screen:\n%s", m.View())
			}
			row := fmt.Sprintf("> %-22s %-3s  %s", label, yesNo(tt.want), hintRow)
			if lines := strings.Split(m.View(), "\n"); !slices.Contains(lines, row) {
				t.Errorf("no line %q on the screen:\n%s", row, m.View())
			}
			if got := m.Cluster().Spec.AdminKubeconfig.CopyToSSHUser; got != tt.want {
				t.Errorf("copyToSSHUser %v, want %v", got, tt.want)
			}
			m.step = StepReview
			review := kept
			if tt.want {
				review = copied
			}
			lines := strings.Split(m.View(), "\n")
			if i := slices.Index(lines, review); i < 0 || !strings.HasPrefix(lines[i-1], "  cluster   ") {
				t.Errorf("no line %q under the cluster's in the review:\n%s", review, m.View())
			}
		})
	}
}

// A whole walk: the saved inventory is valid and what was typed.
func TestWalkSavesAValidInventory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kubeha.yaml")
	m := New(&fakeChecker{}, path)
	m = press(m, enter)
	for i, h := range [][2]string{{"m1", "10.0.0.1"}, {"m2", "10.0.0.2"}, {"m3", "10.0.0.3"}, {"w1", "10.0.0.4"}} {
		m = typeText(m, h[0])
		m = press(m, tab)
		m = typeText(m, h[1])
		if i == 3 {
			m = press(m, tab)
			m = typeText(clear(m), "worker")
		}
		m = press(m, enter)
		m = press(m, yes)
	}
	m = press(m, enter) // empty form: on to the load balancer
	if m.Step() != StepLB {
		t.Fatalf("not on the load-balancer screen:\n%s", m.View())
	}
	m = press(m, enter)
	if m.Step() != StepLB || !strings.Contains(m.View(), "spec.loadBalancer.vip") {
		t.Fatalf("no VIP must be refused:\n%s", m.View())
	}
	m = press(m, tab)
	m = press(m, tab)
	m = typeText(m, "10.0.0.100")
	m = press(m, enter)
	m = press(m, enter) // network defaults
	if m.Step() != StepReview || !strings.Contains(m.View(), "VIP 10.0.0.100") {
		t.Fatalf("review:\n%s", m.View())
	}
	m = press(m, esc)
	if m.Step() != StepNetwork {
		t.Fatal("esc must go back")
	}
	m = press(m, enter)
	m = press(m, enter)
	if !m.Saved() || m.Step() != StepSaved {
		t.Fatalf("not saved:\n%s", m.View())
	}
	c, _, err := inventory.Load(path)
	if err != nil {
		t.Fatalf("the saved inventory does not load: %v", err)
	}
	// Left off, the SSH user's kubeconfig is not written at all.
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "adminKubeconfig") {
		t.Errorf("saved with adminKubeconfig though it was left off:\n%s", b)
	}
	if len(c.Masters()) != 3 || len(c.Workers()) != 1 || c.Spec.LoadBalancer.VIP != "10.0.0.100" || c.Spec.ControlPlaneEndpoint.Port != 16443 {
		t.Fatalf("saved %+v", c.Spec)
	}
	// A new file names SSH keys: only its owner reads it.
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	_, cmd := m.Update(yes)
	if cmd == nil || !m.Update2Run(yes) {
		t.Fatal("y on the last screen asks to run apply")
	}
}

// Update2Run reports whether key on the saved screen asks for a run.
func (m Model) Update2Run(k tea.KeyMsg) bool {
	nm, _ := m.Update(k)
	return nm.(Model).Run()
}

// ctrl+c asks before leaving.
func TestQuitAsks(t *testing.T) {
	m := New(&fakeChecker{}, "x.yaml")
	m = press(m, tea.KeyMsg{Type: tea.KeyCtrlC})
	if !strings.Contains(m.View(), "Leave the installer") {
		t.Fatal("ctrl+c must ask")
	}
	m = press(m, no)
	if strings.Contains(m.View(), "Leave the installer") {
		t.Fatal("n must stay")
	}
	nm, cmd := press(m, tea.KeyMsg{Type: tea.KeyCtrlC}).Update(yes)
	if cmd == nil || cmd() != tea.Quit() || nm.(Model).Saved() {
		t.Fatal("y must quit without saving")
	}
}

// A number typed on the load-balancer screen is used or refused, never
// replaced by the default: what is not a whole number in the range an
// inventory file is held to shows under its field, naming it and the range,
// and keeps enter on the screen and the review from saving. Empty is refused
// too: the fields start filled and no hint offers empty as the default.
func TestLoadBalancerNumbersUsedOrRefused(t *testing.T) {
	const (
		portRange = "(fix: use a port from 1 to 65535)"
		vridRange = "(fix: use 1 to 255, unique among VRRP routers on the subnet)"
	)
	port := func(c *inventory.Cluster) int { return c.Spec.ControlPlaneEndpoint.Port }
	vrid := func(c *inventory.Cluster) int { return c.Spec.LoadBalancer.VirtualRouterID }
	tests := []struct {
		label, typed string
		get          func(*inventory.Cluster) int
		want         int    // the value used, when typed is accepted
		refused      string // the line under the field, when it is not
	}{
		{"endpoint port", "8443", port, 8443, ""},
		{"endpoint port", "0", port, 0, "endpoint port: 0 is out of range " + portRange},
		{"endpoint port", "abc", port, 0, `endpoint port: "abc" is not a whole number ` + portRange},
		{"endpoint port", "70000", port, 0, "endpoint port: 70000 is out of range " + portRange},
		{"endpoint port", "-1", port, 0, "endpoint port: -1 is out of range " + portRange},
		{"endpoint port", "", port, 0, "endpoint port: empty " + portRange},
		{"virtual router id", "77", vrid, 77, ""},
		{"virtual router id", "0", vrid, 0, "virtual router id: 0 is out of range " + vridRange},
		{"virtual router id", "abc", vrid, 0, `virtual router id: "abc" is not a whole number ` + vridRange},
		{"virtual router id", "70000", vrid, 0, "virtual router id: 70000 is out of range " + vridRange},
		{"virtual router id", "-1", vrid, 0, "virtual router id: -1 is out of range " + vridRange},
		{"virtual router id", "", vrid, 0, "virtual router id: empty " + vridRange},
	}
	for _, tt := range tests {
		t.Run(tt.label+"="+tt.typed, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kubeha.yaml")
			m := NewFrom(&fakeChecker{}, path, example(t, "keepalived-haproxy.yaml"))
			m.step = StepLB
			m.focusField(0)
			// Erased key by key, as the operator does: emptied, the field
			// is checked too.
			m = focus(t, m, tt.label)
			for range m.visible()[m.focus].input.Value() {
				m, _ = update(m, tea.KeyMsg{Type: tea.KeyBackspace})
			}
			m = typeText(m, tt.typed)
			if tt.refused == "" {
				if lines := strings.Split(m.View(), "\n"); slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, tt.label+":") }) {
					t.Errorf("%q refused:\n%s", tt.typed, m.View())
				}
				if m = press(m, enter); m.Step() != StepNetwork {
					t.Fatalf("a valid %s did not go on:\n%s", tt.label, m.View())
				}
				if got := tt.get(m.Cluster()); got != tt.want {
					t.Errorf("%s %d, want %d", tt.label, got, tt.want)
				}
				return
			}
			if lines := strings.Split(m.View(), "\n"); !slices.Contains(lines, "    "+tt.refused) {
				t.Errorf("no line %q under the field:\n%s", tt.refused, m.View())
			}
			if m = press(m, enter); m.Step() != StepLB {
				t.Fatalf("enter went on past %s %q:\n%s", tt.label, tt.typed, m.View())
			}
			m.step = StepReview
			if m = press(m, enter); m.Saved() {
				t.Fatalf("saved with %s %q:\n%s", tt.label, tt.typed, m.View())
			}
		})
	}
}

// addHostAs adds a host on the hosts screen with role, and accepts its key.
func addHostAs(m Model, name, addr, role string) Model {
	m = typeText(m, name)
	m = press(m, tab)
	m = typeText(m, addr)
	m = press(m, tab)
	m = typeText(clear(m), role)
	m = press(m, enter)
	return press(m, yes)
}

// TestEtcdHostsAreHeldToTheInventorysRules: the installer gives hosts the
// role etcd, and holds their count to what the inventory's validator holds
// a file's to, on the hosts screen: 1 or an even number is an error that
// keeps the screen, 3 or 5 go on, 7 goes on with the validator's warning;
// a role that is no role is refused.
func TestEtcdHostsAreHeldToTheInventorysRules(t *testing.T) {
	tests := []struct {
		name  string
		etcd  int
		role  string // of the etcd hosts; "etcd" when empty
		err   string // on the hosts screen, which it keeps
		warns string // in the review
	}{
		{name: "one", etcd: 1, err: "spec.hosts: 1 etcd host: etcd tolerates 0 failed members (fix: use 3 or 5 hosts with role etcd)"},
		{name: "two", etcd: 2, err: "spec.hosts: 2 etcd hosts: etcd tolerates 0 failed members"},
		{name: "three", etcd: 3},
		{name: "four", etcd: 4, err: "spec.hosts: 4 etcd hosts: etcd tolerates 1 failed member"},
		{name: "five", etcd: 5},
		{name: "seven", etcd: 7, warns: "warning: spec.hosts: 7 etcd hosts: every write waits for a majority of them"},
		{name: "a misspelt role", etcd: 1, role: "etdc", err: `spec.hosts[3].role: unknown value "etdc" (fix: use one of: master, worker, loadbalancer, etcd)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(&fakeChecker{}, filepath.Join(t.TempDir(), "kubeha.yaml"))
			m = press(m, enter)
			for i := 1; i <= 3; i++ {
				m = addHostAs(m, fmt.Sprintf("m%d", i), fmt.Sprintf("10.0.0.%d", i), "master")
			}
			role := cmp.Or(tt.role, "etcd")
			for i := 1; i <= tt.etcd; i++ {
				m = addHostAs(m, fmt.Sprintf("e%d", i), fmt.Sprintf("10.0.0.%d", 20+i), role)
			}
			m = press(m, enter) // empty form: on, unless the hosts are wrong
			if tt.err != "" {
				if m.Step() != StepHosts || !strings.Contains(m.View(), "✗ "+tt.err) {
					t.Fatalf("want the hosts screen kept with %q:\n%s", tt.err, m.View())
				}
				return
			}
			if m.Step() != StepLB {
				t.Fatalf("not on to the load balancer:\n%s", m.View())
			}
			if c := m.Cluster(); c.Spec.Etcd.Topology != inventory.EtcdExternal || !c.BuildsEtcd() || len(c.EtcdHosts()) != tt.etcd {
				t.Fatalf("etcd %+v with %d etcd hosts", c.Spec.Etcd, len(c.EtcdHosts()))
			}
			m = press(m, tab)
			m = press(m, tab)
			m = typeText(m, "10.0.0.100")
			m = press(m, enter)
			m = press(m, enter)
			if m.Step() != StepReview {
				t.Fatalf("not on the review:\n%s", m.View())
			}
			if tt.warns != "" && !strings.Contains(m.View(), tt.warns) {
				t.Errorf("the review lacks %q:\n%s", tt.warns, m.View())
			}
		})
	}
}

// TestEtcdHostsSaveAValidInventory walks the installer with three etcd
// hosts: the review says kubeha builds etcd on them, the saved inventory
// loads with etcd topology external and no endpoints, and renders each
// etcd host's member config. Dropping the etcd hosts again makes the etcd
// stacked; an etcd of the operator's, from the file, is kept as it is.
func TestEtcdHostsSaveAValidInventory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeha.yaml")
	m := New(&fakeChecker{}, path)
	m = press(m, enter)
	for i := 1; i <= 3; i++ {
		m = addHostAs(m, fmt.Sprintf("m%d", i), fmt.Sprintf("10.0.0.%d", i), "master")
	}
	for i := 1; i <= 3; i++ {
		m = addHostAs(m, fmt.Sprintf("e%d", i), fmt.Sprintf("10.0.0.%d", 20+i), "etcd")
	}
	m = press(m, enter)
	m = press(m, tab)
	m = press(m, tab)
	m = typeText(m, "10.0.0.100")
	m = press(m, enter)
	m = press(m, enter)
	for _, want := range []string{
		"  hosts     m1       10.0.0.1         master\n",
		"            e3       10.0.0.23        etcd\n",
		"  etcd      external, built by kubeha on e1, e2, e3 (give no host role etcd for stacked etcd)\n",
		"  facts, host-prep and the load balancer on 6 hosts; the etcd cluster on e1, e2, e3; kubeadm init on m1;\n",
	} {
		if !strings.Contains(m.View(), want) {
			t.Errorf("the review lacks %q:\n%s", want, m.View())
		}
	}
	m = press(m, enter)
	if !m.Saved() {
		t.Fatalf("not saved:\n%s", m.View())
	}
	c, warnings, err := inventory.Load(path)
	if err != nil || len(warnings) > 0 {
		t.Fatalf("the saved inventory: %v, warnings %v", err, warnings)
	}
	if !c.BuildsEtcd() || c.Spec.Etcd.External != nil || len(c.EtcdHosts()) != 3 {
		t.Fatalf("saved etcd %+v, etcd hosts %v", c.Spec.Etcd, c.EtcdHosts())
	}
	files, err := phases.RenderAll(context.Background(), phases.Registry(), phases.OfflineView{C: c})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	for _, h := range []string{"e1", "e2", "e3"} {
		if !slices.ContainsFunc(files, func(f phases.HostFile) bool { return f.Host == h && f.Path == kubeadm.EtcdMemberConfigPath }) {
			t.Errorf("no %s rendered for %s", kubeadm.EtcdMemberConfigPath, h)
		}
	}

	// Started from that file, with the etcd hosts refused (n), the etcd
	// is stacked again.
	masters := map[string]bool{"10.0.0.1": true, "10.0.0.2": true, "10.0.0.3": true}
	m = NewFrom(&fakeChecker{known: masters}, path, c)
	m = press(m, enter)
	for range 3 {
		m = press(m, no) // the next etcd host's key: drop the host
	}
	if got := m.Cluster(); got.Spec.Etcd.Topology != inventory.EtcdStacked || len(got.EtcdHosts()) != 0 {
		t.Fatalf("without etcd hosts: %+v, %v", got.Spec.Etcd, got.EtcdHosts())
	}

	// The operator's etcd from the file is kept; an etcd host beside it
	// is refused as the validator refuses it.
	theirs := c.DeepCopy()
	theirs.Spec.Hosts = slices.DeleteFunc(theirs.Spec.Hosts, func(h inventory.Host) bool { return h.Role == inventory.RoleEtcd })
	theirs.Spec.Etcd = inventory.Etcd{Topology: inventory.EtcdExternal, External: &inventory.ExternalEtcd{
		Endpoints: []string{"https://10.0.0.21:2379"}, CAFile: "ca.crt", CertFile: "client.crt", KeyFile: "client.key"}}
	m = NewFrom(&fakeChecker{known: masters}, path, theirs)
	m = press(m, enter)
	if got := m.Cluster(); !reflect.DeepEqual(got.Spec.Etcd, theirs.Spec.Etcd) {
		t.Fatalf("the operator's etcd became %+v", got.Spec.Etcd)
	}
	m = addHostAs(m, "e9", "10.0.0.29", "etcd")
	m = press(m, enter)
	if want := "spec.hosts[3].role: role etcd is for an etcd cluster kubeha builds, but spec.etcd.external.endpoints names the operator's"; m.Step() != StepHosts || !strings.Contains(m.View(), want) {
		t.Fatalf("want the hosts screen kept with %q:\n%s", want, m.View())
	}
}
