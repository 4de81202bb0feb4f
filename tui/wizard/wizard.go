// Package wizard is kubeha's terminal installer: the walk the seed notes
// make by hand (hosts, the VIP, ports, CIDRs) as screens, each field checked
// inline by the same validator as `kubeha inventory validate`, every host
// checked live over SSH with its host key shown for the operator to accept,
// a review of the inventory and the phases, then save (and run).
//
// It starts from the installer's defaults (New) or from the inventory
// already in the file it saves to (NewFrom): then every field it shows is
// filled from the file, what it does not show is saved as the file has
// it, and so are the file's comments on what is still in the inventory.
//
// The model is pure: SSH and known_hosts go through the Checker it is
// given, always from a tea.Cmd (never inside Update), and tests drive it
// with direct Update calls.
package wizard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/ssh"
	"github.com/kubeha/kubeha/state"
)

// Checker reaches hosts for the wizard as apply will reach them. Each call
// gets c, the inventory as the wizard would save it at that moment
// (Cluster), and h, one of its hosts: the Checker resolves from them how
// apply connects to h (the host's SSH settings, spec.ssh with its bastion,
// and whatever apply adds to them, such as ~/.ssh/config and the SSH
// agent), so that a host the check reaches is one apply reaches, and the
// reverse. The model calls it only from commands, so its network and file
// I/O never block the update loop.
type Checker interface {
	// Scan connects to h and returns the host key it offers, without
	// logging in. The key types asked for follow c's known_hosts, as they
	// will for Login and apply.
	Scan(ctx context.Context, c *inventory.Cluster, h inventory.Host) (ssh.HostKey, error)
	// Accept records in c's known_hosts a host key of h the operator
	// accepted. It refuses a key that known_hosts contradicts (a changed
	// key, say).
	Accept(c *inventory.Cluster, h inventory.Host, key ssh.HostKey) error
	// Login connects to h with its key checked strictly against c's
	// known_hosts, logs in and runs `true`. A key known_hosts has no line
	// for fails with an error that wraps *ssh.UnknownHostKeyError, before
	// any credential is offered.
	Login(ctx context.Context, c *inventory.Cluster, h inventory.Host) error
}

// Steps of the wizard.
const (
	StepCluster = iota
	StepHosts
	StepLB
	StepNetwork
	StepReview
	StepSaved
)

var stepNames = []string{"cluster", "hosts", "load balancer", "network", "review", "saved"}

// field is one text input with the inventory path it fills. A yes/no
// field (yesNo) keeps "yes" or "no" in its input and is set with y or n
// and switched with space or ←/→, never typed into, so it cannot hold
// anything else.
type field struct {
	label string
	path  string // YAML path whose problems show under it
	input textinput.Model
	yesNo bool
	hint  string // what yes does, shown beside a yes/no field
}

// hostState is one host and its SSH check. Messages about it name it by
// id, which stays the same when hosts before it are removed.
type hostState struct {
	id        int
	host      inventory.Host
	key       ssh.HostKey // scanned; Fingerprint empty until then
	recording bool        // the accepted key is being written to known_hosts
	accepted  bool
	loginOK   bool
	err       string
	checking  bool
	// fromFile: the host came from the inventory file. Its check logs in
	// with the key checked strictly against known_hosts, as apply does;
	// only a key known_hosts lacks is scanned and shown for acceptance.
	fromFile bool
}

// Model is the wizard.
type Model struct {
	checker Checker
	path    string // where the inventory is saved
	// base is the inventory the wizard started from (NewFrom), never
	// changed: what the wizard does not show is saved as base has it. nil
	// when the wizard started from its defaults.
	base *inventory.Cluster

	step   int
	fields map[int][]*field
	focus  int
	hosts  []*hostState
	nextID int      // of the next host added
	modes  []string // load-balancer modes offered: lbModes, and the file's
	mode   int      // index into modes
	errs   map[string]string
	help   bool
	width  int

	saved   bool
	run     bool // the operator asked to run apply now
	quit    bool
	askQuit bool
	saveErr string
}

// lbModes are the load-balancer modes the wizard offers: every mode apply
// runs, each proved on machines by an e2e test (kube-vip by TestKubeVIP).
// kube-vip, the last to be proved, comes last, so ← and → still reach the
// others as before.
var lbModes = []string{inventory.ModeKeepalivedHAProxy, inventory.ModeLocalProxy, inventory.ModeExternal, inventory.ModeKubeVIP}

// roles a host may have, as the role field's placeholder lists them. A
// host of role etcd is a member of the etcd cluster kubeha builds: the
// installer sets spec.etcd.topology from them (cluster).
var roles = []string{inventory.RoleMaster, inventory.RoleWorker, inventory.RoleLoadBalancer, inventory.RoleEtcd}

