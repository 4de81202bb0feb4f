package lb

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"strconv"
	"text/template"

	"github.com/kubeha/kubeha/inventory"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("lb").Option("missingkey=error").ParseFS(templateFS, "templates/*.tmpl"))

// Paths of the files kubeha writes for the load balancer.
const (
	HAProxyConfigPath    = "/etc/haproxy/haproxy.cfg"
	KeepalivedConfigPath = "/etc/keepalived/keepalived.conf"
	CheckScriptPath      = "/etc/keepalived/check_apiserver.sh"
	NginxConfigPath      = "/etc/kubeha/nginx/nginx.conf"
	// StatsPort is haproxy's stats page, on 127.0.0.1 only.
	StatsPort = 8404
)

// Failover tuning (docs/failover.md). With inter 1 s haproxy marked a
// refused backend down after 2.1 s and advert_int 0.3 gave VIP outages of
// 1.1-2.2 s under load: both at the 2 s target, so both were halved. VRRP's
// master-down interval is 3 adverts plus a skew below one advert, about
// 0.65 s. A dead backend is marked down after fall checks at inter, about
// 1.5 s; the connections sent to it meanwhile are redispatched after
// haproxy's connect timeout, so clients do not wait for the mark-down.
// Fall was 2 until 2026-12-04: on a saturated machine two health checks in
// a row missed their TLS handshake deadline, haproxy marked a live
// apiserver down, and cut every session on it (two conformance specs
// failed on "unexpected EOF", each at such a mark-down).
const (
	HealthInterMS = 500
	HealthFall    = 3
	HealthRise    = 2
	// AdvertInt is keepalived's advert interval in seconds (VRRPv3).
	AdvertInt = "0.2"
)

// Backend is one apiserver.
type Backend struct {
	Name    string
	Address string
	Port    int
}

// HAProxy is haproxy.cfg.
type HAProxy struct {
	Mode          string
	Binds         []string
	Balance       string
	Backends      []Backend
	InterMS       int
	Fall, Rise    int
	StatsPort     int
	StatsUser     string
	StatsPassword string
}

// DetectSeconds is how long a dead backend keeps receiving new connections
// at most: fall checks at inter spacing.
func (h HAProxy) DetectSeconds() string {
	return strconv.FormatFloat(float64(h.InterMS*h.Fall)/1000, 'f', -1, 64)
}

// Keepalived is keepalived.conf for one host.
type Keepalived struct {
	RouterID        string
	Interface       string
	VirtualRouterID int
	Priority        int
	AdvertInt       string
	SourceIP        string
	Peers           []string
	VIP             string
	CheckScript     string
}

// CheckScript is check_apiserver.sh for one host: it asks haproxy's
// monitor URI on StatsPort whether any apiserver is up, and an apiserver
// through LBPort only when that says no.
type CheckScript struct {
	LBPort, StatsPort int
}

// DebianStreamModule is where Debian's libnginx-mod-stream puts the stream
// module, which the local proxy needs and nginx does not build in there.
const DebianStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// Nginx is the local proxy's nginx.conf.
type Nginx struct {
	// StreamModule is the path of ngx_stream_module.so, empty when the
	// host's nginx has the stream module built in.
	StreamModule string
	Port         int
	Backends     []Backend
	MaxFails     int
	FailTimeout  string
}

// Secrets are the generated credentials the configs carry. The
// load-balancer phase keeps them stable across runs by reading them back
// from the hosts; `kubeha render` passes Placeholders.
type Secrets struct {
	StatsPassword string
}

// Placeholders are well-formed stand-ins for Secrets in rendered files.
var Placeholders = Secrets{StatsPassword: "RENDERED-PLACEHOLDER"}

// File is one rendered file for one host.
type File struct {
	Host    string
	Path    string
	Mode    os.FileMode
	Content []byte
}

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// Render renders the config to text.
func (h HAProxy) Render() ([]byte, error) { return render("haproxy.cfg.tmpl", h) }

// Render renders the config to text.
func (k Keepalived) Render() ([]byte, error) { return render("keepalived.conf.tmpl", k) }

// Render renders the script to text.
func (c CheckScript) Render() ([]byte, error) { return render("check_apiserver.sh.tmpl", c) }

// Render renders the config to text.
func (n Nginx) Render() ([]byte, error) { return render("nginx.conf.tmpl", n) }

// Hosts returns the hosts that run a load balancer in c's mode, in
// inventory order: the VIP holders for keepalived-haproxy and kube-vip
// (for kube-vip, always the masters); for the local
// proxy every node (etcd hosts are none), except masters when the endpoint port is the
// apiserver's own (they reach their own apiserver on 127.0.0.1:6443); none
// for an external SLB.
func Hosts(c *inventory.Cluster) []inventory.Host {
	switch c.Spec.LoadBalancer.Mode {
	case inventory.ModeKeepalivedHAProxy, inventory.ModeKubeVIP:
		return c.LBHosts()
	case inventory.ModeLocalProxy:
		var out []inventory.Host
		for _, h := range c.Spec.Hosts {
			if h.Role == inventory.RoleLoadBalancer || h.Role == inventory.RoleEtcd || (h.Role == inventory.RoleMaster && c.Spec.ControlPlaneEndpoint.Port == inventory.APIServerPort) {
				continue
			}
			out = append(out, h)
		}
		return out
	}
	return nil
}

