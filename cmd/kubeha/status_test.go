package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/ssh"
	"github.com/kubeha/kubeha/state"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var statusNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// healthyReport is a keepalived-haproxy cluster of three masters and two
// workers, all well, its journal all done.
func healthyReport() *statusReport {
	member := func(name, id, ip string, leader bool) controlplane.EtcdMember {
		return controlplane.EtcdMember{Name: name, ID: id, ClientURL: "https://" + ip + ":2379", Healthy: true, Leader: leader}
	}
	node := func(name string, cp bool) nodeReport {
		return nodeReport{Name: name, InInventory: true, InCluster: true, Ready: true, KubeletVersion: "v1.37.2", ControlPlane: cp}
	}
	cert := func(host string) certReport {
		return certReport{Host: host, First: "apiserver", Expires: statusNow.Add(300 * 24 * time.Hour)}
	}
	done := func(id string) journalPhase {
		return journalPhase{ID: id, Status: state.StatusDone, Finished: statusNow.Add(-time.Hour)}
	}
	lbHost := func(name string, holds bool) lbHostReport {
		return lbHostReport{Host: name, HoldsVIP: holds, Backends: allUp()}
	}
	return &statusReport{
		Cluster: "prod",
		Nodes: &nodesReport{Via: "m1", Nodes: []nodeReport{
			node("m1", true), node("m2", true), node("m3", true), node("w1", false), node("w2", false)}},
		Etcd: &etcdReport{Via: "m1", Members: []controlplane.EtcdMember{
			member("m1", "8211f1d0f64f3269", "10.0.0.1", true),
			member("m2", "91bc3c398fb3c146", "10.0.0.2", false),
			member("m3", "fd422379fda50e48", "10.0.0.3", false)}},
		LoadBalancer: &lbReport{Mode: "keepalived-haproxy", VIP: "10.0.0.100", Holders: []string{"m1"}, Hosts: []lbHostReport{
			lbHost("m1", true), lbHost("m2", false), lbHost("m3", false)}},
		Certificates: []certReport{cert("m1"), cert("m2"), cert("m3")},
		Journal: journalReport{Path: ".kubeha/prod/state.json", Phases: []journalPhase{
			done("facts"), done("kubeadm-init"), {ID: "routes", Status: statusNotRun}}},
	}
}

// allUp is how a haproxy sees the apiservers of healthyReport's masters
// when all is well.
func allUp() []controlplane.Backend {
	return []controlplane.Backend{{Server: "m1", State: "UP", Check: "L7OK"}, {Server: "m2", State: "UP", Check: "L7OK"},
		{Server: "m3", State: "UP", Check: "L7OK"}}
}

// haproxyPodsReport is healthyReport with local-proxy's haproxy as a
// static pod, which has no unit to ask: only its backends.
func haproxyPodsReport() *statusReport {
	r := healthyReport()
	r.LoadBalancer = &lbReport{Mode: "local-proxy", Holders: []string{}, Hosts: []lbHostReport{
		{Host: "w1", Backends: allUp()}, {Host: "w2", Backends: allUp()}}}
	return r
}

// localProxyReport is healthyReport with nginx's local proxy in place of
// the VIP, each of its nodes connecting to every apiserver.
func localProxyReport() *statusReport {
	r := healthyReport()
	r.LoadBalancer = &lbReport{Mode: "local-proxy", Unit: "kubeha-nginx", Holders: []string{}, Hosts: []lbHostReport{
		{Host: "m1", UnitState: "active", BackendsSource: backendsConnect, Backends: allReached()},
		{Host: "w1", UnitState: "active", BackendsSource: backendsConnect, Backends: allReached()}}}
	return r
}

// kubeVIPReport is healthyReport with kube-vip holding the VIP: no
// haproxy, so no backends on any host.
func kubeVIPReport() *statusReport {
	r := healthyReport()
	r.LoadBalancer = &lbReport{Mode: "kube-vip", VIP: "10.0.0.100", Holders: []string{"m2"}, Hosts: []lbHostReport{
		{Host: "m1"}, {Host: "m2", HoldsVIP: true}, {Host: "m3"}}}
	return r
}