func newField(label, path, value, placeholder string) *field {
	in := textinput.New()
	in.Prompt = ""
	in.SetValue(value)
	in.Placeholder = placeholder
	// The longest value an inventory field may hold (a local path), so a
	// value from the file is never cut.
	in.CharLimit = 4096
	in.Width = 0 // whole values: paths are long, and the operator must see them
	return &field{label: label, path: path, input: in}
}

// newYesNo is a yes/no field, on or off.
func newYesNo(label, path string, on bool, hint string) *field {
	f := newField(label, path, yesNo(on), "")
	f.yesNo, f.hint = true, hint
	return f
}

func yesNo(on bool) string {
	if on {
		return "yes"
	}
	return "no"
}

// New returns the wizard, saving to path.
func New(checker Checker, path string) Model {
	m := Model{checker: checker, path: path, modes: slices.Clone(lbModes), errs: map[string]string{}, width: 100, fields: map[int][]*field{
		StepCluster: {
			newField("cluster name", "metadata.name", "prod", ""),
			newField("Kubernetes version", "spec.kubernetesVersion", inventory.DefaultKubernetesVersion, ""),
			newField("SSH user", "spec.ssh.user", "root", ""),
			newField("SSH private key", "spec.ssh.keyPath", "~/.ssh/id_ed25519", ""),
			newField("known_hosts file", "spec.ssh.knownHostsPath", inventory.DefaultKnownHostsPath, ""),
			// Off by default, as in the inventory: the copy is an admin
			// credential on every master, which the operator asks for.
			newYesNo("SSH user's kubeconfig", "spec.adminKubeconfig.copyToSSHUser", false,
				"copy each master's admin.conf to the SSH user's ~/.kube/config"),
		},
		StepHosts: {
			newField("name", "spec.hosts", "", "m1"),
			newField("address", "spec.hosts", "", "192.168.8.191"),
			newField("role", "spec.hosts", inventory.RoleMaster, strings.Join(roles, " | ")),
			newField("SSH user", "spec.hosts", "", "empty: the cluster's"),
			newField("SSH key", "spec.hosts", "", "empty: the cluster's"),
		},
		StepLB: {
			newField("endpoint name", "spec.controlPlaneEndpoint.name", "", "prod-apiserver"),
			newField("endpoint port", "spec.controlPlaneEndpoint.port", "16443", ""),
			newField("VIP", "spec.loadBalancer.vip", "", "192.168.8.10"),
			newField("virtual router id", "spec.loadBalancer.virtualRouterID", strconv.Itoa(inventory.DefaultVirtualRouterID), ""),
			newField("SLB address", "spec.loadBalancer.address", "", "192.168.8.9"),
			newField("local proxy", "spec.loadBalancer.proxy", inventory.ProxyHAProxy, "haproxy | nginx"),
			newField("VIP interface", "spec.loadBalancer.interface", "", "empty: the one holding each master's address"),
		},
		StepNetwork: {
			newField("Pod subnet", "spec.network.podSubnet", inventory.DefaultPodSubnet, ""),
			newField("Service subnet", "spec.network.serviceSubnet", inventory.DefaultServiceSubnet, ""),
			newField("kube-proxy mode", "spec.network.kubeProxyMode", inventory.ProxyModeIPVS, "ipvs | iptables | nftables"),
			newField("fallback without ip_vs", "spec.network.kubeProxyFallbackMode", inventory.ProxyModeIPTables, "iptables | nftables | empty"),
		},
	}}
	m.focusField(0)
	return m
}

