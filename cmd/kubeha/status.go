package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/lb"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/ssh"
	"github.com/kubeha/kubeha/state"
	"github.com/kubeha/kubeha/tui"
)

// unhealthyError is kubeha status finding the cluster not as it should be:
// each problem names the line of the report it is about.
type unhealthyError struct {
	cluster  string
	problems []string
}

func (e *unhealthyError) Error() string {
	return fmt.Sprintf("cluster %s is unhealthy: %s", e.cluster, strings.Join(e.problems, "; "))
}

// statusReport is what kubeha status shows. Its JSON field names are
// stable: scripts read them. A section is absent (null) when it was not
// asked (--offline) or does not apply (an external load balancer).
type statusReport struct {
	Cluster      string        `json:"cluster"`
	Offline      bool          `json:"offline"`
	Healthy      bool          `json:"healthy"`
	Problems     []string      `json:"problems"`
	Nodes        *nodesReport  `json:"nodes"`
	Etcd         *etcdReport   `json:"etcd"`
	LoadBalancer *lbReport     `json:"loadBalancer"`
	Certificates []certReport  `json:"certificates"`
	Journal      journalReport `json:"journal"`
}

// nodesReport is every node of the inventory and of the cluster, as the
// apiserver of master Via says.
type nodesReport struct {
	Via   string       `json:"via,omitempty"`
	Error string       `json:"error,omitempty"`
	Nodes []nodeReport `json:"nodes"`
}

type nodeReport struct {
	Name           string `json:"name"`
	InInventory    bool   `json:"inInventory"`
	InCluster      bool   `json:"inCluster"`
	Ready          bool   `json:"ready"`
	KubeletVersion string `json:"kubeletVersion,omitempty"`
	ControlPlane   bool   `json:"controlPlane"`
}

// etcdReport is etcd's members as host Via asked them: the stacked etcd's
// through master Via's member, the etcd kubeha built through etcd host
// Via's, the operator's from master Via with the client files there.
type etcdReport struct {
	Via     string                    `json:"via,omitempty"`
	Error   string                    `json:"error,omitempty"`
	Members []controlplane.EtcdMember `json:"members"`
}

// lbReport is the load balancer: who holds the VIP (keepalived-haproxy,
// kube-vip), or whether each node's proxy runs (local-proxy), and how each
// haproxy in front of the apiservers sees them, or whether each node of
// nginx's local proxy can connect to them. kube-vip has no backends: the
// VIP leads to its holder's own apiserver.
type lbReport struct {
	Mode string `json:"mode"`
	VIP  string `json:"vip,omitempty"`
	// Holders are the hosts holding the VIP: exactly one when healthy.
	Holders []string `json:"holders"`
	// Unit is the local proxy's systemd unit.
	Unit  string         `json:"unit,omitempty"`
	Hosts []lbHostReport `json:"hosts"`
}

type lbHostReport struct {
	Host      string `json:"host"`
	HoldsVIP  bool   `json:"holdsVIP"`
	UnitState string `json:"unitState,omitempty"`
	Error     string `json:"error,omitempty"`
	// Backends is each apiserver in front of which this host balances,
	// as BackendsSource says it was seen: how its haproxy sees it
	// (keepalived-haproxy, local-proxy with haproxy), or whether the
	// host can open a TCP connection to it (local-proxy with nginx,
	// which shows no state of its upstreams). Asked only when the host
	// answered the question above (Error empty).
	Backends []controlplane.Backend `json:"backends,omitempty"`
	// BackendsSource is where Backends come from: backendsHAProxy or
	// backendsConnect; empty when they were not asked.
	BackendsSource string `json:"backendsSource,omitempty"`
	// BackendsError is why Backends could not be read.
	BackendsError string `json:"backendsError,omitempty"`
	// MissingBackends are the inventory's masters this haproxy has no
	// server for.
	MissingBackends []string `json:"missingBackends,omitempty"`
}

// The sources of lbHostReport.Backends, stable values of its JSON.
const (
	// backendsHAProxy is haproxy's own view of each apiserver, from its
	// stats page: its health checks and kubeha's drains.
	backendsHAProxy = "haproxy-stats"
	// backendsConnect is a TCP connect from the host to each apiserver
	// nginx forwards to, UP when it opens: what the host's network lets
	// through, not nginx's own view, which Debian's nginx does not show.
	backendsConnect = "tcp-connect"
)