// allReached is what a node of nginx's local proxy finds connecting to the
// apiservers of healthyReport's masters when all is well.
func allReached() []controlplane.Backend {
	return []controlplane.Backend{
		{Server: "m1", State: "UP", Check: "connected", Address: "10.0.0.1:6443"},
		{Server: "m2", State: "UP", Check: "connected", Address: "10.0.0.2:6443"},
		{Server: "m3", State: "UP", Check: "connected", Address: "10.0.0.3:6443"}}
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name   string
		report func() *statusReport
		change func(r *statusReport)
		// want is the problems, in order; none means healthy (exit 0).
		want []string
	}{
		{name: "all healthy", report: healthyReport},
		{name: "local proxies all active", report: localProxyReport},
		{name: "kube-vip: one holder and no backends is healthy", report: kubeVIPReport},
		{name: "kube-vip: nobody holds the VIP", report: kubeVIPReport, change: func(r *statusReport) {
			r.LoadBalancer.Holders, r.LoadBalancer.Hosts[1].HoldsVIP = []string{}, false
		}, want: []string{"VIP 10.0.0.100: no host holds it"}},
		{name: "a node the inventory does not list is shown, not a problem", report: healthyReport, change: func(r *statusReport) {
			r.Nodes.Nodes = append(r.Nodes.Nodes, nodeReport{Name: "x9", InCluster: true, Ready: true})
		}},
		{name: "node not Ready", report: healthyReport, change: func(r *statusReport) { r.Nodes.Nodes[3].Ready = false },
			want: []string{"node w1: not Ready"}},
		{name: "inventory node missing from the cluster", report: healthyReport, change: func(r *statusReport) {
			r.Nodes.Nodes[4] = nodeReport{Name: "w2", InInventory: true, ControlPlane: false}
		}, want: []string{"node w2: in the inventory, not in the cluster"}},
		{name: "no apiserver answered", report: healthyReport, change: func(r *statusReport) {
			r.Nodes = &nodesReport{Error: "no master is a finished control-plane node yet", Nodes: []nodeReport{{Name: "m1", InInventory: true}}}
			r.Etcd = &etcdReport{Error: "no master is a finished control-plane node yet"}
		}, want: []string{"nodes: no master is a finished control-plane node yet", "etcd: no master is a finished control-plane node yet"}},
		{name: "etcd member unhealthy", report: healthyReport, change: func(r *statusReport) {
			r.Etcd.Members[2].Healthy, r.Etcd.Members[2].Error = false, "context deadline exceeded"
		}, want: []string{"etcd member m3 (fd422379fda50e48): unhealthy: context deadline exceeded"}},
		{name: "etcd without a leader", report: healthyReport, change: func(r *statusReport) { r.Etcd.Members[0].Leader = false },
			want: []string{"etcd: no member leads"}},
		{name: "etcd with two leaders", report: healthyReport, change: func(r *statusReport) { r.Etcd.Members[1].Leader = true },
			want: []string{"etcd: m1, m2 each say they lead"}},
		{name: "etcd not read", report: healthyReport, change: func(r *statusReport) {
			r.Etcd = &etcdReport{Via: "m1", Error: `m1: "read etcd's members" exited 1: error: unable to upgrade connection`}
		}, want: []string{`etcd: m1: "read etcd's members" exited 1: error: unable to upgrade connection`}},
		{name: "nobody holds the VIP", report: healthyReport, change: func(r *statusReport) {
			r.LoadBalancer.Holders, r.LoadBalancer.Hosts[0].HoldsVIP = []string{}, false
		}, want: []string{"VIP 10.0.0.100: no host holds it"}},
		{name: "two hosts hold the VIP", report: healthyReport, change: func(r *statusReport) {
			r.LoadBalancer.Holders = []string{"m1", "m2"}
			r.LoadBalancer.Hosts[1].HoldsVIP = true
		}, want: []string{"VIP 10.0.0.100: held by m1, m2 at once"}},
		{name: "a load balancer that does not answer", report: healthyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[2].Error = "m3: no answer within 30s (read the addresses)"
		}, want: []string{"load balancer m3: no answer within 30s (read the addresses)"}},
		{name: "haproxy as static pods, all up", report: haproxyPodsReport},
		{name: "an apiserver failing its checks but up yet is not a problem", report: healthyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[0].Backends[2] = controlplane.Backend{Server: "m3", State: "UP 1/2", Check: "L4CON"}
		}},
		{name: "an apiserver drained by a run cut short", report: healthyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[0].Backends[1] = controlplane.Backend{Server: "m2", State: "DRAIN"}
			r.LoadBalancer.Hosts[2].Backends[1] = controlplane.Backend{Server: "m2", State: "DRAIN", Check: "L7OK"}
		}, want: []string{
			"haproxy on m1: the apiserver of m2 is DRAIN (checks off): a kubeha run (upgrade, certs renew) was cut short while it was drained; rerun it (kubeha apply, kubeha certs renew), or hand every master back with kubeha phase upgrade --force",
			"haproxy on m3: the apiserver of m2 is DRAIN: a kubeha run (upgrade, certs renew) was cut short while it was drained; rerun it (kubeha apply, kubeha certs renew), or hand every master back with kubeha phase upgrade --force",
		}},
		{name: "an apiserver drained while down", report: healthyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[1].Backends[0] = controlplane.Backend{Server: "m1", State: "DOWN"}
		}, want: []string{"haproxy on m2: the apiserver of m1 is DOWN (checks off): a kubeha run (upgrade, certs renew) was cut short while it was drained, and unchecked it stays out even once its apiserver is well; rerun it (kubeha apply, kubeha certs renew), or hand every master back with kubeha phase upgrade --force"}},
		{name: "an apiserver failing its health check", report: healthyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[1].Backends[2] = controlplane.Backend{Server: "m3", State: "DOWN", Check: "L4CON"}
		}, want: []string{"haproxy on m2: the apiserver of m3 is DOWN (last check L4CON): it fails haproxy's health check (GET /readyz): see to the apiserver on m3 and whether m2 reaches it"}},
		{name: "an apiserver's checks turned off by hand", report: haproxyPodsReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[1].Backends[0] = controlplane.Backend{Server: "m1", State: "no check"}
		}, want: []string{"haproxy on w2: the apiserver of m1 is no check: its health checks were turned off outside kubeha, so haproxy sends it clients even when it fails; kubeha phase upgrade --force turns them on again"}},
		{name: "an apiserver in maintenance", report: healthyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[0].Backends[0] = controlplane.Backend{Server: "m1", State: "MAINT"}
		}, want: []string{"haproxy on m1: the apiserver of m1 is MAINT: put in maintenance outside kubeha, haproxy sends it nothing; kubeha phase upgrade --force hands it back"}},
		{name: "an apiserver in another state", report: healthyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[0].Backends[0] = controlplane.Backend{Server: "m1", State: "NOLB", Check: "L7OK"}
		}, want: []string{"haproxy on m1: the apiserver of m1 is NOLB: haproxy's stats page on m1 (127.0.0.1:8404) says why"}},
		{name: "a master haproxy has no server for", report: healthyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[2].Backends = r.LoadBalancer.Hosts[2].Backends[:2]
			r.LoadBalancer.Hosts[2].MissingBackends = []string{"m3"}
		}, want: []string{"haproxy on m3: no server for the apiserver of m3: run kubeha apply (its load-balancer phase puts every master in haproxy.cfg)"}},
		{name: "haproxy's backends not read", report: healthyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[1].Backends = nil
			r.LoadBalancer.Hosts[1].BackendsError = `m2: "read haproxy's backends" exited 1: haproxy here did not answer on http://127.0.0.1:8404/stats`
		}, want: []string{`haproxy on m2: "read haproxy's backends" exited 1: haproxy here did not answer on http://127.0.0.1:8404/stats`}},
		{name: "a local proxy inactive", report: localProxyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[1].UnitState = "inactive"
		}, want: []string{"load balancer w1: kubeha-nginx is inactive"}},
		{name: "an apiserver a node of nginx's proxy cannot connect to", report: localProxyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[1].Backends[2] = controlplane.Backend{Server: "m3", State: "DOWN", Check: "Connection refused", Address: "10.0.0.3:6443"}
		}, want: []string{"nginx on w1: the apiserver of m3 (10.0.0.3:6443) is DOWN (Connection refused): w1 cannot open a TCP connection to it, so its nginx cannot forward there either: see to the apiserver on m3 and whether w1 reaches it"}},
		{name: "an apiserver silent to every node of nginx's proxy", report: localProxyReport, change: func(r *statusReport) {
			for i := range r.LoadBalancer.Hosts {
				r.LoadBalancer.Hosts[i].Backends[0] = controlplane.Backend{Server: "m1", State: "DOWN", Check: "no answer within 2 s", Address: "10.0.0.1:6443"}
			}
		}, want: []string{
			"nginx on m1: the apiserver of m1 (10.0.0.1:6443) is DOWN (no answer within 2 s): m1 cannot open a TCP connection to it, so its nginx cannot forward there either: see to the apiserver on m1 and whether m1 reaches it",
			"nginx on w1: the apiserver of m1 (10.0.0.1:6443) is DOWN (no answer within 2 s): w1 cannot open a TCP connection to it, so its nginx cannot forward there either: see to the apiserver on m1 and whether w1 reaches it",
		}},
		{name: "nginx inactive, its node still reaching the apiservers", report: localProxyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[0].UnitState = "failed"
		}, want: []string{"load balancer m1: kubeha-nginx is failed"}},
		{name: "the connects not tried", report: localProxyReport, change: func(r *statusReport) {
			r.LoadBalancer.Hosts[1].Backends = nil
			r.LoadBalancer.Hosts[1].BackendsError = `w1: "connect to the apiservers" exited 1: no bash here to try a TCP connection to the apiservers with`
		}, want: []string{`tcp connect on w1: "connect to the apiservers" exited 1: no bash here to try a TCP connection to the apiservers with`}},
		{name: "a certificate expiring within 30 days", report: healthyReport, change: func(r *statusReport) {
			r.Certificates[1].First, r.Certificates[1].Expires = "apiserver-etcd-client", statusNow.Add(29*24*time.Hour)
		}, want: []string{"certificates m2: apiserver-etcd-client expires 2026-05-30T12:00:00Z, within 30 days: run kubeha certs renew"}},
		{name: "a master that does not answer for its certificates", report: healthyReport, change: func(r *statusReport) {
			r.Certificates[2] = certReport{Host: "m3", Error: "m3: connect to 10.0.0.3:22: connection refused"}
		}, want: []string{"certificates m3: connect to 10.0.0.3:22: connection refused"}},
		{name: "a failed phase", report: healthyReport, change: func(r *statusReport) { r.Journal.Phases[1].Status = state.StatusFailed },
			want: []string{"journal phase kubeadm-init: failed"}},
		{name: "an interrupted phase", report: healthyReport, change: func(r *statusReport) { r.Journal.Phases[1].Status = state.StatusInterrupted },
			want: []string{"journal phase kubeadm-init: interrupted"}},
		{name: "offline, the journal all done", report: func() *statusReport {
			return &statusReport{Cluster: "prod", Offline: true, Journal: healthyReport().Journal}
		}},
		{name: "offline, a phase running", report: func() *statusReport {
			r := &statusReport{Cluster: "prod", Offline: true, Journal: healthyReport().Journal}
			r.Journal.Phases[0].Status = state.StatusRunning
			return r
		}, want: []string{"journal phase facts: running"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.report()
			if tt.change != nil {
				tt.change(r)
			}
			judge(r, statusNow)
			if tt.want == nil {
				tt.want = []string{}
			}
			if !slices.Equal(r.Problems, tt.want) {
				t.Errorf("problems:\n%q\nwant\n%q", r.Problems, tt.want)
			}
			if r.Healthy != (len(tt.want) == 0) {
				t.Errorf("healthy %v with problems %q", r.Healthy, r.Problems)
			}
			var err error
			if !r.Healthy {
				err = &unhealthyError{cluster: r.Cluster, problems: r.Problems}
			}
			wantCode := exitOK
			if len(tt.want) > 0 {
				wantCode = exitUnhealthy
			}
			if got := exitCode(err); got != wantCode {
				t.Errorf("exit code %d, want %d", got, wantCode)
			}
			// Every problem is on a line of the text marked "!".
			var out bytes.Buffer
			printStatus(&out, r, statusNow)
			for _, p := range tt.want {
				if !strings.Contains(out.String(), "\n  "+p+"\n") {
					t.Errorf("text lacks problem %q:\n%s", p, out.String())
				}
			}
			// One marked line a problem: "! " at a line's start.
			marked := strings.Count("\n"+out.String(), "\n!")
			if marked != len(tt.want) {
				t.Errorf("%d lines marked for %d problems:\n%s", marked, len(tt.want), out.String())
			}
		})
	}
}