// NewFrom returns the wizard started from c, the valid inventory already at
// path, as inventory.Load returns it (defaulted). Every field the wizard
// shows is filled from c and c's hosts are listed; each is checked over
// SSH when the hosts screen is reached (checkHosts). What the wizard does
// not show (kubeadm settings, artifacts, the operator's etcd, CNI, the
// hosts' internal addresses, ...) is saved as c has it; the etcd topology
// follows the hosts' roles (etcdFollowsHosts). c itself is never changed.
func NewFrom(checker Checker, path string, c *inventory.Cluster) Model {
	m := New(checker, path)
	m.base = c.DeepCopy()
	s := m.base.Spec
	set := func(step, i int, v string) { m.fields[step][i].input.SetValue(v) }
	set(StepCluster, 0, m.base.Metadata.Name)
	set(StepCluster, 1, s.KubernetesVersion)
	set(StepCluster, 2, s.SSH.User)
	set(StepCluster, 3, s.SSH.KeyPath)
	set(StepCluster, 4, s.SSH.KnownHostsPath)
	set(StepCluster, 5, yesNo(s.AdminKubeconfig.CopyToSSHUser))
	for _, h := range s.Hosts {
		m.hosts = append(m.hosts, &hostState{id: m.nextID, host: h, fromFile: true})
		m.nextID++
	}
	lb := s.LoadBalancer
	if m.mode = slices.Index(m.modes, lb.Mode); m.mode < 0 {
		m.modes = append(m.modes, lb.Mode)
		m.mode = len(m.modes) - 1
	}
	set(StepLB, 0, s.ControlPlaneEndpoint.Name)
	set(StepLB, 1, strconv.Itoa(s.ControlPlaneEndpoint.Port))
	set(StepLB, 2, lb.VIP)
	set(StepLB, 4, lb.Address)
	set(StepLB, 6, lb.Interface)
	// The router id and the proxy are set only in the modes that use them;
	// the defaults stay for a switch to such a mode.
	if lb.VirtualRouterID != 0 {
		set(StepLB, 3, strconv.Itoa(lb.VirtualRouterID))
	}
	if lb.Proxy != "" {
		set(StepLB, 5, lb.Proxy)
	}
	set(StepNetwork, 0, s.Network.PodSubnet)
	set(StepNetwork, 1, s.Network.ServiceSubnet)
	set(StepNetwork, 2, s.Network.KubeProxyMode)
	set(StepNetwork, 3, s.Network.KubeProxyFallbackMode)
	m.focusField(0)
	return m
}

// Saved reports whether the inventory was written; Run whether the
// operator asked to apply it now.
func (m Model) Saved() bool { return m.saved }
func (m Model) Run() bool   { return m.run }

// Step is the current screen.
func (m Model) Step() int { return m.step }

// visible are the fields the current step shows: the load balancer's
// depend on its mode.
func (m Model) visible() []*field {
	fs := m.fields[m.step]
	if m.step != StepLB {
		return fs
	}
	switch m.modes[m.mode] {
	case inventory.ModeKeepalivedHAProxy:
		return fs[:4]
	case inventory.ModeKubeVIP:
		// No port: kube-vip's is the apiserver's (cluster).
		return []*field{fs[0], fs[2], fs[6]}
	case inventory.ModeLocalProxy:
		return []*field{fs[1], fs[5]}
	default:
		return []*field{fs[0], fs[1], fs[4]}
	}
}

func (m *Model) focusField(i int) {
	fs := m.visible()
	for _, f := range m.fields[m.step] {
		f.input.Blur()
	}
	if len(fs) == 0 {
		return
	}
	m.focus = (i + len(fs)) % len(fs)
	fs[m.focus].input.Focus()
}

func (m Model) value(step, i int) string {
	return strings.TrimSpace(m.fields[step][i].input.Value())
}

// Cluster is the inventory the fields describe, defaulted: the file the
// wizard started from (if any) with what the wizard shows replaced. A
// number field that holds no acceptable number is left out of it, for
// Default to fill; validate refuses that field (cluster), so such an
// inventory is never saved.
func (m Model) Cluster() *inventory.Cluster {
	c, _ := m.cluster()
	return c
}

// cluster is Cluster, and the problems of the number fields it read: each
// is held to the range an inventory file's value is (inventory.ParseInt),
// so that 0, a typo or an emptied field is refused on its screen rather
// than saved as the default. A problem names the field by its label.
func (m Model) cluster() (*inventory.Cluster, inventory.Problems) {
	var ps inventory.Problems
	number := func(step, i int) int {
		f := m.fields[step][i]
		n, p := inventory.ParseInt(f.path, m.value(step, i))
		if p != nil {
			p.Message = f.label + ": " + p.Message
			ps = append(ps, *p)
		}
		return n
	}
	c := &inventory.Cluster{APIVersion: inventory.APIVersion, Kind: inventory.Kind}
	if m.base != nil {
		c = m.base.DeepCopy()
	}
	c.Metadata.Name = m.value(StepCluster, 0)
	s := &c.Spec
	s.KubernetesVersion = m.value(StepCluster, 1)
	s.SSH.User = m.value(StepCluster, 2)
	s.SSH.KeyPath = m.value(StepCluster, 3)
	s.SSH.KnownHostsPath = m.value(StepCluster, 4)
	// Off is the zero value, which the inventory leaves out.
	s.AdminKubeconfig.CopyToSSHUser = m.value(StepCluster, 5) == "yes"
	s.Hosts = nil
	for _, h := range m.hosts {
		hc := h.host
		if hc.SSH != nil {
			hs := *hc.SSH
			hc.SSH = &hs
		}
		s.Hosts = append(s.Hosts, hc)
	}
	mode := m.modes[m.mode]
	if m.base == nil || mode != m.base.Spec.LoadBalancer.Mode {
		// Another mode than the file's starts the section afresh, as
		// without a file: the file's placement, interface, static pods
		// and images were chosen for its own mode.
		s.LoadBalancer = inventory.LoadBalancer{}
	}
	s.LoadBalancer.Mode = mode
	s.ControlPlaneEndpoint.Name = m.value(StepLB, 0)
	if mode == inventory.ModeKubeVIP {
		// The only port kube-vip allows (inventory.Validate): it moves
		// the VIP and forwards nothing, so a client of the VIP reaches the
		// holder's own apiserver. The port field, which this mode does
		// not show, is not read: what it holds is another mode's.
		s.ControlPlaneEndpoint.Port = inventory.APIServerPort
	} else {
		s.ControlPlaneEndpoint.Port = number(StepLB, 1)
	}
	switch s.LoadBalancer.Mode {
	case inventory.ModeKeepalivedHAProxy:
		s.LoadBalancer.VIP = m.value(StepLB, 2)
		s.LoadBalancer.VirtualRouterID = number(StepLB, 3)
	case inventory.ModeKubeVIP:
		s.LoadBalancer.VIP = m.value(StepLB, 2)
		s.LoadBalancer.Interface = m.value(StepLB, 6)
	case inventory.ModeLocalProxy:
		s.LoadBalancer.Proxy = m.value(StepLB, 5)
	case inventory.ModeExternal:
		s.LoadBalancer.Address = m.value(StepLB, 4)
	}
	s.Network.PodSubnet = m.value(StepNetwork, 0)
	s.Network.ServiceSubnet = m.value(StepNetwork, 1)
	s.Network.KubeProxyMode = m.value(StepNetwork, 2)
	s.Network.KubeProxyFallbackMode = m.value(StepNetwork, 3)
	etcdFollowsHosts(s)
	inventory.Default(c)
	return c, ps
}