// Backends are the apiservers every haproxy.cfg and nginx.conf of c
// forwards to, in the configs' order: each master's internal address and
// the apiserver's port. Derive renders them; kubeha status probes the same
// list, so it asks about what kubeha rendered without reading a config.
func Backends(c *inventory.Cluster) []Backend {
	var out []Backend
	for _, m := range c.Masters() {
		out = append(out, Backend{Name: m.Name, Address: m.InternalAddress, Port: inventory.APIServerPort})
	}
	return out
}

// Interfaces names, per host, the interface that holds the host's
// internalAddress (found by the facts phase). Hosts missing from it use the
// inventory's spec.loadBalancer.interface.
type Interfaces map[string]string

// Derive computes every load-balancer file of every host for c at stage
// (which only kube-vip's first master depends on). It is pure: the same
// inventory, interfaces, secrets and stage give the same bytes, which is
// what lets a rerun compare hashes and change nothing.
func Derive(c *inventory.Cluster, ifaces Interfaces, s Secrets, stage Stage) ([]File, error) {
	lbSpec := c.Spec.LoadBalancer
	port := c.Spec.ControlPlaneEndpoint.Port
	backends := Backends(c)
	var out []File
	add := func(host, path string, mode os.FileMode, r interface{ Render() ([]byte, error) }) error {
		b, err := r.Render()
		if err != nil {
			return fmt.Errorf("%s: %w", host, err)
		}
		out = append(out, File{Host: host, Path: path, Mode: mode, Content: b})
		return nil
	}
	// vipInterface is where host h puts the VIP.
	vipInterface := func(h inventory.Host) (string, error) {
		if i := ifaces[h.Name]; i != "" {
			return i, nil
		}
		if lbSpec.Interface != "" {
			return lbSpec.Interface, nil
		}
		return "", fmt.Errorf("%s: no interface for the VIP: set spec.loadBalancer.interface or let the facts phase detect it", h.Name)
	}
	switch lbSpec.Mode {
	case inventory.ModeKeepalivedHAProxy:
		hosts := c.LBHosts()
		step := 40
		if len(hosts) > 1 && 200/(len(hosts)-1) < step {
			step = 200 / (len(hosts) - 1)
		}
		for i, h := range hosts {
			hp := HAProxy{Mode: lbSpec.Mode, Binds: []string{"*:" + strconv.Itoa(port)}, Balance: "roundrobin", Backends: backends,
				InterMS: HealthInterMS, Fall: HealthFall, Rise: HealthRise, StatsPort: StatsPort, StatsUser: "kubeha", StatsPassword: s.StatsPassword}
			if err := add(h.Name, HAProxyConfigPath, 0o600, hp); err != nil {
				return nil, err
			}
			iface, err := vipInterface(h)
			if err != nil {
				return nil, err
			}
			var peers []string
			for _, p := range hosts {
				if p.Name != h.Name {
					peers = append(peers, p.InternalAddress)
				}
			}
			ka := Keepalived{RouterID: h.Name, Interface: iface, VirtualRouterID: lbSpec.VirtualRouterID,
				Priority: 250 - i*step, AdvertInt: AdvertInt, SourceIP: h.InternalAddress, Peers: peers, VIP: lbSpec.VIP, CheckScript: CheckScriptPath}
			if err := add(h.Name, KeepalivedConfigPath, 0o644, ka); err != nil {
				return nil, err
			}
			cs := CheckScript{LBPort: port, StatsPort: StatsPort}
			if err := add(h.Name, CheckScriptPath, 0o755, cs); err != nil {
				return nil, err
			}
			if lbSpec.StaticPods && lbSpec.Images != nil {
				n := len(out)
				hpPod, kaPod := staticPods(lbSpec.Images.HAProxy, lbSpec.Images.Keepalived, out[n-3].Content, out[n-2].Content, out[n-1].Content)
				if err := add(h.Name, HAProxyManifestPath, 0o600, hpPod); err != nil {
					return nil, err
				}
				if err := add(h.Name, KeepalivedManifestPath, 0o600, kaPod); err != nil {
					return nil, err
				}
			}
		}
	case inventory.ModeKubeVIP:
		if lbSpec.Images == nil || lbSpec.Images.KubeVIP == "" {
			return nil, fmt.Errorf("no kube-vip image: spec.loadBalancer.images.kubeVip is unset (inventory.Default sets it)")
		}
		first := c.Masters()[0].Name
		for _, h := range Hosts(c) {
			iface, err := vipInterface(h)
			if err != nil {
				return nil, err
			}
			kubeconfig := AdminConf
			if h.Name == first && stage == BeforeInit {
				kubeconfig = SuperAdminConf
			}
			kv := KubeVIP{Image: lbSpec.Images.KubeVIP, Interface: iface, VIP: lbSpec.VIP, Port: inventory.APIServerPort, Kubeconfig: kubeconfig}
			if err := add(h.Name, KubeVIPManifestPath, 0o600, kv); err != nil {
				return nil, err
			}
		}
	case inventory.ModeLocalProxy:
		for _, h := range Hosts(c) {
			var r interface{ Render() ([]byte, error) }
			path := NginxConfigPath
			if lbSpec.Proxy == inventory.ProxyNginx {
				r = Nginx{StreamModule: DebianStreamModule, Port: port, Backends: backends, MaxFails: 1, FailTimeout: "10s"}
			} else {
				path = HAProxyConfigPath
				r = HAProxy{Mode: lbSpec.Mode, Binds: []string{"127.0.0.1:" + strconv.Itoa(port)}, Balance: "leastconn", Backends: backends,
					InterMS: HealthInterMS, Fall: HealthFall, Rise: HealthRise, StatsPort: StatsPort, StatsUser: "kubeha", StatsPassword: s.StatsPassword}
			}
			if err := add(h.Name, path, 0o600, r); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
