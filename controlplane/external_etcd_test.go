package controlplane

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
)

// gatewayMembers is etcd's JSON gateway's member list of three members at
// 10.0.0.21-23 and one added but not started (no name, no client URL):
// IDs in strings, as the gateway writes uint64s.
const gatewayMembers = `{"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","raft_term":"2"},"members":[` +
	`{"ID":"10276657743932975437","name":"e1","peerURLs":["https://10.0.0.21:2380"],"clientURLs":["https://10.0.0.21:2379"]},` +
	`{"ID":"9372538179322589801","name":"e2","peerURLs":["https://10.0.0.22:2380"],"clientURLs":["https://10.0.0.22:2379"]},` +
	`{"ID":"17","name":"e3","peerURLs":["https://10.0.0.23:2380"],"clientURLs":["https://10.0.0.23:2379"]},` +
	`{"ID":"18","peerURLs":["https://10.0.0.24:2380"],"isLearner":true}]}`

// gatewayStatusOf is a member's /v3/maintenance/status answer, leader
// the ID it names as leader.
func gatewayStatusOf(id, leader string) string {
	return `{"header":{"cluster_id":"14841639068965178418","member_id":"` + id + `","revision":"5","raft_term":"2"},"version":"3.6.4","dbSize":"20480","leader":"` + leader + `","raftIndex":"9","raftTerm":"2"}`
}

