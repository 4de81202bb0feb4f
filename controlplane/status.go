package controlplane

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
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

// Backend is one apiserver as a haproxy in front of the apiservers sees it
// (its stats page).
type Backend struct {
	// Server is haproxy's name for it: the master's name.
	Server string `json:"server"`
	// State is haproxy's status of it: "UP", "DOWN", "DRAIN", "MAINT",
	// "no check" (up, its health checks off), "UP 1/3" (up, failing its
	// checks), "DOWN 1/2" (down, passing them), ...
	State string `json:"state"`
	// Check is its last health check's result ("L7OK", "L4CON",
	// "L7STS", ...); empty while its checks are off: drained by
	// SetBackend, turned off by hand, or in maintenance.
	Check string `json:"check"`
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
	bs, err := parseBackends(res.Stdout)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", host, err)
	}
	return bs, nil
}

// parseBackends reads controlplane/lb-backends' lines. A check in
// progress ("* L7OK") is its last result.
func parseBackends(out string) ([]Backend, error) {
	bs := []Backend{}
	for _, l := range strings.Split(out, "\n") {
		if l == "" {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) != 3 || f[0] == "" || f[1] == "" {
			return nil, fmt.Errorf("haproxy's stats: %q is not a server, its status and its last check", l)
		}
		bs = append(bs, Backend{Server: f[0], State: f[1], Check: strings.TrimPrefix(f[2], "* ")})
	}
	return bs, nil
}