// TestPrintStatus pins the text of a healthy report and of one with a
// problem of each section (testdata/status/*.txt; -update rewrites them).
func TestPrintStatus(t *testing.T) {
	problems := healthyReport()
	problems.Nodes.Nodes[3].Ready = false
	problems.Nodes.Nodes = append(problems.Nodes.Nodes, nodeReport{Name: "x9", InCluster: true, Ready: true, KubeletVersion: "v1.37.1"})
	problems.Etcd.Members[2].Healthy, problems.Etcd.Members[2].Error = false, "context deadline exceeded"
	problems.LoadBalancer.Holders, problems.LoadBalancer.Hosts[0].HoldsVIP = []string{}, false
	problems.LoadBalancer.Hosts[2] = lbHostReport{Host: "m3", Error: "m3: no answer within 30s (read the addresses)"}
	problems.LoadBalancer.Hosts[0].Backends[2] = controlplane.Backend{Server: "m3", State: "DOWN", Check: "L4CON"}
	problems.LoadBalancer.Hosts[1].Backends[0] = controlplane.Backend{Server: "m1", State: "DRAIN"}
	problems.Certificates[1].First, problems.Certificates[1].Expires = "apiserver-etcd-client", statusNow.Add(29*24*time.Hour)
	problems.Journal.Phases[1].Status = state.StatusFailed
	problems.Journal.Phases[1].Hosts = []journalHost{{Host: "m1", Status: state.StatusFailed, Error: `m1: "kubeadm init" exited 1`}}
	offline := &statusReport{Cluster: "prod", Offline: true, Journal: healthyReport().Journal}
	haproxyPods := haproxyPodsReport()
	haproxyPods.LoadBalancer.Hosts[0].Backends = haproxyPods.LoadBalancer.Hosts[0].Backends[:2]
	haproxyPods.LoadBalancer.Hosts[0].MissingBackends = []string{"m3"}
	haproxyPods.LoadBalancer.Hosts[1].Backends[1] = controlplane.Backend{Server: "m2", State: "MAINT"}
	nginx := localProxyReport()
	nginx.LoadBalancer.Hosts[0].UnitState = "failed"
	nginx.LoadBalancer.Hosts[1].Backends[1] = controlplane.Backend{Server: "m2", State: "DOWN", Check: "No route to host", Address: "10.0.0.2:6443"}
	nginx.LoadBalancer.Hosts[1].Backends[2] = controlplane.Backend{Server: "m3", State: "DOWN", Check: "no answer within 2 s", Address: "10.0.0.3:6443"}
	for name, r := range map[string]*statusReport{"healthy": healthyReport(), "problems": problems, "local-proxy": localProxyReport(),
		"local-proxy-problems": nginx, "local-proxy-haproxy-pods": haproxyPods, "offline": offline, "kube-vip": kubeVIPReport()} {
		t.Run(name, func(t *testing.T) {
			judge(r, statusNow)
			var out bytes.Buffer
			printStatus(&out, r, statusNow)
			golden := filepath.Join("testdata", "status", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if out.String() != string(want) {
				t.Errorf("got:\n%s\nwant (%s):\n%s", out.String(), golden, want)
			}
		})
	}
}

func TestErrorFor(t *testing.T) {
	joined := errors.Join(errors.New("m1: connect to 10.0.0.1:22: refused"), errors.New("m3: no answer within 30s (check certificate expiration)"))
	if got := errorFor("m3", joined); got != "m3: no answer within 30s (check certificate expiration)" {
		t.Errorf("m3: %q", got)
	}
	if got := errorFor("m2", errors.New("context deadline exceeded")); got != "m2: context deadline exceeded" {
		t.Errorf("m2: %q", got)
	}
	if got := errorFor("m2", nil); got != "m2: did not answer" {
		t.Errorf("m2 without an error: %q", got)
	}
}

// statusHosts answers kubeha status's questions as a cluster of the
// example inventory would, k1 holding the VIP, every haproxy seeing every
// apiserver UP but as backends says; hung does not answer. With nodes set
// it is a cluster of those nodes, the first three masters, every node
// running kubeha-nginx and reaching every apiserver but as backends says.
type statusHosts struct {
	phases.Hosts
	hung string
	// backends is lb-backends' or lb-reach's output on a host, in place
	// of all UP.
	backends map[string]string
	nodes    []string
	// holder holds the VIP; k1 when empty.
	holder string
}

func (f statusHosts) Run(ctx context.Context, host string, cmd ssh.Command) (ssh.Result, error) {
	if host == f.hung {
		<-ctx.Done()
		return ssh.Result{}, ctx.Err()
	}
	names := f.nodes
	if names == nil {
		names = []string{"k1", "k2", "k3", "k4", "k5", "k6"}
	}
	switch cmd.Name {
	case "is it a control-plane node":
		return ssh.Result{Stdout: "ready\n"}, nil
	case "read the cluster's versions":
		var nodes strings.Builder
		for _, n := range names {
			fmt.Fprintf(&nodes, "%s\tv1.37.2\tTrue\t\t\t10.0.0.1\n", n)
		}
		return ssh.Result{Stdout: "@@kubeha-section version\nv1.37.2\n@@kubeha-section nodes\n" + nodes.String() +
			"@@kubeha-section masters\n" + strings.Join(names[:3], "\n") + "\n"}, nil
	case "read etcd's members":
		return ssh.Result{Stdout: "@@kubeha-section members\n" +
			`{"members":[{"ID":1,"name":"k1","clientURLs":["https://192.168.8.191:2379"]},{"ID":2,"name":"k2","clientURLs":["https://192.168.8.187:2379"]},{"ID":3,"name":"k3","clientURLs":["https://192.168.8.186:2379"]}]}` +
			"\n@@kubeha-section status\n" + `[{"Endpoint":"https://192.168.8.191:2379","Status":{"header":{"member_id":1},"leader":1}}]` +
			"\n@@kubeha-section health\n" + `[{"endpoint":"https://192.168.8.191:2379","health":true},{"endpoint":"https://192.168.8.187:2379","health":true},{"endpoint":"https://192.168.8.186:2379","health":true}]` + "\n"}, nil
	case "read the external etcd's members":
		// etcd's JSON gateway as controlplane/etcd-external-status
		// prints it: etcd-1 leads, etcd-3 does not answer.
		return ssh.Result{Stdout: "@@kubeha-section members\n" +
			`{"members":[{"ID":"1","name":"etcd-1","clientURLs":["https://192.168.8.171:2379"]},{"ID":"2","name":"etcd-2","clientURLs":["https://192.168.8.172:2379"]},{"ID":"3","name":"etcd-3","clientURLs":["https://192.168.8.173:2379"]}]}` +
			"\n@@kubeha-section status\n" +
			"https://192.168.8.171:2379\t" + `{"header":{"member_id":"1"},"leader":"1"}` + "\n" +
			"https://192.168.8.172:2379\t" + `{"header":{"member_id":"2"},"leader":"1"}` + "\n" +
			"https://192.168.8.173:2379\terror: curl: (28) Connection timed out after 2001 milliseconds\n" +
			"@@kubeha-section health\n" +
			"https://192.168.8.171:2379\t" + `{"health":"true","reason":""}` + "\n" +
			"https://192.168.8.172:2379\t" + `{"health":"true","reason":""}` + "\n" +
			"https://192.168.8.173:2379\terror: curl: (28) Connection timed out after 2001 milliseconds\n"}, nil
	case "read the addresses":
		// holds-address prints the interfaces holding the VIP: k1's.
		if host == f.holder || (f.holder == "" && host == "k1") {
			return ssh.Result{Stdout: "eth0 192.168.8.10/32\n"}, nil
		}
		return ssh.Result{}, nil
	case "read haproxy's backends":
		if out, ok := f.backends[host]; ok {
			return ssh.Result{Stdout: out}, nil
		}
		return ssh.Result{Stdout: "k1\tUP\tL7OK\nk2\tUP\tL7OK\nk3\tUP\tL7OK\n"}, nil
	case "is kubeha-nginx active":
		return ssh.Result{Stdout: "active\n"}, nil
	case "connect to the apiservers":
		if out, ok := f.backends[host]; ok {
			return ssh.Result{Stdout: out}, nil
		}
		var out strings.Builder
		for _, m := range names[:3] {
			fmt.Fprintf(&out, "%s\tUP\tconnected\n", m)
		}
		return ssh.Result{Stdout: out.String()}, nil
	case "check certificate expiration":
		b, err := os.ReadFile("../../controlplane/testdata/check-expiration.json")
		return ssh.Result{Stdout: string(b)}, err
	}
	return ssh.Result{}, fmt.Errorf("%s: unexpected command %q", host, cmd.Name)
}

// TestStatusCommand runs kubeha status against fake hosts: healthy, then
// with a master that does not answer (named once, exit 4, still a
// report), with a master left drained in a haproxy, then --offline, which
// asks no host.
func TestStatusCommand(t *testing.T) {
	h := newHarness(t, "facts")
	kubeha := func(hosts phases.Hosts, args ...string) (int, string, string) {
		a := h.app()
		a.connect = func(context.Context, *inventory.Cluster, connectOptions) (phases.Hosts, func() error, error) {
			if hosts == nil {
				t.Error("--offline connected to the hosts")
			}
			return hosts, nil, nil
		}
		var out, errb bytes.Buffer
		args = append(args, "-i", h.inv, "--state-dir", filepath.Join(h.dir, "state"), "--timeout", "300ms")
		code := run(context.Background(), args, strings.NewReader(""), &out, &errb, a)
		return code, out.String(), errb.String()
	}
	// check-expiration.json's certificates expire in 2026-2035: judged at
	// the real time, the first may be near. Only the lines are checked.
	code, out, errs := kubeha(statusHosts{}, "status", "--output", "json")
	var r statusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("exit %d: %v\n%s\n%s", code, err, out, errs)
	}
	if len(r.Nodes.Nodes) != 6 || r.Nodes.Via != "k1" || !slices.Equal(r.LoadBalancer.Holders, []string{"k1"}) ||
		len(r.Etcd.Members) != 3 || len(r.Certificates) != 3 || r.Certificates[0].First == "" {
		t.Errorf("report: %+v", r)
	}
	for _, h := range r.LoadBalancer.Hosts {
		if len(h.Backends) != 3 || h.Backends[1] != (controlplane.Backend{Server: "k2", State: "UP", Check: "L7OK"}) || h.BackendsSource != "haproxy-stats" {
			t.Errorf("%s's haproxy: %+v", h.Host, h)
		}
	}
	for _, p := range r.Problems {
		if !strings.HasPrefix(p, "certificates ") && !strings.HasPrefix(p, "journal ") {
			t.Errorf("problem on healthy hosts: %s", p)
		}
	}

	// unhealthy runs status on hosts, wants exit 4 and each line whole.
	unhealthy := func(name string, hosts statusHosts, lines ...string) string {
		t.Helper()
		code, out, _ := kubeha(hosts, "status")
		if code != exitUnhealthy {
			t.Errorf("%s: exit %d, want %d\n%s", name, code, exitUnhealthy, out)
		}
		for _, want := range lines {
			if !hasLine(out, want) {
				t.Errorf("%s: no line %q:\n%s", name, want, out)
			}
		}
		return out
	}
	out = unhealthy("k3 hung", statusHosts{hung: "k3"},
		"!   k3                 k3: no answer within 300ms (read the addresses)",
		"! k3: no answer within 300ms (check certificate expiration)",
		"  certificates k3: no answer within 300ms (check certificate expiration)",
		"  load balancer k3: no answer within 300ms (read the addresses)",
	)
	if strings.Contains(out, "haproxy on k3") {
		t.Errorf("k3 hung: its haproxy is a second problem:\n%s", out)
	}

	drained := statusHosts{backends: map[string]string{"k2": "k1\tUP\tL7OK\nk2\tDRAIN\t\n", "k3": "k1\tUP\tL7OK\nk2\tDRAIN\t\nk3\tUP\tL7OK\n"}}
	unhealthy("k2 drained", drained,
		"    k1                 holds the VIP",
		"      haproxy          k1 UP, k2 UP, k3 UP",
		"    k2                 standby",
		"      haproxy          k1 UP",
		"!     haproxy          k2 DRAIN (checks off)",
		"!     haproxy          k3 missing: no server for it",
		"    k3                 standby",
		"      haproxy          k1 UP, k3 UP",
		"!     haproxy          k2 DRAIN (checks off)",
		"  haproxy on k2: the apiserver of k2 is DRAIN (checks off): a kubeha run (upgrade, certs renew) was cut short while it was drained; rerun it (kubeha apply, kubeha certs renew), or hand every master back with kubeha phase upgrade --force",
		"  haproxy on k2: no server for the apiserver of k3: run kubeha apply (its load-balancer phase puts every master in haproxy.cfg)",
		"  haproxy on k3: the apiserver of k2 is DRAIN (checks off): a kubeha run (upgrade, certs renew) was cut short while it was drained; rerun it (kubeha apply, kubeha certs renew), or hand every master back with kubeha phase upgrade --force",
	)

	code, out, errs = kubeha(nil, "status", "--offline", "--json")
	var offline statusReport
	if code != exitOK || json.Unmarshal([]byte(out), &offline) != nil || !offline.Offline || !strings.Contains(errs, "deprecated") {
		t.Errorf("--offline --json: exit %d\n%s\n%s", code, out, errs)
	}
}

