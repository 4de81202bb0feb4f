package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
)

// TestEtcdSnapshot: the download is checked against the sha256 the host
// computed, the host's copy is removed whether or not the download was
// good, and an etcd of the operator's is refused before anything runs.
func TestEtcdSnapshot(t *testing.T) {
	data := []byte("a bbolt file")
	sum := sha256.Sum256(data)
	good := hex.EncodeToString(sum[:])
	for _, tc := range []struct {
		name, hostSum string
		wantErr       bool
	}{
		{"the download matches", good, false},
		{"the download differs", strings.Repeat("0", 64), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hosts := &recordingHosts{ca: data, stdout: map[string]string{"save an etcd snapshot": "noise\n@@kubeha-section sha256\n" + tc.hostSum + "\n"}}
			cp := newClient(masters(3), hosts, &events.Secrets{})
			snap, err := cp.EtcdSnapshot(context.Background())
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %t", err, tc.wantErr)
			}
			if !tc.wantErr && (snap.SHA256 != good || string(snap.Data) != string(data) || snap.Host != "m1") {
				t.Errorf("snapshot %+v", snap)
			}
			last := hosts.cmds[len(hosts.cmds)-1]
			if !strings.HasPrefix(last, "m1: ") || !strings.Contains(last, "\nrm -f '"+snapshotPath+"'\n") {
				t.Errorf("the last command does not remove the host's copy: %s", last)
			}
		})
	}
	c := masters(3)
	c.Spec.Etcd.Topology = inventory.EtcdExternal
	c.Spec.Etcd.External = &inventory.ExternalEtcd{Endpoints: []string{"https://10.0.0.21:2379"}}
	hosts := &recordingHosts{}
	if _, err := newClient(c, hosts, &events.Secrets{}).EtcdSnapshot(context.Background()); !errors.Is(err, ErrExternalEtcd) || len(hosts.cmds) != 0 {
		t.Errorf("external etcd: %v, %d commands", err, len(hosts.cmds))
	}
}
