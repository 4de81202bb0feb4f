// Package controlplane is kubeha's one way to a cluster's control plane.
//
// It picks, once per run and by asking the masters, the control host: the
// master through which kubeha talks to the cluster. Every apiserver or etcd
// access of kubeha goes through a Client with an explicit Route (a
// master's own apiserver, or the endpoint), and the Client owns what
// depends on that: the readiness waits, etcd membership, the nodes' Pod
// CIDRs, join credentials (tokens, certificate uploads, their revocation)
// and the local admin kubeconfig. Phases and day-2 operations build on it;
// none of them writes a kubectl or etcdctl command of its own.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// Hosts reaches the cluster's machines by inventory name (the ssh
// package's Pool). It must be safe for concurrent use.
type Hosts interface {
	Run(ctx context.Context, host string, cmd ssh.Command) (ssh.Result, error)
	Download(ctx context.Context, host, path string) ([]byte, error)
	Upload(ctx context.Context, host string, f ssh.File) error
}

// ControlPlaneMark is the file kubeha writes on a master once kubeadm init
// or join --control-plane finished there.
const ControlPlaneMark = "/etc/kubeha/control-plane.done"

// Route is how a command reaches an apiserver.
type Route int

const (
	// Own is a master's own apiserver, at its internal address (which is
	// in its serving certificate). Right after init or a join the endpoint
	// may not route yet: through it, the first join waited 12.8 s and a
	// later step 22 s (measured). A master's own apiserver is also what
	// its own health means.
	Own Route = iota
	// Endpoint is the control-plane endpoint as the host resolves its
	// name: what nodes and operators use.
	Endpoint
)

// ErrNoControlPlane means no master is a finished control-plane node.
var ErrNoControlPlane = errors.New("no master is a finished control-plane node yet: run the kubeadm-init phase first")

// Client is one run's way to the control plane. Make one per run with New;
// For gives each step a Client that emits its events under the step's
// name and shares everything else. Safe for concurrent use.
type Client struct {
	*run
	log events.Emitter
}

// run is what the Clients of one run share.
type run struct {
	cluster  *inventory.Cluster
	hosts    Hosts
	secrets  *events.Secrets
	stateDir string

	mu      sync.Mutex
	control *inventory.Host // picked once per run
	cidrs   map[string]string

	join joinMaterial
}

// New returns the control-plane client of one run of cluster c. Secrets it
// creates or reads are added to secrets before they can reach any output;
// the admin kubeconfig is saved in stateDir.
func New(c *inventory.Cluster, hosts Hosts, secrets *events.Secrets, stateDir string) *Client {
	return &Client{run: &run{cluster: c, hosts: hosts, secrets: secrets, stateDir: stateDir}}
}

// For returns a Client sharing c's run whose events go to log.
func (c *Client) For(log events.Emitter) *Client { return &Client{run: c.run, log: log} }

// readyzURL is a master's own apiserver's /readyz, as the master itself
// reaches it.
func readyzURL() string {
	return "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(inventory.APIServerPort)) + "/readyz"
}

// OwnServer is master m's own apiserver as other hosts reach it.
func OwnServer(m inventory.Host) string {
	return "https://" + net.JoinHostPort(m.InternalAddress, strconv.Itoa(inventory.APIServerPort))
}

// Control returns the control host: the first master, in inventory order,
// that kubeha marked a finished control-plane node and whose own apiserver
// is ready, or else the first that is finished at all (an apiserver that
// is restarting). The masters are asked once, in parallel, and the answer
// kept for the run: every step of a run then talks to the same apiserver.
func (c *Client) Control(ctx context.Context) (inventory.Host, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.control != nil {
		return *c.control, nil
	}
	masters := c.cluster.Masters()
	state := make([]string, len(masters))
	errs := make([]error, len(masters))
	probe := c.probeScript()
	var wg sync.WaitGroup
	for i, m := range masters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.hosts.Run(ctx, m.Name, ssh.Command{Name: "is it a control-plane node", Script: probe.String()})
			state[i], errs[i] = strings.TrimSpace(res.Stdout), err
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return inventory.Host{}, err
	}
	pick := -1
	for i := range masters {
		if state[i] == "ready" {
			pick = i
			break
		}
		if state[i] == "joined" && pick < 0 {
			pick = i
		}
	}
	if pick < 0 {
		if err := errors.Join(errs...); err != nil {
			return inventory.Host{}, fmt.Errorf("%w (and some masters did not answer: %v)", ErrNoControlPlane, err)
		}
		return inventory.Host{}, ErrNoControlPlane
	}
	m := masters[pick]
	c.control = &m
	return m, nil
}