// TestStatusNginx runs kubeha status on a cluster of nginx's local proxy
// (examples/local-proxy.yaml) against fake hosts: each node's connects to
// the apiservers come in the same structure as haproxy's backends, in
// JSON and text, marked as the node's TCP connect and not nginx's view; an
// apiserver a node cannot connect to is a problem (exit 4).
func TestStatusNginx(t *testing.T) {
	h := newHarness(t, "facts")
	h.useExample("local-proxy.yaml")
	kubeha := func(hosts phases.Hosts, args ...string) (int, string, string) {
		a := h.app()
		a.connect = func(context.Context, *inventory.Cluster, connectOptions) (phases.Hosts, func() error, error) {
			return hosts, nil, nil
		}
		var out, errb bytes.Buffer
		args = append(args, "-i", h.inv, "--state-dir", filepath.Join(h.dir, "state"), "--timeout", "300ms")
		code := run(context.Background(), args, strings.NewReader(""), &out, &errb, a)
		return code, out.String(), errb.String()
	}
	nodes := []string{"m1", "m2", "m3", "w1", "w2"}
	lbProblem := func(p string) bool {
		return strings.HasPrefix(p, "nginx on ") || strings.HasPrefix(p, "tcp connect on ")
	}

	code, out, errs := kubeha(statusHosts{nodes: nodes}, "status", "--output", "json")
	var r statusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("exit %d: %v\n%s\n%s", code, err, out, errs)
	}
	if r.LoadBalancer == nil || r.LoadBalancer.Unit != "kubeha-nginx" || len(r.LoadBalancer.Hosts) == 0 {
		t.Fatalf("load balancer: %+v", r.LoadBalancer)
	}
	for _, lh := range r.LoadBalancer.Hosts {
		want := []controlplane.Backend{
			{Server: "m1", State: "UP", Check: "connected", Address: "192.168.2.111:6443"},
			{Server: "m2", State: "UP", Check: "connected", Address: "192.168.2.112:6443"},
			{Server: "m3", State: "UP", Check: "connected", Address: "192.168.2.113:6443"}}
		if lh.UnitState != "active" || lh.BackendsSource != "tcp-connect" || !slices.Equal(lh.Backends, want) {
			t.Errorf("%s: %+v", lh.Host, lh)
		}
	}
	// JSON readers see the source next to the backends, by its stable name.
	if !strings.Contains(out, `"backendsSource": "tcp-connect"`) || !strings.Contains(out, `"address": "192.168.2.111:6443"`) {
		t.Errorf("JSON lacks the backends' source or address:\n%s", out)
	}
	for _, p := range r.Problems {
		if lbProblem(p) || strings.HasPrefix(p, "load balancer ") {
			t.Errorf("problem on healthy hosts: %s", p)
		}
	}

	w1 := r.LoadBalancer.Hosts[len(r.LoadBalancer.Hosts)-1].Host
	down := statusHosts{nodes: nodes, backends: map[string]string{w1: "m2\tDOWN\tConnection refused\nm1\tUP\tconnected\nm3\tUP\tconnected\n"}}
	code, out, _ = kubeha(down, "status")
	if code != exitUnhealthy {
		t.Errorf("m2 unreachable from %s: exit %d, want %d\n%s", w1, code, exitUnhealthy, out)
	}
	for _, want := range []string{
		"load balancer local-proxy (kubeha-nginx on each node; tcp connect: whether the node reaches each apiserver, not nginx's own view)",
		"      tcp connect      m1 UP, m3 UP",
		"!     tcp connect      m2 192.168.2.112:6443 DOWN (Connection refused)",
		"  nginx on " + w1 + ": the apiserver of m2 (192.168.2.112:6443) is DOWN (Connection refused): " + w1 +
			" cannot open a TCP connection to it, so its nginx cannot forward there either: see to the apiserver on m2 and whether " + w1 + " reaches it",
	} {
		if !hasLine(out, want) {
			t.Errorf("no line %q:\n%s", want, out)
		}
	}
}

