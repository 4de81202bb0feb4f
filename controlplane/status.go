package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/lb"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// This file holds the read-only probes of kubeha status. None of them
// changes anything on a host; each names the host it asked in its errors.

// EtcdMember is one member of the stacked etcd cluster as its peers see
// it.
type EtcdMember struct {
	Name string `json:"name"`
	// ID is the member's ID in hexadecimal, as etcdctl's tables print it.
	ID        string `json:"id"`
	ClientURL string `json:"clientURL"`
	Healthy   bool   `json:"healthy"`
	Leader    bool   `json:"leader"`
	// Error is etcdctl's word on an unhealthy member, when it gave one.
	Error string `json:"error,omitempty"`
}

// EtcdMembers asks etcd, through the etcd pod of master via and via's own
// apiserver, for its members, each one's health and who leads. It reads
// only.
func (c *Client) EtcdMembers(ctx context.Context, via inventory.Host) ([]EtcdMember, error) {
	body := scripts.Render("controlplane/etcd-status", struct{ Pod string }{"etcd-" + via.Name})
	res, err := c.exec(ctx, via.Name, ssh.Command{Name: "read etcd's members", Script: c.frame(via, Own, "20s", body).String()}, false)
	if err != nil {
		return nil, err
	}
	ms, err := ParseEtcdStatus(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", via.Name, err)
	}
	return ms, nil
}

// etcdctl's JSON (-w json) for member list, endpoint status and endpoint
// health. IDs are unsigned 64-bit numbers.
type etcdMemberList struct {
	Members []struct {
		ID         uint64   `json:"ID"`
		Name       string   `json:"name"`
		ClientURLs []string `json:"clientURLs"`
	} `json:"members"`
}

type etcdEndpointStatus struct {
	Endpoint string `json:"Endpoint"`
	Status   struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
		} `json:"header"`
		Leader uint64 `json:"leader"`
	} `json:"Status"`
}

type etcdEndpointHealth struct {
	Endpoint string `json:"endpoint"`
	Health   bool   `json:"health"`
	Error    string `json:"error"`
}

// ParseEtcdStatus reads controlplane/etcd-status's output: a member is
// healthy when etcdctl's endpoint health says so at one of its client
// URLs, and the leader when it answered endpoint status naming itself
// leader (a leader that does not answer leads nobody). The member list must parse; status and health
// may be empty (no member answered).
func ParseEtcdStatus(out string) ([]EtcdMember, error) {
	sec := scripts.Sections(out)
	var list etcdMemberList
	if err := json.Unmarshal([]byte(sec["members"]), &list); err != nil {
		return nil, fmt.Errorf("etcdctl member list: %w", err)
	}
	var statuses []etcdEndpointStatus
	if s := strings.TrimSpace(sec["status"]); s != "" {
		if err := json.Unmarshal([]byte(s), &statuses); err != nil {
			return nil, fmt.Errorf("etcdctl endpoint status: %w", err)
		}
	}
	var healths []etcdEndpointHealth
	if s := strings.TrimSpace(sec["health"]); s != "" {
		if err := json.Unmarshal([]byte(s), &healths); err != nil {
			return nil, fmt.Errorf("etcdctl endpoint health: %w", err)
		}
	}
	// The leader as the members that answered name it; a member that
	// answered while it had no leader says 0.
	leaders := map[uint64]bool{}
	for _, s := range statuses {
		if s.Status.Leader != 0 && s.Status.Leader == s.Status.Header.MemberID {
			leaders[s.Status.Leader] = true
		}
	}
	out2 := make([]EtcdMember, 0, len(list.Members))
	for _, m := range list.Members {
		em := EtcdMember{Name: m.Name, ID: strconv.FormatUint(m.ID, 16), Leader: leaders[m.ID]}
		if len(m.ClientURLs) > 0 {
			em.ClientURL = m.ClientURLs[0]
		}
		found := false
		for _, h := range healths {
			if !sameURL(h.Endpoint, m.ClientURLs) {
				continue
			}
			found = true
			em.Healthy = h.Health
			em.Error = h.Error
		}
		if !found {
			// A member added but not started has no client URL; one
			// etcdctl could not reach is not in the health list.
			em.Error = "did not answer"
		}
		out2 = append(out2, em)
	}
	return out2, nil
}

// sameURL reports whether endpoint is one of urls, compared as URLs (the
// health list may spell an endpoint without its scheme).
func sameURL(endpoint string, urls []string) bool {
	host := func(s string) string {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			return u.Host
		}
		return s
	}
	for _, u := range urls {
		if u == endpoint || host(u) == host(endpoint) {
			return true
		}
	}
	return false
}

// HoldsAddress asks host whether one of its interfaces has the address
// addr now (lib/vip's vip_addrs, the reading every script shares).
func (c *Client) HoldsAddress(ctx context.Context, host, addr string) (bool, error) {
	res, err := c.quiet(ctx, host, "read the addresses", scripts.Render("controlplane/holds-address", struct{ Addr string }{addr}))
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(res.Stdout) != "", nil
}