// etcdFollowsHosts sets s's etcd topology from its hosts, unless s names an
// etcd of the operator's (endpoints), which the installer does not show
// and leaves as the file has it: external, for kubeha to build etcd on
// them, when a host has role etcd; stacked when none has (the file's etcd
// settings of the other kind are kept, ignored, as the validator warns).
// The validator then holds the etcd hosts to what an inventory file's are
// held to (3 or 5 of them, none beside the operator's endpoints).
func etcdFollowsHosts(s *inventory.Spec) {
	if x := s.Etcd.External; x != nil && len(x.Endpoints) > 0 {
		return
	}
	s.Etcd.Topology = inventory.EtcdStacked
	if slices.ContainsFunc(s.Hosts, func(h inventory.Host) bool { return h.Role == inventory.RoleEtcd }) {
		s.Etcd.Topology = inventory.EtcdExternal
	}
}

// validate runs the inventory validator, after the check of the number
// fields (cluster), and keeps the errors by path: a number field's own
// problem comes first, so it is the one shown under the field.
func (m *Model) validate() inventory.Problems {
	c, ps := m.cluster()
	ps = append(ps, inventory.Validate(c)...)
	m.errs = map[string]string{}
	for _, p := range ps.Errors() {
		if _, seen := m.errs[p.Path]; !seen {
			m.errs[p.Path] = p.Message
			if p.Fix != "" {
				m.errs[p.Path] += " (fix: " + p.Fix + ")"
			}
		}
	}
	return ps
}

// stepErrors are the validator's errors that belong to the current step.
func (m Model) stepErrors() []string {
	prefixes := map[int][]string{
		StepCluster: {"metadata.", "spec.kubernetesVersion", "spec.ssh", "spec.adminKubeconfig"},
		StepHosts:   {"spec.hosts"},
		StepLB:      {"spec.loadBalancer", "spec.controlPlaneEndpoint"},
		StepNetwork: {"spec.network"},
	}[m.step]
	var out []string
	for path, msg := range m.errs {
		for _, p := range prefixes {
			if strings.HasPrefix(path, p) {
				out = append(out, path+": "+msg)
			}
		}
	}
	slices.Sort(out)
	return out
}

// Messages of the host checks, each naming its host by id.
type scannedMsg struct {
	id  int
	key ssh.HostKey
	err error
}
type acceptedMsg struct {
	id  int
	err error
}
type loginMsg struct {
	id  int
	err error
}

// byID is the host with id, nil when it has been removed since.
func (m Model) byID(id int) *hostState {
	for _, h := range m.hosts {
		if h.id == id {
			return h
		}
	}
	return nil
}

// target is host i as apply will see it: the inventory the screens
// describe now, and the host in it. Cluster lists the hosts in the
// wizard's order.
func (m Model) target(i int) (*inventory.Cluster, inventory.Host) {
	c := m.Cluster()
	return c, c.Spec.Hosts[i]
}