// TestStatusKubeVIP runs kubeha status on a kube-vip cluster
// (examples/kube-vip.yaml) against fake hosts: each master is asked
// whether it holds the VIP and nothing more (no haproxy, so no backends;
// statusHosts refuses no question, so the report must show none asked),
// and one holder is healthy.
func TestStatusKubeVIP(t *testing.T) {
	h := newHarness(t, "facts")
	h.useExample("kube-vip.yaml")
	kubeha := func(hosts phases.Hosts, args ...string) (int, string) {
		a := h.app()
		a.connect = func(context.Context, *inventory.Cluster, connectOptions) (phases.Hosts, func() error, error) {
			return hosts, nil, nil
		}
		var out, errb bytes.Buffer
		args = append(args, "-i", h.inv, "--state-dir", filepath.Join(h.dir, "state"), "--timeout", "300ms")
		code := run(context.Background(), args, strings.NewReader(""), &out, &errb, a)
		return code, out.String() + errb.String()
	}
	hosts := statusHosts{nodes: []string{"master-1", "master-2", "master-3", "node-1"}, holder: "master-2"}
	code, out := kubeha(hosts, "status", "--output", "json")
	var r statusReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("exit %d: %v\n%s", code, err, out)
	}
	l := r.LoadBalancer
	if l == nil || l.Mode != "kube-vip" || l.VIP != "192.168.20.150" || !slices.Equal(l.Holders, []string{"master-2"}) || len(l.Hosts) != 3 {
		t.Fatalf("load balancer: %+v", l)
	}
	for _, lh := range l.Hosts {
		if lh.Error != "" || lh.Backends != nil || lh.BackendsSource != "" || lh.BackendsError != "" || lh.HoldsVIP != (lh.Host == "master-2") {
			t.Errorf("%s: %+v", lh.Host, lh)
		}
	}
	for _, p := range r.Problems {
		if !strings.HasPrefix(p, "certificates ") && !strings.HasPrefix(p, "journal ") {
			t.Errorf("problem on healthy hosts: %s", p)
		}
	}
	_, out = kubeha(hosts, "status")
	for _, want := range []string{
		"load balancer kube-vip (no backends: a client of the VIP reaches its holder's own apiserver)",
		"  VIP 192.168.20.150 held by master-2",
		"    master-2           holds the VIP",
		"    master-3           standby",
	} {
		if !hasLine(out, want) {
			t.Errorf("no line %q:\n%s", want, out)
		}
	}
}

