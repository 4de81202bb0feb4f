package controlplane

import (
	"testing"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/lb"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/scripts/scripttest"
)

// scriptHost is a master whose name and addresses are all v.
func scriptHost(v string) inventory.Host {
	return inventory.Host{Name: v, Address: v, InternalAddress: v, Role: inventory.RoleMaster}
}

// TestScripts renders every script of the package, in its frame where it
// runs in one, with every value set to plain and to hostile values: each
// keeps its structure, passes sh -n and shellcheck, and matches its golden
// file in testdata/scripts (-update rewrites them).
func TestScripts(t *testing.T) {
	cp := newClient(masters(1), &recordingHosts{}, &events.Secrets{})
	framed := func(route Route, name string, data any) func(string) scripts.Script {
		return func(v string) scripts.Script {
			return cp.frame(scriptHost(v), route, "20s", scripts.Render(name, data))
		}
	}
	cases := []scripttest.Case{
		{Name: "probe", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/probe", struct{ Mark, Readyz string }{v, v})
		}},
		{Name: "wait-ready", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/wait-ready", struct {
				Secs   int
				Readyz string
			}{180, v})
		}},
		{Name: "wait-etcd own", Render: framed(Own, "controlplane/wait-etcd", struct{ Secs int }{120})},
		{Name: "node-cidrs endpoint", Render: framed(Endpoint, "controlplane/node-cidrs", nil)},
		{Name: "node-cidr", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Own, "2s", scripts.Render("controlplane/node-cidr", struct{ Node string }{v}))
		}},
		{Name: "secret-exists", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Own, "10s", scripts.Render("controlplane/secret-exists", struct{ Name string }{v}))
		}},
		{Name: "credentials", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Own, "20s", scripts.Render("controlplane/credentials", struct {
				Dir, Path string
				Command   []string
			}{v, v, []string{"kubeadm", "token", "create", "--config"}}))
		}},
		{Name: "revoke", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Own, "10s", scripts.Render("controlplane/revoke", struct{ Ours, UploadCerts string }{v, "2" + v}))
		}},
		{Name: "remove-etcd-member", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Own, "20s", scripts.Render("controlplane/remove-etcd-member", struct{ Pod, PeerURL, Node string }{v, v, v}))
		}},
		{Name: "etcd-snapshot", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Own, "60s", scripts.Render("controlplane/etcd-snapshot", struct{ Pod, Path string }{v, v}))
		}},
		{Name: "etcd-host-snapshot", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/etcd-host-snapshot", struct {
				Path, Manifest, Tools, Endpoint, CA, Cert, Key string
			}{v, v, v, v, v, v, v})
		}},
		{Name: "etcd-external-status", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/etcd-external-status", externalStatusData{Entries: []string{v, v}, CA: v, Cert: v, Key: v, Secs: 2})
		}},
		{Name: "etcd-snapshot-remove", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/etcd-snapshot-remove", struct{ Path string }{v})
		}},
		{Name: "etcd-restore-member", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/etcd-restore-member", struct{ Paused, Snapshot string }{v, v})
		}},
		{Name: "etcd-restore-check", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/etcd-restore-check", struct{ DataDir, Snapshot, Image, Tools string }{v, v, v, v})
		}},
		{Name: "etcd-restore-stop", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/etcd-restore-stop", struct {
				Paused, Marker string
				APIServerPort  int
			}{v, v, 6443})
		}},
		{Name: "etcd-restore-data", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/etcd-restore-data", struct {
				DataDir, Token, Marker, Snapshot, Image, Tools, Name, Cluster, Peer string
				BumpRevision                                                        int
			}{v, v, v, v, v, v, v, v, v, restoreBump})
		}},
		{Name: "etcd-restore-start etcd", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/etcd-restore-start", struct {
				Paused, Component, Image, Tools string
				Secs                            int
			}{v, "etcd", v, v, 180})
		}},
		{Name: "etcd-restore-start control-plane", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/etcd-restore-start", struct {
				Paused, Component, Image, Tools string
				Secs                            int
			}{v, "control-plane", v, v, 0})
		}},
		{Name: "etcd-restore-cleanup", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/etcd-restore-cleanup", struct{ DataDir, Snapshot, Marker string }{v, v, v})
		}},
		{Name: "cluster-state", Render: framed(Own, "controlplane/cluster-state", nil)},
		{Name: "drain", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Endpoint, "20s", scripts.Render("controlplane/drain", struct {
				Node, Version string
				Secs          int
				Remove        bool
			}{v, v, 300, false}))
		}},
		{Name: "drain for removal", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Endpoint, "20s", scripts.Render("controlplane/drain", struct {
				Node, Version string
				Secs          int
				Remove        bool
			}{v, "", 30, true}))
		}},
		{Name: "uncordon", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Endpoint, "20s", scripts.Render("controlplane/uncordon", struct{ Node string }{v}))
		}},
		{Name: "wait-node", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Endpoint, "5s", scripts.Render("controlplane/wait-node", struct {
				Node, Version string
				Secs          int
			}{v, v, 300}))
		}},
		{Name: "certs-renew", Render: framed(Own, "controlplane/certs-renew", nil)},
		{Name: "restart-static-pod", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Endpoint, "5s", scripts.Render("controlplane/restart-static-pod",
				restartPods{v, v, v, []staticPod{{v, v}, {"kube-scheduler", "kube-scheduler"}, kubeVIPPod}, 300}))
		}},
		{Name: "delete-node", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Endpoint, "20s", scripts.Render("controlplane/delete-node", struct{ Node string }{v}))
		}},
		{Name: "certs-check", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Own, "20s", scripts.Render("controlplane/certs-check", nil))
		}},
		{Name: "finished worker", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/finished", struct {
				ControlPlane bool
				Readyz, Node string
			}{false, v, v})
		}},
		{Name: "finished control plane", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Endpoint, "5s", scripts.Render("controlplane/finished", struct {
				ControlPlane bool
				Readyz, Node string
			}{true, v, v}))
		}},
		{Name: "endpoint-status", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/endpoint-status", struct{ Readyz string }{v})
		}},
		{Name: "wait-endpoint", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/wait-endpoint", struct {
				Secs         int
				What, Readyz string
			}{30, v, v})
		}},
		{Name: "etcd-status", Render: func(v string) scripts.Script {
			return cp.frame(scriptHost(v), Own, "20s", scripts.Render("controlplane/etcd-status", struct{ Pod string }{v}))
		}},
		{Name: "holds-address", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/holds-address", struct{ Addr string }{v})
		}},
		{Name: "unit-active", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/unit-active", struct{ Unit string }{v})
		}},
		{Name: "lb-backend drain", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/lb-backend", struct {
				Server, State, Config string
				Port                  int
			}{v, BackendDrain, v, 8404})
		}},
		{Name: "lb-backend ready", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/lb-backend", struct {
				Server, State, Config string
				Port                  int
			}{v, BackendReady, v, 8404})
		}},
		{Name: "lb-backends", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/lb-backends", struct {
				Config string
				Port   int
			}{v, 8404})
		}},
		{Name: "lb-reach", Render: func(v string) scripts.Script {
			return scripts.Render("controlplane/lb-reach", struct {
				Secs     int
				Backends []lb.Backend
			}{ReachSeconds, []lb.Backend{{Name: v, Address: v, Port: 6443}, {Name: "m2", Address: v, Port: 6443}}})
		}},
	}
	scripttest.Check(t, scripttest.Checks{Cases: cases, Templates: "controlplane/", Golden: "testdata/scripts"})
}