func (m Model) scan(i int) tea.Cmd {
	id := m.hosts[i].id
	c, h := m.target(i)
	return func() tea.Msg {
		key, err := m.checker.Scan(context.Background(), c, h)
		return scannedMsg{id, key, err}
	}
}

// accept records host i's key off the update loop; its error, if any, is
// shown beside the host.
func (m Model) accept(i int) tea.Cmd {
	id, key := m.hosts[i].id, m.hosts[i].key
	c, h := m.target(i)
	return func() tea.Msg {
		return acceptedMsg{id, m.checker.Accept(c, h, key)}
	}
}

func (m Model) login(i int) tea.Cmd {
	id := m.hosts[i].id
	c, h := m.target(i)
	return func() tea.Msg {
		return loginMsg{id, m.checker.Login(context.Background(), c, h)}
	}
}

// checkHosts starts the SSH check of every host that has not passed it and
// is neither being checked nor waiting for the operator's y/n. It runs
// when the hosts screen is reached from the cluster screen: the first time
// for the hosts from the file, and again for any host whose check failed,
// with the SSH settings as they are now.
//
// A host the operator added is scanned and its key shown for acceptance
// first (scan); a host from the file, or one whose key was accepted, is
// logged into with the key checked strictly against known_hosts, as apply
// does. A host from the file whose key known_hosts lacks is then scanned
// and shown like an added one (see loginMsg in Update); a key known_hosts
// contradicts is refused with the login's error.
func (m Model) checkHosts() tea.Cmd {
	var cmds []tea.Cmd
	for i, h := range m.hosts {
		if h.loginOK || h.checking || h.recording || (h.key.Fingerprint != "" && !h.accepted) {
			continue
		}
		h.checking, h.err = true, ""
		if h.accepted || h.fromFile {
			cmds = append(cmds, m.login(i))
		} else {
			cmds = append(cmds, m.scan(i))
		}
	}
	return tea.Batch(cmds...)
}

// Init focuses the first field.
func (m Model) Init() tea.Cmd { return textinput.Blink }

// Update applies one message.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width = msg.Width
		return m, nil
	case scannedMsg:
		h := m.byID(msg.id)
		if h == nil {
			return m, nil
		}
		h.checking = false
		if msg.err != nil {
			h.err = msg.err.Error()
			return m, nil
		}
		h.key, h.err = msg.key, ""
		return m, nil
	case acceptedMsg:
		h := m.byID(msg.id)
		if h == nil {
			return m, nil
		}
		h.recording = false
		if msg.err != nil {
			h.err = "record host key: " + msg.err.Error()
			return m, nil
		}
		h.accepted, h.checking, h.err = true, true, ""
		return m, m.login(slices.Index(m.hosts, h))
	case loginMsg:
		h := m.byID(msg.id)
		if h == nil {
			return m, nil
		}
		var unknown *ssh.UnknownHostKeyError
		if !h.accepted && errors.As(msg.err, &unknown) {
			// A host from the file whose key known_hosts lacks: its key
			// is scanned and shown for acceptance, as an added host's.
			h.err = ""
			return m, m.scan(slices.Index(m.hosts, h))
		}
		h.checking = false
		if msg.err != nil {
			h.err = msg.err.Error()
		} else {
			h.loginOK, h.err = true, ""
		}
		return m, nil
	case tea.KeyMsg:
		return m.key(msg)
	}
	return m.updateInput(msg)
}

func (m Model) updateInput(msg tea.Msg) (tea.Model, tea.Cmd) {
	fs := m.visible()
	if len(fs) == 0 || m.step >= StepReview {
		return m, nil
	}
	var cmd tea.Cmd
	fs[m.focus].input, cmd = fs[m.focus].input.Update(msg)
	m.validate()
	return m, cmd
}

// pendingKey is the first host whose key awaits the operator's decision.
func (m Model) pendingKey() int {
	for i, h := range m.hosts {
		if h.key.Fingerprint != "" && !h.accepted {
			return i
		}
	}
	return -1
}