// TestStatusOutputValues: --output takes text and json, and the values the
// run commands take (auto, tty, plain) as text, so one --output works with
// every command; --json is json with a warning on stderr; anything else is
// a usage error naming what to use.
func TestStatusOutputValues(t *testing.T) {
	const text, asJSON, refused = "text", "json", "refused"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"default", nil, text},
		{"text", []string{"--output", "text"}, text},
		{"plain", []string{"--output", "plain"}, text},
		{"tty", []string{"--output", "tty"}, text},
		{"auto", []string{"--output", "auto"}, text},
		{"json", []string{"--output", "json"}, asJSON},
		{"deprecated --json", []string{"--json"}, asJSON},
		{"yaml", []string{"--output", "yaml"}, refused},
		{"empty", []string{"--output", ""}, refused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "facts")
			code, out, errs := h.run(context.Background(), append([]string{"status", "--offline"}, tt.args...)...)
			var r statusReport
			isJSON := json.Unmarshal([]byte(out), &r) == nil
			switch tt.want {
			case text:
				if code != exitOK || isJSON || !strings.HasPrefix(out, "cluster prod: healthy\n") || errs != "" {
					t.Errorf("want the text report: exit %d\n%s\n%s", code, out, errs)
				}
			case asJSON:
				if code != exitOK || !isJSON || r.Cluster != "prod" {
					t.Errorf("want the JSON report: exit %d\n%s\n%s", code, out, errs)
				}
				if deprecated := strings.Contains(errs, "--json is deprecated: use --output json"); deprecated != slices.Contains(tt.args, "--json") {
					t.Errorf("stderr: %q", errs)
				}
			case refused:
				if code != exitUsage || out != "" || !strings.Contains(errs, "use text or json") {
					t.Errorf("want a usage error: exit %d\n%s\n%s", code, out, errs)
				}
			}
		})
	}
}