// IsReady reports whether master m is a finished control-plane node whose
// own apiserver answers ready, asking it now.
func (c *Client) IsReady(ctx context.Context, m inventory.Host) (bool, error) {
	res, err := c.quiet(ctx, m.Name, "is it a control-plane node", c.probeScript())
	return strings.TrimSpace(res.Stdout) == "ready", err
}

// probeScript says what a master is to the control plane (controlplane/probe).
func (c *Client) probeScript() scripts.Script {
	return scripts.Render("controlplane/probe", struct{ Mark, Readyz string }{ControlPlaneMark, readyzURL()})
}

// Initialized records that kubeadm init just made m the first control-plane
// node: it is the control host for the rest of the run.
func (c *Client) Initialized(m inventory.Host) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.control = &m
}

// Kubectl runs body on the control host with k, kubectl as cluster-admin
// against route's apiserver (the controlplane/kubectl frame). Its output
// streams as events; secrets are masked in any error.
func (c *Client) Kubectl(ctx context.Context, route Route, name string, body scripts.Script, secrets ...string) (ssh.Result, error) {
	m, err := c.Control(ctx)
	if err != nil {
		return ssh.Result{}, err
	}
	return c.KubectlOn(ctx, m, route, name, body, secrets...)
}

// Query runs body like Kubectl and returns its standard output, which is
// data, not progress: it is not streamed as events.
func (c *Client) Query(ctx context.Context, route Route, name string, body scripts.Script) (string, error) {
	m, err := c.Control(ctx)
	if err != nil {
		return "", err
	}
	res, err := c.exec(ctx, m.Name, ssh.Command{Name: name, Script: c.frame(m, route, "20s", body).String()}, false)
	return res.Stdout, err
}

// KubectlOn is Kubectl on master m instead of the control host: a master
// just joined, asking its own apiserver.
func (c *Client) KubectlOn(ctx context.Context, m inventory.Host, route Route, name string, body scripts.Script, secrets ...string) (ssh.Result, error) {
	return c.exec(ctx, m.Name, ssh.Command{Name: name, Script: c.frame(m, route, "20s", body).String(), Secrets: secrets}, true)
}

// frame renders body inside the kubectl frame for master m and route.
func (c *Client) frame(m inventory.Host, route Route, timeout string, body scripts.Script) scripts.Script {
	return Frame(m, route, timeout, body)
}

// Frame is body as the Client runs it on master m: inside the kubectl frame
// (controlplane/kubectl), with k reaching route's apiserver and giving up
// on a request after timeout. Exported so that the tests of packages whose
// scripts run in it check them whole.
func Frame(m inventory.Host, route Route, timeout string, body scripts.Script) scripts.Script {
	return scripts.Render("controlplane/kubectl", struct {
		Own             bool
		Server, Timeout string
		Body            scripts.Script
	}{route == Own, OwnServer(m), timeout, body})
}

// exec runs cmd on host, its output streamed as events when loud.
func (c *Client) exec(ctx context.Context, host string, cmd ssh.Command, loud bool) (ssh.Result, error) {
	if loud {
		log := c.log.ForHost(host)
		cmd.OnLine = func(stream, line string) { log.Line(stream, line) }
	}
	return c.hosts.Run(ctx, host, cmd)
}

// quiet runs a script whose output is data, on host.
func (c *Client) quiet(ctx context.Context, host, name string, s scripts.Script) (ssh.Result, error) {
	return c.exec(ctx, host, ssh.Command{Name: name, Script: s.String()}, false)
}

// WaitReady waits up to secs for master m's own apiserver to be ready.
func (c *Client) WaitReady(ctx context.Context, m inventory.Host, secs int) error {
	_, err := c.quiet(ctx, m.Name, "wait for the apiserver", scripts.Render("controlplane/wait-ready", struct {
		Secs   int
		Readyz string
	}{secs, readyzURL()}))
	return err
}

// WaitEtcd waits up to secs until master m's own apiserver finds etcd
// healthy.
func (c *Client) WaitEtcd(ctx context.Context, m inventory.Host, secs int) error {
	body := scripts.Render("controlplane/wait-etcd", struct{ Secs int }{secs})
	_, err := c.exec(ctx, m.Name, ssh.Command{Name: "wait for etcd", Script: c.frame(m, Own, "5s", body).String()}, false)
	return err
}

