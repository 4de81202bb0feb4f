package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
)

// This file reaches an external etcd: the one kubeha builds on the etcd
// hosts (each member a static pod of kubeadm's, with kubeadm's layout of
// files), or the operator's, through the client files the etcd-client
// phase put on the masters.

// kubeadm's files of the member on an etcd host. The health-check client
// certificate is the one kubeadm issues for asking the member itself.
const (
	etcdHostCA       = "/etc/kubernetes/pki/etcd/ca.crt"
	etcdHostCert     = "/etc/kubernetes/pki/etcd/healthcheck-client.crt"
	etcdHostKey      = "/etc/kubernetes/pki/etcd/healthcheck-client.key"
	etcdHostManifest = "/etc/kubernetes/manifests/etcd.yaml"
	// etcdHostLocal is the member's own client URL on its host.
	etcdHostLocal = "https://127.0.0.1:2379"
	// etcdHostTools is where a snapshot on an etcd host mounts the etcd
	// image for its etcdctl.
	etcdHostTools = "/run/kubeha-etcd-tools-snapshot"
)

// externalEtcdAskSecs bounds each question of the external etcd status
// to one member: a member that does not answer costs that, not the
// status's whole --timeout.
const externalEtcdAskSecs = 2

// ExternalEtcdMembers asks an external etcd, read-only, for its members,
// each one's health and who leads, as EtcdMembers asks the stacked one.
// For the etcd kubeha builds it asks through the member on the first etcd
// host that answers, with that member's health-check client certificate;
// for the operator's, from the first of masters that answers, with the
// client files the etcd-client phase put there, through the inventory's
// endpoints (the first that lists the members). Either way it speaks to
// etcd's JSON gateway with curl: no etcdctl is needed on the host. It
// returns the host it asked through. With stacked etcd it returns
// ErrStackedEtcd.
func (c *Client) ExternalEtcdMembers(ctx context.Context, masters []inventory.Host) (string, []EtcdMember, error) {
	cl := c.cluster
	if cl.Spec.Etcd.Topology != inventory.EtcdExternal {
		return "", nil, ErrStackedEtcd
	}
	via := masters
	data := externalStatusData{CA: kubeadm.ExternalEtcdCAFile, Cert: kubeadm.ExternalEtcdCert, Key: kubeadm.ExternalEtcdKey, Secs: externalEtcdAskSecs}
	if cl.BuildsEtcd() {
		via = cl.EtcdHosts()
		data.CA, data.Cert, data.Key = etcdHostCA, etcdHostCert, etcdHostKey
		data.Entries = []string{etcdHostLocal}
	} else {
		for _, ep := range cl.EtcdEndpoints() {
			data.Entries = append(data.Entries, strings.TrimSuffix(ep, "/"))
		}
	}
	script := scripts.Render("controlplane/etcd-external-status", data)
	var errs []error
	for _, h := range via {
		res, err := c.quiet(ctx, h.Name, "read the external etcd's members", script)
		if err == nil {
			var ms []EtcdMember
			if ms, err = ParseExternalEtcdStatus(res.Stdout); err == nil {
				return h.Name, ms, nil
			}
		}
		if ctx.Err() != nil {
			return "", nil, ctx.Err()
		}
		if !strings.HasPrefix(err.Error(), h.Name+": ") {
			err = fmt.Errorf("%s: %w", h.Name, err)
		}
		errs = append(errs, err)
	}
	if len(via) == 0 {
		return "", nil, errors.New("no host to ask the external etcd from")
	}
	return "", nil, errors.Join(errs...)
}

// ErrStackedEtcd means an operation on an external etcd met a stacked one.
var ErrStackedEtcd = errors.New("etcd is stacked (spec.etcd.topology)")

// externalStatusData is the data of controlplane/etcd-external-status.
type externalStatusData struct {
	Entries       []string // client URLs to list the members through, without a trailing /
	CA, Cert, Key string
	Secs          int
}

// gatewayID is a member ID as etcd's JSON gateway writes it: an unsigned
// 64-bit number in a string (or, read leniently, a number).
type gatewayID uint64

func (id *gatewayID) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" {
		*id = 0
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("member ID %s: %w", b, err)
	}
	*id = gatewayID(n)
	return nil
}

// The gateway's JSON for the member list (/v3/cluster/member/list), a
// member's status (/v3/maintenance/status) and its health (/health).
type gatewayMemberList struct {
	Members []struct {
		ID         gatewayID `json:"ID"`
		Name       string    `json:"name"`
		ClientURLs []string  `json:"clientURLs"`
	} `json:"members"`
}

type gatewayStatus struct {
	Header struct {
		MemberID gatewayID `json:"member_id"`
	} `json:"header"`
	Leader gatewayID `json:"leader"`
}

type gatewayHealth struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// ParseExternalEtcdStatus reads controlplane/etcd-external-status's
// output: the member list (which must parse), then one line per client
// URL of status and of health, "URL<TAB>answer", the answer "error: ..."
// when the member gave none. A member is healthy when /health at one of
// its client URLs says so, and the leader when its status names itself
// leader; a member with no line (no client URL yet: added, not started)
// did not answer.
func ParseExternalEtcdStatus(out string) ([]EtcdMember, error) {
	sec := scripts.Sections(out)
	var list gatewayMemberList
	if err := json.Unmarshal([]byte(sec["members"]), &list); err != nil {
		return nil, fmt.Errorf("etcd's member list: %w", err)
	}
	lines := func(name string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(sec[name], "\n") {
			if u, a, ok := strings.Cut(l, "\t"); ok && u != "" {
				m[u] = strings.TrimSpace(a)
			}
		}
		return m
	}
	statuses, healths := lines("status"), lines("health")
	out2 := make([]EtcdMember, 0, len(list.Members))
	for _, m := range list.Members {
		em := EtcdMember{Name: m.Name, ID: strconv.FormatUint(uint64(m.ID), 16), Error: "did not answer"}
		if len(m.ClientURLs) > 0 {
			em.ClientURL = m.ClientURLs[0]
		}
		for _, u := range m.ClientURLs {
			if a, ok := statuses[u]; ok && !strings.HasPrefix(a, "error: ") {
				var s gatewayStatus
				if json.Unmarshal([]byte(a), &s) == nil && s.Leader != 0 && s.Leader == s.Header.MemberID {
					em.Leader = true
				}
			}
			a, ok := healths[u]
			if !ok {
				continue
			}
			var h gatewayHealth
			switch {
			case strings.HasPrefix(a, "error: "):
				em.Error = strings.TrimPrefix(a, "error: ")
			case json.Unmarshal([]byte(a), &h) != nil:
				em.Error = "unexpected answer: " + a
			case h.Health == "true":
				em.Healthy, em.Error = true, ""
			default:
				em.Error = "unhealthy"
				if h.Reason != "" {
					em.Error += ": " + h.Reason
				}
			}
			break
		}
		out2 = append(out2, em)
	}
	return out2, nil
}