// UnitState asks host's systemd what state unit is in ("active",
// "inactive", "failed", ...). Only "active", the whole answer, is running.
func (c *Client) UnitState(ctx context.Context, host, unit string) (string, error) {
	res, err := c.quiet(ctx, host, "is "+unit+" active", scripts.Render("controlplane/unit-active", struct{ Unit string }{unit}))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(res.Stdout), nil
}

// Backend is one apiserver as a load balancer's host sees it: as its
// haproxy does (Backends, its stats page), or as a TCP connect from the
// host finds it where nginx, which shows no state of its upstreams, runs
// (ReachBackends).
type Backend struct {
	// Server is the master's name: haproxy's name for it.
	Server string `json:"server"`
	// State is haproxy's status of it: "UP", "DOWN", "DRAIN", "MAINT",
	// "no check" (up, its health checks off), "UP 1/3" (up, failing its
	// checks), "DOWN 1/2" (down, passing them), ... For nginx, "UP" when
	// the host's TCP connect to it succeeded, else "DOWN".
	State string `json:"state"`
	// Check is haproxy's last health check's result ("L7OK", "L4CON",
	// "L7STS", ...), empty while its checks are off: drained by
	// SetBackend, turned off by hand, or in maintenance. For nginx, the
	// connect's: "connected", or why it failed ("Connection refused",
	// "no answer within 2 s", ...).
	Check string `json:"check"`
	// Address is the ADDRESS:PORT nginx forwards to, as kubeha renders
	// it; empty for haproxy, whose stats page does not give it.
	Address string `json:"address,omitempty"`
}

// Backends asks the haproxy of host, one of Balancers, how it sees each
// apiserver it balances, in its config's order. It reads only.
func (c *Client) Backends(ctx context.Context, host string) ([]Backend, error) {
	res, err := c.quiet(ctx, host, "read haproxy's backends", scripts.Render("controlplane/lb-backends", struct {
		Config string
		Port   int
	}{lb.HAProxyConfigPath, lb.StatsPort}))
	if err != nil {
		return nil, err
	}
	bs, err := parseBackends("haproxy's stats", res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	return bs, nil
}

// parseBackends reads the lines of controlplane/lb-backends or
// controlplane/lb-reach, what naming the source in errors. A check in
// progress ("* L7OK") is its last result.
func parseBackends(what, out string) ([]Backend, error) {
	bs := []Backend{}
	for _, l := range strings.Split(out, "\n") {
		if l == "" {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) != 3 || f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("%s: %q is not a server, its status and its last check", what, l)
		}
		bs = append(bs, Backend{Server: f[0], State: f[1], Check: strings.TrimPrefix(f[2], "* ")})
	}
	return bs, nil
}

// ReachSeconds is how long ReachBackends gives each TCP connect. nginx
// gives its own 1 s (proxy_connect_timeout); a little more tells a slow
// apiserver from a silent one.
const ReachSeconds = 2

// ReachBackends asks host, one of the nodes running the nginx local proxy,
// whether it can open a TCP connection to each apiserver nginx forwards to
// (lb.Backends: what kubeha renders in nginx.conf, not read back from the
// host), all at once within ReachSeconds. It returns them in nginx.conf's
// order, Address set. nginx (Debian's nginx-light) shows no state of its
// upstreams, so this is the closest honest look: what the host's network
// lets through, not what nginx thinks. It reads only.
func (c *Client) ReachBackends(ctx context.Context, host string) ([]Backend, error) {
	want := lb.Backends(c.cluster)
	res, err := c.quiet(ctx, host, "connect to the apiservers", scripts.Render("controlplane/lb-reach", struct {
		Secs     int
		Backends []lb.Backend
	}{ReachSeconds, want}))
	if err != nil {
		return nil, err
	}
	bs, err := orderReached(want, res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	return bs, nil
}

// orderReached reads controlplane/lb-reach's lines, which come in the
// order the connects ended, into want's order: one for each of want, UP or
// DOWN, nothing else.
func orderReached(want []lb.Backend, out string) ([]Backend, error) {
	got, err := parseBackends("the connects to the apiservers", out)
	if err != nil {
		return nil, err
	}
	byName := map[string]Backend{}
	for _, b := range got {
		if !slices.ContainsFunc(want, func(w lb.Backend) bool { return w.Name == b.Server }) {
			return nil, fmt.Errorf("the connects to the apiservers: %q is not a master", b.Server)
		}
		if _, dup := byName[b.Server]; dup {
			return nil, fmt.Errorf("the connects to the apiservers: %s twice", b.Server)
		}
		if b.State != "UP" && b.State != "DOWN" {
			return nil, fmt.Errorf("the connects to the apiservers: %s is %q, not UP or DOWN", b.Server, b.State)
		}
		byName[b.Server] = b
	}
	bs := []Backend{}
	for _, w := range want {
		b, ok := byName[w.Name]
		if !ok {
			return nil, fmt.Errorf("the connects to the apiservers: no answer for %s", w.Name)
		}
		b.Address = net.JoinHostPort(w.Address, strconv.Itoa(w.Port))
		bs = append(bs, b)
	}
	return bs, nil
}