// Finished reports whether host h, which kubeha did not mark, is in fact a
// working node (for a master: its apiserver ready and the node labelled a
// control-plane node), as a kubeadm run cut short after it finished
// leaves it. An error reaching the host is an error; a host that is not
// finished is false.
func (c *Client) Finished(ctx context.Context, h inventory.Host, controlPlane bool) bool {
	body := scripts.Render("controlplane/finished", struct {
		ControlPlane bool
		Readyz, Node string
	}{controlPlane, readyzURL(), h.Name})
	s := body
	if controlPlane {
		s = c.frame(h, Endpoint, "5s", body)
	}
	_, err := c.quiet(ctx, h.Name, "check an interrupted join", s)
	return err == nil
}

// EndpointStatus is the HTTP status of /readyz through the endpoint as
// host resolves it ("000" when nothing answers).
func (c *Client) EndpointStatus(ctx context.Context, host string) (string, error) {
	res, err := c.quiet(ctx, host, "check the endpoint", scripts.Render("controlplane/endpoint-status", struct{ Readyz string }{c.endpointReadyz()}))
	return strings.TrimSpace(res.Stdout), err
}

// WaitEndpoint waits up to secs for a ready apiserver through the endpoint
// as host resolves it.
func (c *Client) WaitEndpoint(ctx context.Context, host string, secs int) error {
	u := c.endpointReadyz()
	_, err := c.quiet(ctx, host, "apiserver through the endpoint", scripts.Render("controlplane/wait-endpoint", struct {
		Secs         int
		What, Readyz string
	}{secs, "no ready apiserver through " + strings.TrimSuffix(u, "/readyz"), u}))
	return err
}

// endpointReadyz is /readyz through the endpoint's name and port.
func (c *Client) endpointReadyz() string {
	e := c.cluster.Spec.ControlPlaneEndpoint
	return "https://" + net.JoinHostPort(e.Name, strconv.Itoa(e.Port)) + "/readyz"
}

// NodeCIDRs returns each node's Pod CIDR as the controller-manager
// allocated it, asked once per run of the control host's own apiserver and
// again only while some node of the inventory has none.
func (c *Client) NodeCIDRs(ctx context.Context, nodes []string) (map[string]string, error) {
	c.mu.Lock()
	cached := c.cidrs
	c.mu.Unlock()
	complete := cached != nil
	for _, n := range nodes {
		complete = complete && cached[n] != ""
	}
	if complete {
		return cached, nil
	}
	m, err := c.Control(ctx)
	if err != nil {
		return nil, err
	}
	res, err := c.exec(ctx, m.Name, ssh.Command{Name: "read node Pod CIDRs",
		Script: c.frame(m, Own, "20s", scripts.Render("controlplane/node-cidrs", nil)).String()}, false)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			out[f[0]] = f[1]
		}
	}
	c.mu.Lock()
	c.cidrs = out
	c.mu.Unlock()
	return out, nil
}

// NodeCIDR returns node's Pod CIDR as the control host's own apiserver has
// it, trying for about two seconds; "" when it has none yet, or when the
// apiserver does not answer in that time (callers use it to save time, and
// fall back to NodeCIDRs).
func (c *Client) NodeCIDR(ctx context.Context, node string) (string, error) {
	m, err := c.Control(ctx)
	if err != nil {
		return "", err
	}
	res, err := c.exec(ctx, m.Name, ssh.Command{Name: "read the node's Pod CIDR",
		Script: c.frame(m, Own, "2s", scripts.Render("controlplane/node-cidr", struct{ Node string }{node})).String()}, false)
	if err != nil {
		return "", nil
	}
	return strings.TrimSpace(res.Stdout), nil
}

// RemoveEtcdMember removes, through the control host's etcd, the member
// whose peer URL is h's, if there is one.
func (c *Client) RemoveEtcdMember(ctx context.Context, h inventory.Host) error {
	m, err := c.Control(ctx)
	if err != nil {
		return err
	}
	body := scripts.Render("controlplane/remove-etcd-member", struct{ Pod, PeerURL, Node string }{
		"etcd-" + m.Name, "https://" + net.JoinHostPort(h.InternalAddress, "2380"), h.Name})
	_, err = c.KubectlOn(ctx, m, Own, "remove the etcd member of "+h.Name, body)
	return err
}

// secretExists reports whether the kube-system Secret name exists, asking
// master m's own apiserver.
func (c *Client) secretExists(ctx context.Context, m inventory.Host, name string) bool {
	_, err := c.exec(ctx, m.Name, ssh.Command{Name: "check the Secret " + name,
		Script: c.frame(m, Own, "10s", scripts.Render("controlplane/secret-exists", struct{ Name string }{name})).String()}, false)
	return err == nil
}

// clock is the run's time; tests replace it.
func (r *run) clock() time.Time {
	if r.join.now != nil {
		return r.join.now()
	}
	return time.Now()
}