// TestStatusExternalEtcd runs kubeha status on external etcd: the etcd
// kubeha built (examples/external-etcd.yaml) is asked through its first
// etcd host that answers, etcd-2 when etcd-1 does not; the operator's
// through the control master, with no client file read on this machine
// (the inventory names files that do not exist). Each member's health and
// the leader show, a member that does not answer is a problem (exit 4).
func TestStatusExternalEtcd(t *testing.T) {
	tests := []struct {
		name    string
		theirs  bool
		hung    string
		wantVia string
	}{
		{name: "kubeha's etcd", wantVia: "etcd-1"},
		{name: "kubeha's etcd, etcd-1 hung", hung: "etcd-1", wantVia: "etcd-2"},
		{name: "the operator's etcd", theirs: true, wantVia: "k1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "facts")
			h.useExample("external-etcd.yaml")
			if tt.theirs {
				b, err := os.ReadFile(h.inv)
				if err != nil {
					t.Fatal(err)
				}
				inv := regexp.MustCompile(`(?m)^  - \{name: etcd-\d.*\n`).ReplaceAllString(string(b), "")
				inv = strings.Replace(inv, "    topology: external            # no endpoints: kubeha builds etcd on the hosts with role etcd\n",
					"    topology: external\n    external:\n      endpoints: [https://192.168.8.171:2379]\n      caFile: /nonexistent/ca.crt\n      certFile: /nonexistent/c.crt\n      keyFile: /nonexistent/c.key\n", 1)
				if err := os.WriteFile(h.inv, []byte(inv), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			hosts := statusHosts{nodes: []string{"k1", "k2", "k3", "k4"}, hung: tt.hung}
			run := func(args ...string) (int, string) {
				a := h.app()
				a.connect = func(context.Context, *inventory.Cluster, connectOptions) (phases.Hosts, func() error, error) {
					return hosts, nil, nil
				}
				var out, errb bytes.Buffer
				args = append(args, "-i", h.inv, "--state-dir", filepath.Join(h.dir, "state"), "--timeout", "300ms")
				code := run(context.Background(), args, strings.NewReader(""), &out, &errb, a)
				return code, out.String()
			}
			code, out := run("status", "--output", "json")
			var r statusReport
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("exit %d: %v\n%s", code, err, out)
			}
			if code != exitUnhealthy || r.Etcd == nil || r.Etcd.Via != tt.wantVia || r.Etcd.Error != "" || len(r.Etcd.Members) != 3 {
				t.Fatalf("exit %d, etcd %+v", code, r.Etcd)
			}
			if want := "etcd member etcd-3 (3): unhealthy: curl: (28) Connection timed out after 2001 milliseconds"; !slices.Contains(r.Problems, want) {
				t.Errorf("problems %q lack %q", r.Problems, want)
			}
			_, out = run("status")
			for _, want := range []string{
				"etcd (asked through " + tt.wantVia + ")",
				"  etcd-1               1                leader https://192.168.8.171:2379 healthy",
				"  etcd-2               2                       https://192.168.8.172:2379 healthy",
			} {
				if !hasLine(out, want) {
					t.Errorf("no line %q:\n%s", want, out)
				}
			}
		})
	}
}