func (m Model) key(k tea.KeyMsg) (tea.Model, tea.Cmd) {
	if m.askQuit {
		switch k.String() {
		case "y", "Y":
			m.quit = true
			return m, tea.Quit
		default:
			m.askQuit = false
		}
		return m, nil
	}
	switch k.String() {
	case "ctrl+c":
		if m.step == StepSaved {
			return m, tea.Quit
		}
		m.askQuit = true
		return m, nil
	case "?":
		if m.step >= StepReview {
			m.help = !m.help
			return m, nil
		}
	case "f1":
		m.help = !m.help
		return m, nil
	case "tab", "down":
		m.focusField(m.focus + 1)
		return m, nil
	case "shift+tab", "up":
		m.focusField(m.focus - 1)
		return m, nil
	case "esc":
		if m.step > StepCluster && m.step < StepSaved {
			m.step--
			m.focusField(0)
		}
		return m, nil
	}
	// A host key waiting for a decision takes y/n first; while the
	// accepted key is being recorded, neither.
	if m.step == StepHosts {
		if i := m.pendingKey(); i >= 0 {
			if m.hosts[i].recording {
				return m, nil
			}
			switch k.String() {
			case "y", "Y":
				m.hosts[i].recording, m.hosts[i].err = true, ""
				return m, m.accept(i)
			case "n", "N":
				m.hosts = append(m.hosts[:i], m.hosts[i+1:]...)
				m.validate()
				return m, nil
			}
			return m, nil
		}
	}
	switch m.step {
	case StepLB:
		if k.String() == "left" || k.String() == "right" {
			if k.String() == "left" {
				m.mode = (m.mode + len(m.modes) - 1) % len(m.modes)
			} else {
				m.mode = (m.mode + 1) % len(m.modes)
			}
			m.focusField(0)
			m.validate()
			return m, nil
		}
	case StepReview:
		switch k.String() {
		case "enter", "s":
			return m.save()
		}
		return m, nil
	case StepSaved:
		switch k.String() {
		case "y", "Y", "enter":
			m.run = true
			return m, tea.Quit
		case "n", "N", "q":
			return m, tea.Quit
		}
		return m, nil
	}
	if k.String() == "enter" {
		return m.enter()
	}
	if fs := m.visible(); len(fs) > 0 && fs[m.focus].yesNo {
		return m.setYesNo(fs[m.focus], k), nil
	}
	return m.updateInput(k)
}

// setYesNo applies key k to f, a yes/no field: y and n set it, space and
// ←/→ switch it; other keys leave it as it is.
func (m Model) setYesNo(f *field, k tea.KeyMsg) Model {
	on := f.input.Value() == "yes"
	switch k.String() {
	case "y", "Y":
		on = true
	case "n", "N":
		on = false
	case " ", "left", "right":
		on = !on
	default:
		return m
	}
	f.input.SetValue(yesNo(on))
	m.validate()
	return m
}

// enter adds a host on the hosts screen (or goes on when the form is
// empty), and goes to the next step elsewhere, unless the step has errors.
func (m Model) enter() (tea.Model, tea.Cmd) {
	if m.step == StepHosts {
		name, addr, role := m.value(StepHosts, 0), m.value(StepHosts, 1), m.value(StepHosts, 2)
		if name != "" || addr != "" {
			h := inventory.Host{Name: name, Address: addr, Role: role}
			if user, key := m.value(StepHosts, 3), m.value(StepHosts, 4); user != "" || key != "" {
				h.SSH = &inventory.HostSSH{User: user, KeyPath: key}
			}
			m.hosts = append(m.hosts, &hostState{id: m.nextID, host: h, checking: true})
			m.nextID++
			for _, i := range []int{0, 1, 3, 4} { // the role stays: hosts come in runs
				m.fields[StepHosts][i].input.SetValue("")
			}
			m.focusField(0)
			m.validate()
			return m, m.scan(len(m.hosts) - 1)
		}
		for _, h := range m.hosts {
			if !h.loginOK {
				return m, nil // every host reachable before going on
			}
		}
	}
	m.validate()
	if len(m.stepErrors()) > 0 {
		return m, nil
	}
	if m.step == StepHosts && len(m.hosts) == 0 {
		return m, nil
	}
	if m.step == StepCluster && m.value(StepLB, 0) == "" {
		m.fields[StepLB][0].input.SetValue(m.value(StepCluster, 0) + "-apiserver")
	}
	m.step++
	m.focusField(0)
	m.validate()
	if m.step == StepHosts {
		return m, m.checkHosts()
	}
	return m, nil
}

func (m Model) save() (tea.Model, tea.Cmd) {
	ps := m.validate()
	if len(ps.Errors()) > 0 {
		m.saveErr = fmt.Sprintf("%d problems: fix them first (esc goes back)", len(ps.Errors()))
		return m, nil
	}
	if err := m.write(); err != nil {
		m.saveErr = err.Error()
		return m, nil
	}
	m.saved, m.saveErr = true, ""
	m.step = StepSaved
	return m, nil
}

// write saves the inventory to m.path. The file names SSH keys and may
// hold settings the operator keeps private, so a new file is 0600; a file
// already there keeps its mode, and is replaced atomically (a temporary
// file beside it, synced, renamed over it). When the wizard started from
// the file, the operator's comments in it are kept where what they sit on
// is still in the inventory (inventory.MarshalKeepingComments); they are
// read from the file as it is now.
func (m Model) write() error {
	var orig []byte
	if m.base != nil {
		b, err := os.ReadFile(m.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read %s for its comments: %w", m.path, err)
		}
		orig = b
	}
	b, err := inventory.MarshalKeepingComments(m.Cluster(), orig)
	if err != nil {
		return err
	}
	return state.ReplaceFile(m.path, b, 0o600)
}