func TestParseExternalEtcdStatus(t *testing.T) {
	const e1, e2 = "10276657743932975437", "9372538179322589801"
	status := func(lines ...string) string { return strings.Join(lines, "\n") }
	tests := []struct {
		name    string
		out     string
		want    []EtcdMember
		wantErr string
	}{
		{name: "e1 leads, e3 times out, e4 not started",
			out: "@@kubeha-section members\n" + gatewayMembers + "\n@@kubeha-section status\n" + status(
				"https://10.0.0.21:2379\t"+gatewayStatusOf(e1, e1),
				"https://10.0.0.22:2379\t"+gatewayStatusOf(e2, e1),
				"https://10.0.0.23:2379\terror: curl: (28) Connection timed out after 2001 milliseconds",
			) + "\n@@kubeha-section health\n" + status(
				`https://10.0.0.21:2379	{"health":"true","reason":""}`,
				`https://10.0.0.22:2379	{"health":"false","reason":"RAFT NO LEADER"}`,
				"https://10.0.0.23:2379\terror: curl: (28) Connection timed out after 2001 milliseconds",
			) + "\n",
			want: []EtcdMember{
				{Name: "e1", ID: "8e9e05c52164694d", ClientURL: "https://10.0.0.21:2379", Healthy: true, Leader: true},
				{Name: "e2", ID: "8211f1d0f64f3269", ClientURL: "https://10.0.0.22:2379", Error: "unhealthy: RAFT NO LEADER"},
				{Name: "e3", ID: "11", ClientURL: "https://10.0.0.23:2379", Error: "curl: (28) Connection timed out after 2001 milliseconds"},
				{ID: "12", Error: "did not answer"},
			}},
		{name: "a member that names no leader leads nothing",
			out: "@@kubeha-section members\n" + gatewayMembers + "\n@@kubeha-section status\n" +
				"https://10.0.0.21:2379\t" + gatewayStatusOf(e1, "0") + "\n@@kubeha-section health\n" +
				`https://10.0.0.21:2379	{"health":"true"}` + "\n",
			want: []EtcdMember{
				{Name: "e1", ID: "8e9e05c52164694d", ClientURL: "https://10.0.0.21:2379", Healthy: true},
				{Name: "e2", ID: "8211f1d0f64f3269", ClientURL: "https://10.0.0.22:2379", Error: "did not answer"},
				{Name: "e3", ID: "11", ClientURL: "https://10.0.0.23:2379", Error: "did not answer"},
				{ID: "12", Error: "did not answer"},
			}},
		{name: "a health answer that is not etcd's",
			out: "@@kubeha-section members\n" + `{"members":[{"ID":"1","name":"e1","clientURLs":["https://10.0.0.21:2379"]}]}` +
				"\n@@kubeha-section health\nhttps://10.0.0.21:2379\t<html>404</html>\n",
			want: []EtcdMember{{Name: "e1", ID: "1", ClientURL: "https://10.0.0.21:2379", Error: "unexpected answer: <html>404</html>"}}},
		{name: "no member list", out: "@@kubeha-section members\n{\"error\":\"etcdserver: permission denied\"\n", wantErr: "etcd's member list"},
		{name: "an ID that is no number", out: "@@kubeha-section members\n" + `{"members":[{"ID":"x1","name":"e1"}]}` + "\n", wantErr: "member ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExternalEtcdStatus(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// externalCluster is masters(3) with etcd external: built by kubeha on
// e1-e3 when built, else the operator's at two endpoints.
func externalCluster(built bool) *inventory.Cluster {
	c := masters(3)
	c.Spec.Etcd.Topology = inventory.EtcdExternal
	if built {
		for i, n := range []string{"e1", "e2", "e3"} {
			a := "10.0.0.2" + string(rune('1'+i))
			c.Spec.Hosts = append(c.Spec.Hosts, inventory.Host{Name: n, Address: a, InternalAddress: a, Role: inventory.RoleEtcd})
		}
		return c
	}
	c.Spec.Etcd.External = &inventory.ExternalEtcd{Endpoints: []string{"https://10.0.0.21:2379/", "https://etcd.example:2379"}}
	return c
}

// TestExternalEtcdMembers: the etcd kubeha built is asked through the
// first etcd host that answers, with its member's own health-check
// certificate at 127.0.0.1; the operator's through the first master that
// answers, with the client files kubeha put there, at the inventory's
// endpoints; stacked etcd is not asked.
func TestExternalEtcdMembers(t *testing.T) {
	answer := "@@kubeha-section members\n" + `{"members":[{"ID":"1","name":"e1","clientURLs":["https://10.0.0.21:2379"]}]}` + "\n"
	tests := []struct {
		name    string
		built   bool
		down    map[string]bool
		via     []inventory.Host // passed
		wantVia string
		words   []string // in the script
	}{
		{name: "kubeha's etcd, e1 down", built: true, down: map[string]bool{"e1": true}, via: masters(3).Masters(), wantVia: "e2",
			words: []string{"for ep in 'https://127.0.0.1:2379'; do", "--cacert '" + etcdHostCA + "' --cert '" + etcdHostCert + "' --key '" + etcdHostKey + "'"}},
		{name: "the operator's etcd, m1 down", down: map[string]bool{"m1": true}, via: masters(3).Masters(), wantVia: "m2",
			words: []string{"for ep in 'https://10.0.0.21:2379' 'https://etcd.example:2379'; do",
				"--cacert '" + kubeadm.ExternalEtcdCAFile + "' --cert '" + kubeadm.ExternalEtcdCert + "' --key '" + kubeadm.ExternalEtcdKey + "'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts := &recordingHosts{down: tt.down, stdout: map[string]string{"read the external etcd's members": answer}}
			cp := newClient(externalCluster(tt.built), hosts, &events.Secrets{})
			via, ms, err := cp.ExternalEtcdMembers(context.Background(), tt.via)
			if err != nil || via != tt.wantVia || len(ms) != 1 || ms[0].Name != "e1" {
				t.Fatalf("via %q, members %+v, err %v; want via %s", via, ms, err, tt.wantVia)
			}
			script := hosts.cmds[len(hosts.cmds)-1]
			for _, w := range tt.words {
				if !strings.Contains(script, w) {
					t.Errorf("the script lacks %q:\n%s", w, script)
				}
			}
		})
	}
	hosts := &recordingHosts{down: map[string]bool{"e1": true, "e2": true, "e3": true}}
	_, _, err := newClient(externalCluster(true), hosts, &events.Secrets{}).ExternalEtcdMembers(context.Background(), nil)
	for _, h := range []string{"e1", "e2", "e3"} {
		if err == nil || !strings.Contains(err.Error(), h+": connection refused") {
			t.Errorf("every etcd host down: %v lacks %s", err, h)
		}
	}
	hosts = &recordingHosts{}
	if _, _, err := newClient(masters(3), hosts, &events.Secrets{}).ExternalEtcdMembers(context.Background(), masters(3).Masters()); !errors.Is(err, ErrStackedEtcd) || len(hosts.cmds) != 0 {
		t.Errorf("stacked: %v, %d commands", err, len(hosts.cmds))
	}
}

// TestExternalEtcdStatusScript runs controlplane/etcd-external-status in
// sh against a curl that answers as etcd's gateway does, and reads its
// output with ParseExternalEtcdStatus: the first entry that lists the
// members is used, each member's status and health asked at its client
// URL, peer URLs left alone, a member that does not answer named with
// curl's error.
func TestExternalEtcdStatusScript(t *testing.T) {
	const e1 = "10276657743932975437"
	bin := t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	curl := "#!/bin/sh\nfor a; do url=$a; done\necho \"$url\" >> " + calls + "\ncase $url in\n" +
		"https://10.0.0.20:2379/*) echo 'curl: (7) Failed to connect to 10.0.0.20 port 2379' >&2; exit 7 ;;\n" +
		"https://10.0.0.21:2379/v3/cluster/member/list) echo '" + gatewayMembers + "' ;;\n" +
		"https://10.0.0.21:2379/v3/maintenance/status) echo '" + gatewayStatusOf(e1, e1) + "' ;;\n" +
		"https://10.0.0.22:2379/v3/maintenance/status) echo '" + gatewayStatusOf("9372538179322589801", e1) + "' ;;\n" +
		"https://10.0.0.23:2379/*) echo 'curl: (28) Connection timed out after 2001 milliseconds' >&2; exit 28 ;;\n" +
		"*/health) printf '{\"health\":\"true\",\"reason\":\"\"}' ;;\n" +
		"*) exit 22 ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(bin, "curl"), []byte(curl), 0o755); err != nil {
		t.Fatal(err)
	}
	s := scripts.Render("controlplane/etcd-external-status", externalStatusData{
		Entries: []string{"https://10.0.0.20:2379", "https://10.0.0.21:2379"}, CA: "/ca", Cert: "/crt", Key: "/key", Secs: 2})
	cmd := exec.Command("sh", "-c", s.String())
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ms, err := ParseExternalEtcdStatus(string(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []EtcdMember{
		{Name: "e1", ID: "8e9e05c52164694d", ClientURL: "https://10.0.0.21:2379", Healthy: true, Leader: true},
		{Name: "e2", ID: "8211f1d0f64f3269", ClientURL: "https://10.0.0.22:2379", Healthy: true},
		{Name: "e3", ID: "11", ClientURL: "https://10.0.0.23:2379", Error: "curl: (28) Connection timed out after 2001 milliseconds"},
		{ID: "12", Error: "did not answer"},
	}
	if !reflect.DeepEqual(ms, want) {
		t.Fatalf("got\n%+v\nwant\n%+v\noutput:\n%s", ms, want, out)
	}
	b, _ := os.ReadFile(calls)
	if strings.Contains(string(b), ":2380") {
		t.Errorf("a peer URL was asked:\n%s", b)
	}

	// No entry answers: the script fails naming each and why.
	s = scripts.Render("controlplane/etcd-external-status", externalStatusData{Entries: []string{"https://10.0.0.20:2379"}, CA: "/ca", Cert: "/crt", Key: "/key", Secs: 2})
	cmd = exec.Command("sh", "-c", s.String())
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "no etcd endpoint listed the members from this host:\n  https://10.0.0.20:2379: curl: (7) Failed to connect to 10.0.0.20 port 2379") {
		t.Fatalf("want a failure naming the endpoint: %v\n%s", err, stderr.String())
	}
}

// TestEtcdHostSnapshot: with the etcd kubeha built, the snapshot is taken
// on the first etcd host whose member gives one, and every host's copy is
// removed; the operator's etcd is refused before anything runs, and so is
// a restore of either.
func TestEtcdHostSnapshot(t *testing.T) {
	data := []byte("a bbolt file")
	sum := sha256.Sum256(data)
	hosts := &recordingHosts{ca: data, down: map[string]bool{"e1": true},
		stdout: map[string]string{"save an etcd snapshot": "@@kubeha-section sha256\n" + hex.EncodeToString(sum[:]) + "\n"}}
	snap, err := newClient(externalCluster(true), hosts, &events.Secrets{}).EtcdSnapshot(context.Background())
	if err != nil || snap.Host != "e2" || string(snap.Data) != string(data) {
		t.Fatalf("snapshot %+v, err %v", snap, err)
	}
	hosts.checkRan(t, map[string][]string{"e2": {"save an etcd snapshot", "remove the etcd snapshot"}}, "e1", "e2", "e3")
	script := hosts.cmds[0]
	for _, w := range []string{"manifest='" + etcdHostManifest + "'", "--endpoints='https://127.0.0.1:2379'", "--cert='" + etcdHostCert + "'", "e snapshot save '" + snapshotPath + "'"} {
		if !strings.Contains(script, w) {
			t.Errorf("the snapshot script lacks %q:\n%s", w, script)
		}
	}

	for _, tc := range []struct {
		name    string
		built   bool
		restore error
	}{{"the operator's etcd", false, ErrExternalEtcd}, {"kubeha's etcd", true, ErrBuiltEtcdRestore}} {
		hosts := &recordingHosts{}
		cp := newClient(externalCluster(tc.built), hosts, &events.Secrets{})
		if !tc.built {
			if _, err := cp.EtcdSnapshot(context.Background()); !errors.Is(err, ErrExternalEtcd) {
				t.Errorf("%s: snapshot: %v", tc.name, err)
			}
		}
		if err := cp.RestoreEtcd(context.Background(), data); !errors.Is(err, tc.restore) {
			t.Errorf("%s: restore: %v, want %v", tc.name, err, tc.restore)
		}
		if len(hosts.cmds) != 0 {
			t.Errorf("%s: ran %v", tc.name, hosts.cmds)
		}
	}
}
