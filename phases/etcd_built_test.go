package phases

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/state"
)

// loadExample loads one of ../examples, failing the test if it is invalid.
func loadExample(t *testing.T, name string) *inventory.Cluster {
	t.Helper()
	c, _, err := inventory.Load("../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// operatorEtcd turns c's etcd into the operator's, at eps: its etcd hosts
// become workers.
func operatorEtcd(c *inventory.Cluster, eps ...string) {
	for i, h := range c.Spec.Hosts {
		if h.Role == inventory.RoleEtcd {
			c.Spec.Hosts[i].Role = inventory.RoleWorker
		}
	}
	c.Spec.Etcd = inventory.Etcd{Topology: inventory.EtcdExternal, External: &inventory.ExternalEtcd{
		Endpoints: eps, CAFile: "ca.crt", CertFile: "client.crt", KeyFile: "client.key"}}
}

// TestCheckEtcdUnchanged pins which inventories the journal's record of
// the etcd as built refuses, and that each refusal names the phase, the
// field or host, and a fix.
func TestCheckEtcdUnchanged(t *testing.T) {
	built := &state.EtcdRecord{Topology: "external", Members: []string{"etcd-1", "etcd-2", "etcd-3"}}
	stacked := &state.EtcdRecord{Topology: "stacked"}
	theirs := &state.EtcdRecord{Topology: "external", Endpoints: []string{"https://10.0.0.21:2379", "https://10.0.0.22:2379", "https://10.0.0.23:2379"}}
	tests := []struct {
		name    string
		record  *state.EtcdRecord
		example string
		edit    func(c *inventory.Cluster)
		phase   string   // the refusing phase; empty: no refusal
		paths   []string // the problems' paths
		words   []string // in the error's text
	}{
		{name: "no record: nothing built yet", example: "external-etcd.yaml", edit: func(c *inventory.Cluster) { c.Spec.Etcd.Topology = "stacked" }},
		{name: "stacked as built", record: stacked, example: "keepalived-haproxy.yaml"},
		{name: "kubeha's etcd as built", record: built, example: "external-etcd.yaml"},
		{name: "the operator's etcd as built, endpoints reordered", record: theirs, example: "external-etcd.yaml",
			edit: func(c *inventory.Cluster) {
				operatorEtcd(c, "https://10.0.0.23:2379", "https://10.0.0.21:2379", "https://10.0.0.22:2379")
			}},
		{name: "stacked to external", record: stacked, example: "external-etcd.yaml",
			phase: "kubeadm-init", paths: []string{"spec.etcd.topology"},
			words: []string{"built stacked", "external, but the cluster was built with stacked etcd", "set topology: stacked again", "kubeha reset"}},
		{name: "kubeha's etcd to stacked", record: built, example: "keepalived-haproxy.yaml",
			phase: "kubeadm-init", paths: []string{"spec.etcd.topology"},
			words: []string{"built by kubeha on the etcd hosts etcd-1, etcd-2, etcd-3", "set topology: external again with the endpoints or the etcd hosts"}},
		{name: "an etcd host added", record: built, example: "external-etcd.yaml",
			edit: func(c *inventory.Cluster) {
				c.Spec.Hosts = append(c.Spec.Hosts, inventory.Host{Name: "etcd-4", Address: "192.168.8.174", InternalAddress: "192.168.8.174", Role: "etcd"})
			},
			phase: "etcd-cluster", paths: []string{"spec.hosts[7].role"},
			words: []string{"etcd-4 would be a new member of the etcd kubeha built on etcd-1, etcd-2, etcd-3", "give etcd-4 another role or remove it", "etcdctl by hand"}},
		{name: "an etcd host dropped", record: built, example: "external-etcd.yaml",
			edit: func(c *inventory.Cluster) {
				c.Spec.Hosts = slices.DeleteFunc(c.Spec.Hosts, func(h inventory.Host) bool { return h.Name == "etcd-2" })
			},
			phase: "etcd-cluster", paths: []string{"spec.hosts"},
			words: []string{"etcd-2, a member of the etcd kubeha built, is no longer listed", "list etcd-2 again with role etcd"}},
		{name: "an etcd host given another role, and one added", record: built, example: "external-etcd.yaml",
			edit: func(c *inventory.Cluster) {
				c.Spec.Hosts[2].Role = inventory.RoleWorker
				c.Spec.Hosts[6].Role = inventory.RoleEtcd
			},
			phase: "etcd-cluster", paths: []string{"spec.hosts[6].role", "spec.hosts[2].role"},
			words: []string{"k4 would be a new member", "worker, but etcd-3 is a member of the etcd kubeha built", "give etcd-3 role etcd again"}},
		{name: "kubeha's etcd to the operator's", record: built, example: "external-etcd.yaml",
			edit:  func(c *inventory.Cluster) { operatorEtcd(c, "https://10.0.0.21:2379") },
			phase: "etcd-client", paths: []string{"spec.etcd.external.endpoints"},
			words: []string{"names an etcd of yours, but the cluster's etcd is the one kubeha built on etcd-1, etcd-2, etcd-3"}},
		{name: "the operator's etcd to kubeha's", record: theirs, example: "external-etcd.yaml",
			phase: "etcd-client", paths: []string{"spec.etcd.external.endpoints"},
			words: []string{"missing, but the cluster was built with the etcd at https://10.0.0.21:2379", "put the endpoints back"}},
		{name: "the operator's endpoints changed", record: theirs, example: "external-etcd.yaml",
			edit: func(c *inventory.Cluster) {
				operatorEtcd(c, "https://10.0.0.21:2379", "https://10.0.0.22:2379", "https://10.0.0.24:2379", "https://10.0.0.25:2379")
			},
			phase: "etcd-client", paths: []string{"spec.etcd.external.endpoints"},
			words: []string{"adds https://10.0.0.24:2379, https://10.0.0.25:2379 and drops https://10.0.0.23:2379", "--etcd-servers", "put the endpoints back as built"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := loadExample(t, tt.example)
			if tt.edit != nil {
				tt.edit(c)
			}
			j := &state.Journal{Phases: map[string]*state.PhaseRecord{}, Etcd: tt.record}
			err := checkEtcdUnchanged(c, j)
			if tt.phase == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ce *EtcdChangeError
			if !errors.As(err, &ce) {
				t.Fatalf("want an *EtcdChangeError, got %v", err)
			}
			if ce.Phase != tt.phase {
				t.Errorf("phase %s, want %s", ce.Phase, tt.phase)
			}
			var paths []string
			for _, p := range ce.Changes {
				paths = append(paths, p.Path)
				if p.Fix == "" || p.Warning {
					t.Errorf("%s: a refusal needs a fix and is no warning: %+v", p.Path, p)
				}
			}
			if !reflect.DeepEqual(paths, tt.paths) {
				t.Errorf("paths %v, want %v", paths, tt.paths)
			}
			msg := err.Error()
			for _, w := range append(tt.words, "phase "+tt.phase+" refused, no host was touched") {
				if !strings.Contains(msg, w) {
					t.Errorf("the error lacks %q:\n%s", w, msg)
				}
			}
			// An inventory problem: exit code 2.
			var ps inventory.Problems
			if !errors.As(err, &ps) {
				t.Errorf("does not unwrap to inventory.Problems")
			}
		})
	}
}

// etcdMakerPhase is a fake phase that makes etcd members.
type etcdMakerPhase struct{ *fakePhase }

func (etcdMakerPhase) MakesEtcd() {}

// TestApplyRecordsAndKeepsTheEtcd runs apply on kubeha's etcd: the record
// is written when the phase that makes etcd members first runs, not
// before; a later apply and plan with an etcd host added are refused
// before any probe, journal write or host; a reset forgets the record.
func TestApplyRecordsAndKeepsTheEtcd(t *testing.T) {
	w := newWorld()
	fail := errors.New("no kubeadm")
	maker := etcdMakerPhase{&fakePhase{id: "etcd-cluster", w: w, hosts: []string{"etcd-1", "etcd-2", "etcd-3"}}}
	factsFail := &fakePhase{id: "facts", w: w, hosts: []string{"m1", "m2", "w1"}, failOn: map[string]error{"m1": fail}}
	r := newRunner([]Phase{factsFail, maker}, nil, &events.Recorder{})
	r.Cluster = loadExample(t, "external-etcd.yaml")

	// Before the maker runs, nothing is recorded: the facts phase fails
	// the first run.
	if err := r.Apply(context.Background(), Selection{}); !errors.Is(err, fail) {
		t.Fatalf("want the facts phase's failure, got %v", err)
	}
	if r.Journal.Etcd != nil {
		t.Fatalf("recorded %+v before any etcd was made", r.Journal.Etcd)
	}
	factsFail.failOn = nil
	if err := r.Apply(context.Background(), Selection{}); err != nil {
		t.Fatal(err)
	}
	want := &state.EtcdRecord{Topology: "external", Members: []string{"etcd-1", "etcd-2", "etcd-3"}}
	if !reflect.DeepEqual(r.Journal.Etcd, want) {
		t.Fatalf("recorded %+v, want %+v", r.Journal.Etcd, want)
	}

	// An etcd host added: refused before anything.
	grown := *r.Cluster
	grown.Spec.Hosts = append(slices.Clone(grown.Spec.Hosts), inventory.Host{Name: "etcd-4", Address: "192.168.8.174", InternalAddress: "192.168.8.174", Role: "etcd"})
	r.Cluster = &grown
	runs, saves, hosts := len(w.runs()), r.Store.(*memStore).saves, slices.Clone(r.Journal.Hosts)
	var ce *EtcdChangeError
	if err := r.Apply(context.Background(), Selection{Force: []string{"facts"}}); !errors.As(err, &ce) {
		t.Fatalf("apply: want an *EtcdChangeError, got %v", err)
	}
	if _, err := r.Plan(context.Background(), Selection{}); !errors.As(err, &ce) {
		t.Fatalf("plan: want an *EtcdChangeError, got %v", err)
	}
	if len(w.runs()) != runs || r.Store.(*memStore).saves != saves || !reflect.DeepEqual(r.Journal.Hosts, hosts) {
		t.Fatalf("a refused run touched something: runs %d→%d, journal saves %d→%d, hosts %v→%v",
			runs, len(w.runs()), saves, r.Store.(*memStore).saves, hosts, r.Journal.Hosts)
	}

	// A reset (of the inventory as built) forgets it.
	r.Cluster = loadExample(t, "external-etcd.yaml")
	if err := r.Reset(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r.Journal.Etcd != nil {
		t.Fatalf("the reset kept %+v", r.Journal.Etcd)
	}
}

// TestAdoptEtcdRecord: a journal of an earlier kubeha, which kept no
// record, gets the inventory's etcd once it says the cluster was made.
func TestAdoptEtcdRecord(t *testing.T) {
	c := loadExample(t, "external-etcd.yaml")
	j := &state.Journal{Phases: map[string]*state.PhaseRecord{"kubeadm-init": {Status: state.StatusFailed}}}
	if adoptEtcdRecord(c, j) || j.Etcd != nil {
		t.Fatalf("adopted from a failed init: %+v", j.Etcd)
	}
	j.Phases["kubeadm-init"].Status = state.StatusDone
	if !adoptEtcdRecord(c, j) || !reflect.DeepEqual(j.Etcd.Members, []string{"etcd-1", "etcd-2", "etcd-3"}) {
		t.Fatalf("not adopted: %+v", j.Etcd)
	}
	kept := j.Etcd
	if adoptEtcdRecord(loadExample(t, "keepalived-haproxy.yaml"), j) || j.Etcd != kept {
		t.Fatalf("a record was replaced: %+v", j.Etcd)
	}
}