var (
	title = lipgloss.NewStyle().Bold(true)
	dim   = lipgloss.NewStyle().Faint(true)
	red   = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	green = lipgloss.NewStyle().Foreground(lipgloss.Color("2"))
)

// View draws the current screen.
func (m Model) View() string {
	var b strings.Builder
	var crumbs []string
	for i, n := range stepNames[:StepSaved] {
		if i == m.step {
			n = "[" + n + "]"
		}
		crumbs = append(crumbs, n)
	}
	b.WriteString(title.Render("kubeha installer") + "  " + dim.Render(strings.Join(crumbs, " › ")) + "\n\n")
	switch m.step {
	case StepHosts:
		b.WriteString(m.hostsView())
	case StepLB:
		b.WriteString("load balancer: " + dim.Render("←") + " " + title.Render(m.modes[m.mode]) + " " + dim.Render("→") + "\n\n")
		b.WriteString(m.fieldsView())
		if m.modes[m.mode] == inventory.ModeKubeVIP {
			b.WriteString("\n  " + dim.Render(fmt.Sprintf("endpoint port %d: kube-vip forwards nothing, a client of the VIP reaches its holder's apiserver", inventory.APIServerPort)) + "\n")
		}
	case StepReview:
		b.WriteString(m.reviewView())
	case StepSaved:
		b.WriteString(green.Render("✓ saved "+m.path) + "\n\nRun `kubeha apply` on it now? [Y/n]\n")
	default:
		b.WriteString(m.fieldsView())
	}
	if errs := m.stepErrors(); len(errs) > 0 && m.step < StepReview {
		b.WriteString("\n")
		for _, e := range errs {
			b.WriteString(red.Render("✗ "+e) + "\n")
		}
	}
	if m.help {
		b.WriteString("\n" + dim.Render("tab/↓ next field · shift+tab/↑ previous · enter next step (hosts: add the host; empty form: next step)\nesc back · y/n accept or refuse a host key · ←/→ load-balancer mode · ctrl+c quit (asks) · f1 help\na yes/no field: y or n sets it, space or ←/→ switches it") + "\n")
	} else {
		b.WriteString("\n" + dim.Render("enter next · esc back · f1 help · ctrl+c quit") + "\n")
	}
	if m.askQuit {
		b.WriteString(title.Render("Leave the installer without saving? [y/N]") + "\n")
	}
	return b.String()
}

func (m Model) fieldsView() string {
	var b strings.Builder
	for i, f := range m.visible() {
		cursor := "  "
		if i == m.focus {
			cursor = "> "
		}
		if f.yesNo {
			// The value alone, without the text cursor: it is not typed.
			fmt.Fprintf(&b, "%s%-22s %-3s  %s\n", cursor, f.label, f.input.Value(), dim.Render("y/n · "+f.hint))
		} else {
			fmt.Fprintf(&b, "%s%-22s %s\n", cursor, f.label, f.input.View())
		}
		if msg, ok := m.errs[f.path]; ok && f.path != "spec.hosts" {
			b.WriteString("    " + red.Render(msg) + "\n")
		}
	}
	return b.String()
}

func (m Model) hostsView() string {
	var b strings.Builder
	b.WriteString("add a host (enter adds it; with an empty form, enter goes on):\n")
	b.WriteString(m.fieldsView())
	b.WriteString("\n" + title.Render("hosts") + "\n")
	if len(m.hosts) == 0 {
		b.WriteString(dim.Render("  none yet") + "\n")
	}
	for _, h := range m.hosts {
		state := ""
		fp := h.key.Fingerprint
		switch {
		case h.recording:
			state = dim.Render("recording host key " + fp + "…")
		case h.err != "" && fp != "" && !h.accepted:
			state = red.Render("✗ "+h.err) + " " + title.Render("— host key "+fp+": y tries again, n drops the host")
		case h.err != "":
			state = red.Render("✗ " + h.err)
		case h.checking && fp == "":
			state = dim.Render("connecting…")
		case fp != "" && !h.accepted:
			state = title.Render("host key " + fp + " — accept? [y/n]")
		case h.checking:
			state = dim.Render("logging in…")
		case h.loginOK && fp == "":
			state = green.Render("✓ ssh ok") + dim.Render("  host key already in known_hosts")
		case h.loginOK:
			state = green.Render("✓ ssh ok") + dim.Render("  "+fp)
		}
		fmt.Fprintf(&b, "  %-8s %-16s %-13s %s\n", h.host.Name, h.host.Address, h.host.Role, state)
	}
	return b.String()
}