// certReport is one master's first certificate to expire.
type certReport struct {
	Host    string    `json:"host"`
	Error   string    `json:"error,omitempty"`
	First   string    `json:"first,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

type journalReport struct {
	Path   string         `json:"path"`
	Phases []journalPhase `json:"phases"`
}

// journalPhase is one phase of the registry as the journal records it;
// Status "not run" when it has no record.
type journalPhase struct {
	ID       string        `json:"id"`
	Status   string        `json:"status"`
	Finished time.Time     `json:"finished,omitzero"`
	Error    string        `json:"error,omitempty"`
	Hosts    []journalHost `json:"hosts,omitempty"`
}

type journalHost struct {
	Host   string `json:"host"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

const statusNotRun = "not run"

// statusFlags are kubeha status's flags.
type statusFlags struct {
	output  string
	asJSON  bool // deprecated --json
	offline bool
	timeout time.Duration
	conn    connectOptions
}

func (c *cmdContext) statusCmd() *cobra.Command {
	var f statusFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show how the cluster is (nodes, etcd, load balancer, certificates) and what the journal records; exit 4 when something is unhealthy",
		Long: `Asks the hosts, read-only and in parallel, how the cluster is: every node
and whether it is Ready (through one ready master's own apiserver), etcd's
members, their health and who leads (stacked: through a master's etcd pod;
the external etcd kubeha built: through an etcd host; your own: from a
master, with the client files kubeha put there), which host holds the
VIP (or whether each node's local proxy runs), how each haproxy in front
of the apiservers sees each master's apiserver (UP, DRAIN, DOWN, MAINT,
...), or, for nginx's local proxy, which shows no such state, whether each
node can open a TCP connection to it (UP or DOWN: the node's network, not
nginx's own view), each master's first certificate to expire; then shows
what the journal records of the last runs. It takes no lock, so it works
while a run goes on.

It exits 4 when something is unhealthy: a node not Ready or missing from
the cluster, an etcd member unhealthy or not exactly one leader, no host
(or more than one) holding the VIP, an apiserver a haproxy does not have
UP (drained by a kubeha run cut short, failing its health check, in
maintenance) or has no server for, an apiserver a node of nginx's local
proxy cannot connect to, a certificate expiring within 30 days,
a phase the journal records as not done, or a host that does not answer
within --timeout. Each such line is marked "!" and listed at the end.

With --offline no host is asked: only the journal is shown (and judged).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.asJSON {
				// Said here, not by cobra's MarkDeprecated, which writes
				// to stdout: the JSON would no longer parse.
				fmt.Fprintln(c.app.stderr, "kubeha: --json is deprecated: use --output json")
				f.output = "json"
			}
			// The values the run commands take are taken too, so that one
			// --output works with every command: the report has no live
			// view, so auto, tty and plain all print it as text.
			switch f.output {
			case "text", tui.ModeAuto, tui.ModeTTY, tui.ModePlain:
				f.output = "text"
			case tui.ModeJSON:
			default:
				return usageError{fmt.Errorf("--output %q: use text or json (auto, tty and plain are text here)", f.output)}
			}
			if f.timeout <= 0 {
				return usageError{fmt.Errorf("--timeout %v: use a positive duration", f.timeout)}
			}
			return readOnly("status", c.status(cmd.Context(), &f))
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.output, "output", "text", "output: text or json (auto, tty and plain, as the run commands take, are text)")
	fs.BoolVar(&f.asJSON, "json", false, "the same as --output json (deprecated)")
	_ = fs.MarkHidden("json")
	fs.BoolVar(&f.offline, "offline", false, "ask no host: show and judge only the journal")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long each host has to answer each question")
	f.conn.bind(cmd)
	return cmd
}

func (c *cmdContext) status(ctx context.Context, f *statusFlags) error {
	cl, err := c.loadInventory()
	if err != nil {
		return err
	}
	path := filepath.Join(*c.stateDir, cl.Metadata.Name, "state.json")
	j, err := state.Read(path, cl.Metadata.Name)
	if err != nil {
		return err
	}
	// Written redacted; redacted again for journals of older kubeha
	// versions, which wrote errors as they were.
	j = j.Redacted(c.app.secrets)
	r := &statusReport{Cluster: cl.Metadata.Name, Offline: f.offline, Journal: journalOf(path, j, c.app.registry())}
	if !f.offline {
		// Warnings of the connection (an unchecked host key) go to
		// stderr: stdout is the report.
		o := f.conn
		o.secrets, o.stdin, o.stderr = c.app.secrets, c.app.stdin, c.app.stderr
		o.events = events.Stamped(events.Redacting(tui.NewPlain(c.app.stderr, false), c.app.secrets), time.Now)
		hosts, closeHosts, err := c.app.connect(ctx, cl, o)
		if err != nil {
			return err
		}
		if closeHosts != nil {
			defer func() { _ = closeHosts() }()
		}
		bounded := boundedHosts{Hosts: hosts, limit: f.timeout}
		cp := controlplane.New(cl, bounded, c.app.secrets, filepath.Join(*c.stateDir, cl.Metadata.Name))
		probeCluster(ctx, cl, cp, r)
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	judge(r, time.Now())
	if f.output == "json" {
		enc := json.NewEncoder(c.app.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		printStatus(c.app.stdout, r, time.Now())
	}
	if !r.Healthy {
		return &unhealthyError{cluster: r.Cluster, problems: r.Problems}
	}
	return nil
}

// boundedHosts gives every command on a host at most limit, so one host
// that does not answer costs limit, not the whole status.
type boundedHosts struct {
	phases.Hosts
	limit time.Duration
}

func (b boundedHosts) Run(ctx context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	rctx, cancel := context.WithTimeout(ctx, b.limit)
	defer cancel()
	res, err := b.Hosts.Run(rctx, host, cmd)
	if err != nil && ctx.Err() == nil && errors.Is(rctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%s: no answer within %v (%s)", host, b.limit, cmd.Name)
	}
	return res, err
}

// probeCluster fills r's live sections, asking the hosts in parallel. A
// host that does not answer is recorded in the section that asked it.
func probeCluster(ctx context.Context, cl *inventory.Cluster, cp *controlplane.Client, r *statusReport) {
	var wg sync.WaitGroup
	wg.Go(func() { r.Nodes, r.Etcd = probeControlPlane(ctx, cl, cp) })
	wg.Go(func() { r.LoadBalancer = probeLoadBalancer(ctx, cl, cp) })
	wg.Go(func() { r.Certificates = probeCertificates(ctx, cl, cp) })
	wg.Wait()
}

// probeControlPlane reads the nodes through the control host (a ready
// master, picked by asking them all), and etcd's members: the stacked
// etcd's through the control host's member; the etcd kubeha built through
// the first etcd host that answers, whatever the masters do; the
// operator's with the client files on the masters, the control host
// first.
func probeControlPlane(ctx context.Context, cl *inventory.Cluster, cp *controlplane.Client) (*nodesReport, *etcdReport) {
	etcd := &etcdReport{Members: []controlplane.EtcdMember{}}
	external := cl.Spec.Etcd.Topology == inventory.EtcdExternal
	var wg sync.WaitGroup
	if external && cl.BuildsEtcd() {
		wg.Go(func() { probeExternalEtcd(ctx, cp, nil, etcd) })
	}
	nodes := &nodesReport{}
	via, err := cp.Control(ctx)
	if err != nil {
		nodes.Error = err.Error()
		nodes.Nodes = mergeNodes(cl, nil)
		if !cl.BuildsEtcd() {
			etcd.Error = err.Error()
		}
		wg.Wait()
		return nodes, etcd
	}
	wg.Go(func() {
		nodes.Via = via.Name
		st, err := cp.State(ctx, via)
		if err != nil {
			nodes.Error = hostErr(via.Name, err).Error()
		}
		nodes.Nodes = mergeNodes(cl, st.Nodes)
	})
	switch {
	case !external:
		wg.Go(func() {
			etcd.Via = via.Name
			ms, err := cp.EtcdMembers(ctx, via)
			if err != nil {
				etcd.Error = hostErr(via.Name, err).Error()
				return
			}
			etcd.Members = ms
		})
	case !cl.BuildsEtcd():
		masters := []inventory.Host{via}
		for _, m := range cl.Masters() {
			if m.Name != via.Name {
				masters = append(masters, m)
			}
		}
		wg.Go(func() { probeExternalEtcd(ctx, cp, masters, etcd) })
	}
	wg.Wait()
	return nodes, etcd
}

// probeExternalEtcd fills etcd with an external etcd's members
// (controlplane's ExternalEtcdMembers), asked from masters for the
// operator's etcd, from the etcd hosts for the one kubeha built.
func probeExternalEtcd(ctx context.Context, cp *controlplane.Client, masters []inventory.Host, etcd *etcdReport) {
	via, ms, err := cp.ExternalEtcdMembers(ctx, masters)
	etcd.Via = via
	if err != nil {
		etcd.Error = err.Error()
		return
	}
	etcd.Members = ms
}

// mergeNodes lists the inventory's nodes in its order, then the
// cluster's nodes the inventory does not list, by name.
func mergeNodes(cl *inventory.Cluster, live []controlplane.NodeState) []nodeReport {
	byName := map[string]controlplane.NodeState{}
	for _, n := range live {
		byName[n.Name] = n
	}
	out := []nodeReport{}
	listed := map[string]bool{}
	for _, h := range cl.Spec.Hosts {
		// Dedicated load-balancer hosts and etcd hosts are never nodes.
		if h.Role == inventory.RoleLoadBalancer || h.Role == inventory.RoleEtcd {
			continue
		}
		listed[h.Name] = true
		n, ok := byName[h.Name]
		out = append(out, nodeReport{Name: h.Name, InInventory: true, InCluster: ok, Ready: n.Ready,
			KubeletVersion: n.KubeletVersion, ControlPlane: h.Role == inventory.RoleMaster})
	}
	var extra []nodeReport
	for _, n := range live {
		if !listed[n.Name] {
			extra = append(extra, nodeReport{Name: n.Name, InCluster: true, Ready: n.Ready, KubeletVersion: n.KubeletVersion, ControlPlane: n.ControlPlane})
		}
	}
	slices.SortFunc(extra, func(a, b nodeReport) int { return strings.Compare(a.Name, b.Name) })
	return append(out, extra...)
}

// probeLoadBalancer asks each load-balancer host whether it holds the
// VIP, or whether its local proxy runs, and how its haproxy sees the
// apiservers or, with nginx, whether it can connect to them; nil for modes
// with nothing of kubeha's to ask (external).
func probeLoadBalancer(ctx context.Context, cl *inventory.Cluster, cp *controlplane.Client) *lbReport {
	spec := cl.Spec.LoadBalancer
	r := &lbReport{Mode: spec.Mode, Holders: []string{}}
	var hosts []inventory.Host
	switch spec.Mode {
	case inventory.ModeKeepalivedHAProxy, inventory.ModeKubeVIP:
		r.VIP, hosts = spec.VIP, cl.LBHosts()
	case inventory.ModeLocalProxy:
		// haproxy as a static pod has no unit to ask: only its backends.
		switch {
		case spec.Proxy == inventory.ProxyNginx:
			r.Unit = "kubeha-nginx"
		case !spec.StaticPods:
			r.Unit = "haproxy"
		}
		hosts = lb.Hosts(cl)
	default:
		return nil
	}
	balancing := map[string]bool{}
	for _, h := range cp.Balancers() {
		balancing[h.Name] = true
	}
	// nginx shows no state of its upstreams: each of its nodes is asked
	// whether it reaches them instead.
	reaching := spec.Mode == inventory.ModeLocalProxy && spec.Proxy == inventory.ProxyNginx
	r.Hosts = make([]lbHostReport, len(hosts))
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			hr := lbHostReport{Host: h.Name}
			var err error
			switch {
			case r.Unit != "":
				hr.UnitState, err = cp.UnitState(ctx, h.Name, r.Unit)
			case r.VIP != "":
				hr.HoldsVIP, err = cp.HoldsAddress(ctx, h.Name, r.VIP)
			}
			// Backends are not asked of a host that did not answer: it
			// is one problem, not two.
			switch {
			case err != nil:
				hr.Error = hostErr(h.Name, err).Error()
			case balancing[h.Name]:
				probeBackends(ctx, cl, &hr, backendsHAProxy, cp.Backends)
			case reaching:
				probeBackends(ctx, cl, &hr, backendsConnect, cp.ReachBackends)
			}
			r.Hosts[i] = hr
		})
	}
	wg.Wait()
	for _, h := range r.Hosts {
		if h.HoldsVIP {
			r.Holders = append(r.Holders, h.Host)
		}
	}
	return r
}

// probeBackends asks hr's host, with read (controlplane's Backends or
// ReachBackends, source saying which), how it sees each apiserver, and
// notes the masters it has no server for.
func probeBackends(ctx context.Context, cl *inventory.Cluster, hr *lbHostReport, source string,
	read func(context.Context, string) ([]controlplane.Backend, error)) {
	hr.BackendsSource = source
	bs, err := read(ctx, hr.Host)
	if err != nil {
		hr.BackendsError = hostErr(hr.Host, err).Error()
		return
	}
	hr.Backends = bs
	for _, m := range cl.Masters() {
		if !slices.ContainsFunc(bs, func(b controlplane.Backend) bool { return b.Server == m.Name }) {
			hr.MissingBackends = append(hr.MissingBackends, m.Name)
		}
	}
}

// probeCertificates asks every master for its first certificate to
// expire (controlplane's CertificateExpiry); a master that does not
// answer gets its error.
func probeCertificates(ctx context.Context, cl *inventory.Cluster, cp *controlplane.Client) []certReport {
	got, err := cp.CertificateExpiry(ctx)
	byHost := map[string]controlplane.MasterCertificates{}
	for _, m := range got {
		byHost[m.Host] = m
	}
	out := []certReport{}
	for _, m := range cl.Masters() {
		cr := certReport{Host: m.Name}
		mc, ok := byHost[m.Name]
		switch first, has := mc.Earliest(); {
		case !ok:
			cr.Error = errorFor(m.Name, err)
		case !has:
			cr.Error = m.Name + ": no certificate kubeadm renews"
		default:
			cr.First, cr.Expires = first.Name, first.Expires
		}
		out = append(out, cr)
	}
	return out
}

// errorFor is the error of err (an errors.Join of errors that each name
// their host) that names host, or all of err.
func errorFor(host string, err error) string {
	if err == nil {
		return host + ": did not answer"
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if e != nil && strings.HasPrefix(e.Error(), host+": ") {
				return e.Error()
			}
		}
	}
	return hostErr(host, err).Error()
}

// hostErr is err named after host, unless it names it already.
func hostErr(host string, err error) error {
	if strings.HasPrefix(err.Error(), host+": ") {
		return err
	}
	return fmt.Errorf("%s: %w", host, err)
}

func journalOf(path string, j *state.Journal, registry []phases.Phase) journalReport {
	r := journalReport{Path: path, Phases: []journalPhase{}}
	for _, p := range registry {
		jp := journalPhase{ID: p.ID(), Status: statusNotRun}
		if rec := j.Phases[p.ID()]; rec != nil {
			jp.Status, jp.Finished, jp.Error = rec.Status, rec.Finished, rec.Error
			for _, h := range slices.Sorted(maps.Keys(rec.Hosts)) {
				hr := rec.Hosts[h]
				jp.Hosts = append(jp.Hosts, journalHost{Host: h, Status: hr.Status, Error: hr.Error})
			}
		}
		r.Phases = append(r.Phases, jp)
	}
	return r
}

// The verdict of each line of the report: "" when it is healthy, else the
// problem, naming the line. judge and printStatus both use them, so the
// lines marked and the problems listed never disagree.

func nodeProblem(n nodeReport) string {
	switch {
	case !n.InCluster:
		return "node " + n.Name + ": in the inventory, not in the cluster"
	case !n.Ready && n.InInventory:
		return "node " + n.Name + ": not Ready"
	case !n.Ready:
		return "node " + n.Name + ": not Ready (and not in the inventory)"
	}
	return ""
}

func memberProblem(m controlplane.EtcdMember) string {
	if m.Healthy {
		return ""
	}
	p := "etcd member " + m.Name + " (" + m.ID + "): unhealthy"
	if m.Error != "" {
		p += ": " + m.Error
	}
	return p
}

// leaderProblem is etcd without exactly one leader.
func leaderProblem(e *etcdReport) string {
	var leaders []string
	for _, m := range e.Members {
		if m.Leader {
			leaders = append(leaders, m.Name)
		}
	}
	switch len(leaders) {
	case 1:
		return ""
	case 0:
		return "etcd: no member leads"
	}
	return "etcd: " + strings.Join(leaders, ", ") + " each say they lead"
}

func lbHostProblem(r *lbReport, h lbHostReport) string {
	switch {
	case h.Error != "":
		return "load balancer " + h.Error
	case r.Unit != "" && h.UnitState != "active":
		return "load balancer " + h.Host + ": " + r.Unit + " is " + h.UnitState
	}
	return ""
}

// handBack is what hands every drained master back to the load
// balancers: the run that drained it, again (the upgrade phase hands
// every master back before anything else; a renewal hands each back after
// its restart), or the upgrade phase forced, which upgrades nothing the
// inventory does not ask.
const handBack = "rerun it (kubeha apply, kubeha certs renew), or hand every master back with kubeha phase upgrade --force"

// backendUp reports whether haproxy sends b new connections and checks
// its health: UP, or UP failing its checks (UP 1/3), not down yet.
func backendUp(b controlplane.Backend) bool {
	return b.State == "UP" || strings.HasPrefix(b.State, "UP ")
}

// backendState is b's state as status shows it: haproxy's, and whether
// its health checks are off or what the last one found when it is down.
func backendState(b controlplane.Backend) string {
	switch {
	case backendUp(b), b.State == "no check", strings.HasPrefix(b.State, "MAINT"):
		// "no check" says it; in maintenance haproxy shows no check
		// result, checks on or off.
		return b.State
	case b.Check == "":
		return b.State + " (checks off)"
	case strings.HasPrefix(b.State, "DOWN"):
		return b.State + " (last check " + b.Check + ")"
	}
	return b.State
}

// backendLabel heads h's backend lines in the text and names, in a
// problem, whose view could not be read: haproxy's, or a TCP connect's.
func backendLabel(h lbHostReport) string {
	if h.BackendsSource == backendsConnect {
		return "tcp connect"
	}
	return "haproxy"
}

// reachedState is b, reached by a TCP connect, as status shows it: UP, or
// DOWN and why the connect failed.
func reachedState(b controlplane.Backend) string {
	if b.State == "UP" || b.Check == "" {
		return b.State
	}
	return b.State + " (" + b.Check + ")"
}

// backendProblem is an apiserver that h's haproxy does not have UP, or
// that h cannot connect to (nginx), with what to do about it.
func backendProblem(h lbHostReport, b controlplane.Backend) string {
	if backendUp(b) {
		return ""
	}
	host := h.Host
	if h.BackendsSource == backendsConnect {
		return "nginx on " + host + ": the apiserver of " + b.Server + " (" + b.Address + ") is " + reachedState(b) + ": " +
			host + " cannot open a TCP connection to it, so its nginx cannot forward there either: see to the apiserver on " +
			b.Server + " and whether " + host + " reaches it"
	}
	p := "haproxy on " + host + ": the apiserver of " + b.Server + " is " + backendState(b) + ": "
	switch {
	case strings.HasPrefix(b.State, "DRAIN"):
		return p + "a kubeha run (upgrade, certs renew) was cut short while it was drained; " + handBack
	case strings.HasPrefix(b.State, "DOWN") && b.Check == "":
		return p + "a kubeha run (upgrade, certs renew) was cut short while it was drained, and unchecked it stays out even once its apiserver is well; " + handBack
	case strings.HasPrefix(b.State, "DOWN"):
		return p + "it fails haproxy's health check (GET /readyz): see to the apiserver on " + b.Server + " and whether " + host + " reaches it"
	case b.State == "no check":
		return p + "its health checks were turned off outside kubeha, so haproxy sends it clients even when it fails; kubeha phase upgrade --force turns them on again"
	case strings.HasPrefix(b.State, "MAINT"):
		return p + "put in maintenance outside kubeha, haproxy sends it nothing; kubeha phase upgrade --force hands it back"
	}
	return p + "haproxy's stats page on " + host + " (127.0.0.1:" + strconv.Itoa(lb.StatsPort) + ") says why"
}

// missingBackendProblem is a master that host's haproxy has no server for.
func missingBackendProblem(host, master string) string {
	return "haproxy on " + host + ": no server for the apiserver of " + master + ": run kubeha apply (its load-balancer phase puts every master in haproxy.cfg)"
}

func backendsErrorProblem(h lbHostReport) string {
	if h.BackendsError == "" {
		return ""
	}
	return backendLabel(h) + " on " + h.BackendsError
}

func vipProblem(r *lbReport) string {
	if r.VIP == "" {
		return ""
	}
	switch len(r.Holders) {
	case 1:
		return ""
	case 0:
		return "VIP " + r.VIP + ": no host holds it"
	}
	return "VIP " + r.VIP + ": held by " + strings.Join(r.Holders, ", ") + " at once"
}

func certProblem(c certReport, now time.Time) string {
	switch {
	case c.Error != "":
		return "certificates " + c.Error
	case c.Expires.Sub(now) < certsSoon:
		return fmt.Sprintf("certificates %s: %s expires %s, within 30 days: run kubeha certs renew", c.Host, c.First, c.Expires.Format(time.RFC3339))
	}
	return ""
}

// phaseProblem is a phase the journal records as not done: running (a
// run goes on, or was killed), failed or interrupted. A phase never run
// is not a problem: it may have been skipped on purpose, or the journal
// be on another machine.
func phaseProblem(p journalPhase) string {
	if p.Status == state.StatusDone || p.Status == statusNotRun {
		return ""
	}
	return "journal phase " + p.ID + ": " + p.Status
}

// judge fills r.Problems and r.Healthy from the report's lines.
func judge(r *statusReport, now time.Time) {
	r.Problems = []string{}
	add := func(p string) {
		if p != "" {
			r.Problems = append(r.Problems, p)
		}
	}
	if r.Nodes != nil {
		if r.Nodes.Error != "" {
			add("nodes: " + r.Nodes.Error)
		}
		for _, n := range r.Nodes.Nodes {
			if r.Nodes.Error == "" || n.InCluster {
				add(nodeProblem(n))
			}
		}
	}
	if r.Etcd != nil {
		if r.Etcd.Error != "" {
			add("etcd: " + r.Etcd.Error)
		} else {
			for _, m := range r.Etcd.Members {
				add(memberProblem(m))
			}
			add(leaderProblem(r.Etcd))
		}
	}
	if r.LoadBalancer != nil {
		for _, h := range r.LoadBalancer.Hosts {
			add(lbHostProblem(r.LoadBalancer, h))
			for _, b := range h.Backends {
				add(backendProblem(h, b))
			}
			for _, m := range h.MissingBackends {
				add(missingBackendProblem(h.Host, m))
			}
			add(backendsErrorProblem(h))
		}
		add(vipProblem(r.LoadBalancer))
	}
	for _, c := range r.Certificates {
		add(certProblem(c, now))
	}
	for _, p := range r.Journal.Phases {
		add(phaseProblem(p))
	}
	r.Healthy = len(r.Problems) == 0
}

// printStatus writes the report as text: one section each, a line per
// thing, "!" before each line with a problem; then the problems.
func printStatus(out io.Writer, r *statusReport, now time.Time) {
	var w bytes.Buffer
	defer func() {
		// Columns pad with spaces; no line ends with them.
		for _, l := range strings.SplitAfter(w.String(), "\n") {
			fmt.Fprint(out, strings.TrimRight(l, " \n")+strings.Repeat("\n", strings.Count(l, "\n")))
		}
	}()
	mark := func(problem string) string {
		if problem != "" {
			return "! "
		}
		return "  "
	}
	verdict := "healthy"
	if !r.Healthy {
		verdict = fmt.Sprintf("%d problems (lines marked !)", len(r.Problems))
		if len(r.Problems) == 1 {
			verdict = "1 problem (the line marked !)"
		}
	}
	fmt.Fprintf(&w, "cluster %s: %s\n", r.Cluster, verdict)
	if r.Offline {
		fmt.Fprintln(&w, "offline: no host was asked; only the journal is shown")
	}
	if n := r.Nodes; n != nil {
		fmt.Fprintf(&w, "nodes%s\n", via(n.Via))
		if n.Error != "" {
			fmt.Fprintf(&w, "! %s\n", n.Error)
		}
		for _, nd := range n.Nodes {
			if n.Error != "" && !nd.InCluster {
				continue // not known: the apiserver did not answer
			}
			ready := "NotReady"
			if nd.Ready {
				ready = "Ready"
			}
			note := ""
			switch {
			case !nd.InCluster:
				ready, note = "missing", "in the inventory, not in the cluster"
			case !nd.InInventory:
				note = "not in the inventory"
			case nd.ControlPlane:
				note = "control-plane"
			}
			fmt.Fprintf(&w, "%s%-20s %-9s %-10s %s\n", mark(nodeProblem(nd)), nd.Name, ready, nd.KubeletVersion, note)
		}
	}
	if e := r.Etcd; e != nil {
		fmt.Fprintf(&w, "etcd%s\n", via(e.Via))
		if e.Error != "" {
			fmt.Fprintf(&w, "! %s\n", e.Error)
		}
		for _, m := range e.Members {
			health := "healthy"
			if !m.Healthy {
				health = "unhealthy"
				if m.Error != "" {
					health += " (" + m.Error + ")"
				}
			}
			lead := ""
			if m.Leader {
				lead = "leader"
			}
			fmt.Fprintf(&w, "%s%-20s %-16s %-6s %s %s\n", mark(memberProblem(m)), m.Name, m.ID, lead, m.ClientURL, health)
		}
		if e.Error == "" {
			if p := leaderProblem(e); p != "" {
				fmt.Fprintf(&w, "! %s\n", p)
			}
		}
	}
	if l := r.LoadBalancer; l != nil {
		reached := slices.ContainsFunc(l.Hosts, func(h lbHostReport) bool { return h.BackendsSource == backendsConnect })
		switch {
		case l.Unit != "" && reached:
			fmt.Fprintf(&w, "load balancer %s (%s on each node; tcp connect: whether the node reaches each apiserver, not nginx's own view)\n", l.Mode, l.Unit)
		case l.Unit != "":
			fmt.Fprintf(&w, "load balancer %s (%s on each node)\n", l.Mode, l.Unit)
		case l.VIP == "":
			fmt.Fprintf(&w, "load balancer %s (haproxy on each node)\n", l.Mode)
		default:
			holders := "nobody"
			if len(l.Holders) > 0 {
				holders = strings.Join(l.Holders, ", ")
			}
			// kube-vip balances nothing: there are no backends to show.
			note := ""
			if l.Mode == inventory.ModeKubeVIP {
				note = " (no backends: a client of the VIP reaches its holder's own apiserver)"
			}
			fmt.Fprintf(&w, "load balancer %s%s\n%sVIP %s held by %s\n", l.Mode, note, mark(vipProblem(l)), l.VIP, holders)
		}
		for _, h := range l.Hosts {
			what := h.UnitState
			switch {
			case h.Error != "":
				what = h.Error
			case l.VIP != "" && h.HoldsVIP:
				what = "holds the VIP"
			case l.VIP != "":
				what = "standby"
			}
			fmt.Fprintf(&w, "%s  %-18s %s\n", mark(lbHostProblem(l, h)), h.Host, what)
			printBackends(&w, h, mark)
		}
	}
	if r.Certificates != nil {
		fmt.Fprintln(&w, "certificates (first to expire on each master)")
		for _, c := range r.Certificates {
			if c.Error != "" {
				fmt.Fprintf(&w, "! %s\n", c.Error)
				continue
			}
			fmt.Fprintf(&w, "%s%-20s %s on %s (in %d days)\n", mark(certProblem(c, now)), c.Host, c.First,
				c.Expires.Format(time.RFC3339), int(c.Expires.Sub(now).Hours()/24))
		}
	}
	fmt.Fprintf(&w, "journal %s\n", r.Journal.Path)
	for _, p := range r.Journal.Phases {
		when := ""
		if !p.Finished.IsZero() {
			when = p.Finished.Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(&w, "%s%-20s %-12s %s\n", mark(phaseProblem(p)), p.ID, p.Status, when)
		for _, h := range p.Hosts {
			if h.Status != state.StatusDone {
				fmt.Fprintf(&w, "    %s: %s %s\n", h.Host, h.Status, h.Error)
			}
		}
	}
	if len(r.Problems) > 0 {
		fmt.Fprintln(&w, "problems")
		for _, p := range r.Problems {
			fmt.Fprintf(&w, "  %s\n", p)
		}
	}
}

// printBackends writes how h's haproxy sees the apiservers, or whether h
// connects to them (nginx): those UP on one line, then a line marked "!"
// for each other, each missing and the error.
func printBackends(w io.Writer, h lbHostReport, mark func(string) string) {
	const line = "%s    %-16s %s\n"
	label := backendLabel(h)
	state := backendState
	if h.BackendsSource == backendsConnect {
		state = reachedState
	}
	var up []string
	for _, b := range h.Backends {
		if backendUp(b) {
			up = append(up, b.Server+" "+state(b))
		}
	}
	if len(up) > 0 {
		fmt.Fprintf(w, line, mark(""), label, strings.Join(up, ", "))
	}
	for _, b := range h.Backends {
		if p := backendProblem(h, b); p != "" {
			what := b.Server
			if b.Address != "" {
				what += " " + b.Address
			}
			fmt.Fprintf(w, line, mark(p), label, what+" "+state(b))
		}
	}
	for _, m := range h.MissingBackends {
		fmt.Fprintf(w, line, mark(missingBackendProblem(h.Host, m)), label, m+" missing: no server for it")
	}
	if p := backendsErrorProblem(h); p != "" {
		fmt.Fprintf(w, line, mark(p), label, h.BackendsError)
	}
}

func via(host string) string {
	if host == "" {
		return ""
	}
	return " (asked through " + host + ")"
}