func (m Model) reviewView() string {
	var b strings.Builder
	c := m.Cluster()
	s := c.Spec
	saved := " (the whole inventory is saved to " + m.path + ")"
	if m.base != nil {
		saved = " (the whole inventory is saved to " + m.path + ", replacing the file; comments on what is still in it are kept)"
	}
	b.WriteString(title.Render("review") + dim.Render(saved) + "\n")
	fmt.Fprintf(&b, "  cluster   %s, Kubernetes %s; ssh as %s with %s; known_hosts %s\n", c.Metadata.Name, s.KubernetesVersion, s.SSH.User, s.SSH.KeyPath, s.SSH.KnownHostsPath)
	if s.AdminKubeconfig.CopyToSSHUser {
		b.WriteString("            each master's admin.conf copied to the SSH user's ~/.kube/config\n")
	} else {
		b.WriteString("            admin.conf not copied to the SSH user's ~/.kube/config on the masters\n")
	}
	for i, h := range s.Hosts {
		label := "          "
		if i == 0 {
			label = "  hosts   "
		}
		fmt.Fprintf(&b, "%s  %-8s %-16s %s\n", label, h.Name, h.Address, h.Role)
	}
	lb := s.LoadBalancer
	ep := fmt.Sprintf("%s:%d", s.ControlPlaneEndpoint.Name, s.ControlPlaneEndpoint.Port)
	switch lb.Mode {
	case inventory.ModeKeepalivedHAProxy:
		fmt.Fprintf(&b, "  endpoint  %s → keepalived+haproxy on the %s, VIP %s, router id %d\n", ep, lb.Placement, lb.VIP, lb.VirtualRouterID)
	case inventory.ModeKubeVIP:
		iface := ""
		if lb.Interface != "" {
			iface = " on " + lb.Interface
		}
		fmt.Fprintf(&b, "  endpoint  %s → kube-vip on the masters, VIP %s%s\n", ep, lb.VIP, iface)
	case inventory.ModeLocalProxy:
		fmt.Fprintf(&b, "  endpoint  %s → %s on every node at 127.0.0.1\n", ep, lb.Proxy)
	default:
		fmt.Fprintf(&b, "  endpoint  %s → the external load balancer %s (masters reach themselves: hairpin rule)\n", ep, lb.Address)
	}
	fb := ""
	if s.Network.KubeProxyFallbackMode != "" {
		fb = " (" + s.Network.KubeProxyFallbackMode + " where the kernel has no ip_vs)"
	}
	fmt.Fprintf(&b, "  network   pods %s, services %s, kube-proxy %s%s, CNI %s\n", s.Network.PodSubnet, s.Network.ServiceSubnet, s.Network.KubeProxyMode, fb, s.CNI.Plugin)
	etcdHosts := hostNames(c.EtcdHosts())
	switch {
	case s.Etcd.Topology != inventory.EtcdExternal:
		b.WriteString("  etcd      stacked: a member on each master, made by kubeadm\n")
	case c.BuildsEtcd():
		fmt.Fprintf(&b, "  etcd      external, built by kubeha on %s (give no host role etcd for stacked etcd)\n", etcdHosts)
	default:
		fmt.Fprintf(&b, "  etcd      external, yours: %s (as the file has it)\n", strings.Join(s.Etcd.External.Endpoints, ", "))
	}
	b.WriteString("\n" + title.Render("plan") + "\n")
	masters, workers := len(c.Masters()), len(c.Workers())
	fmt.Fprintf(&b, "  facts, host-prep and the load balancer on %d hosts;", len(s.Hosts))
	if c.BuildsEtcd() {
		fmt.Fprintf(&b, " the etcd cluster on %s;", etcdHosts)
	}
	fmt.Fprintf(&b, " kubeadm init on %s;\n", firstMaster(c))
	fmt.Fprintf(&b, "  then %s one at a time, with %s beside them; kube-proxy, routes, CNI; verify.\n", count(max(0, masters-1), "more master"), count(workers, "worker"))
	for _, p := range inventory.Validate(c) {
		b.WriteString("  " + p.String() + "\n")
	}
	if m.saveErr != "" {
		b.WriteString("\n" + red.Render("✗ "+m.saveErr) + "\n")
	}
	b.WriteString("\nenter saves the inventory\n")
	return b.String()
}

// count is "1 worker", "2 workers".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// hostNames is "e1, e2, e3".
func hostNames(hs []inventory.Host) string {
	var names []string
	for _, h := range hs {
		names = append(names, h.Name)
	}
	return strings.Join(names, ", ")
}

func firstMaster(c *inventory.Cluster) string {
	if ms := c.Masters(); len(ms) > 0 {
		return ms[0].Name
	}
	return "(no master)"
}
