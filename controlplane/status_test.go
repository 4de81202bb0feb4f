package controlplane

import (
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/scripts"
)

// etcdOutput is controlplane/etcd-status's output with the member list,
// endpoint status and endpoint health as etcdctl prints them.
func etcdOutput(status, health string) string {
	return "@@kubeha-section members\n" +
		`{"header":{"cluster_id":17237436991929493444,"member_id":9372538179322589801,"raft_term":2},"members":[` +
		`{"ID":9372538179322589801,"name":"m1","peerURLs":["https://10.0.0.1:2380"],"clientURLs":["https://10.0.0.1:2379"]},` +
		`{"ID":10501334649042878790,"name":"m2","peerURLs":["https://10.0.0.2:2380"],"clientURLs":["https://10.0.0.2:2379"]},` +
		`{"ID":18249187646912138824,"name":"m3","peerURLs":["https://10.0.0.3:2380"],"clientURLs":["https://10.0.0.3:2379"]}]}` + "\n" +
		"@@kubeha-section status\n" + status + "\n" +
		"@@kubeha-section health\n" + health + "\n"
}

func TestParseEtcdStatus(t *testing.T) {
	allStatus := `[{"Endpoint":"https://10.0.0.1:2379","Status":{"header":{"cluster_id":17237436991929493444,"member_id":9372538179322589801,"revision":20,"raft_term":2},"version":"3.6.4","dbSize":2023424,"leader":9372538179322589801,"raftIndex":300,"raftTerm":2}},` +
		`{"Endpoint":"https://10.0.0.2:2379","Status":{"header":{"member_id":10501334649042878790},"leader":9372538179322589801}},` +
		`{"Endpoint":"https://10.0.0.3:2379","Status":{"header":{"member_id":18249187646912138824},"leader":9372538179322589801}}]`
	allHealth := `[{"endpoint":"https://10.0.0.1:2379","health":true,"took":"9.1ms"},{"endpoint":"https://10.0.0.2:2379","health":true,"took":"9.5ms"},{"endpoint":"https://10.0.0.3:2379","health":true,"took":"10ms"}]`
	member := func(name, id, url string, healthy, leader bool, err string) EtcdMember {
		return EtcdMember{Name: name, ID: id, ClientURL: url, Healthy: healthy, Leader: leader, Error: err}
	}
	m1 := member("m1", "8211f1d0f64f3269", "https://10.0.0.1:2379", true, true, "")
	m2 := member("m2", "91bc3c398fb3c146", "https://10.0.0.2:2379", true, false, "")
	m3 := member("m3", "fd422379fda50e48", "https://10.0.0.3:2379", true, false, "")
	tests := []struct {
		name, out string
		want      []EtcdMember
		wantErr   bool
	}{
		{name: "all healthy, m1 leads", out: etcdOutput(allStatus, allHealth), want: []EtcdMember{m1, m2, m3}},
		{name: "m3 down", out: etcdOutput(
			`[{"Endpoint":"https://10.0.0.1:2379","Status":{"header":{"member_id":9372538179322589801},"leader":9372538179322589801}}]`,
			`[{"endpoint":"https://10.0.0.1:2379","health":true},{"endpoint":"https://10.0.0.2:2379","health":true},{"endpoint":"https://10.0.0.3:2379","health":false,"took":"5s","error":"context deadline exceeded"}]`),
			want: []EtcdMember{m1, member("m2", "91bc3c398fb3c146", "https://10.0.0.2:2379", true, false, ""),
				member("m3", "fd422379fda50e48", "https://10.0.0.3:2379", false, false, "context deadline exceeded")}},
		{name: "no answers at all: nobody leads, all unanswered", out: etcdOutput("", ""),
			want: []EtcdMember{
				member("m1", "8211f1d0f64f3269", "https://10.0.0.1:2379", false, false, "did not answer"),
				member("m2", "91bc3c398fb3c146", "https://10.0.0.2:2379", false, false, "did not answer"),
				member("m3", "fd422379fda50e48", "https://10.0.0.3:2379", false, false, "did not answer")}},
		{name: "member list not JSON", out: "@@kubeha-section members\nError: context deadline exceeded\n", wantErr: true},
		{name: "status not JSON", out: etcdOutput("{", allHealth), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseEtcdStatus(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestHoldsAddress runs the holds-address script (lib/vip's vip_addrs)
// with ip answering as a host with these addresses would.
func TestHoldsAddress(t *testing.T) {
	const out = `1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever
2: eth0    inet 10.0.0.10/24 brd 10.0.0.255 scope global eth0\       valid_lft forever preferred_lft forever
2: eth0    inet 10.0.0.100/32 scope global eth0\       valid_lft forever preferred_lft forever
2: eth0    inet6 fd00::100/128 scope global \       valid_lft forever preferred_lft forever
`
	tests := []struct {
		addr string
		want string
	}{
		{"10.0.0.100", "eth0 10.0.0.100/32"},
		{"10.0.0.10", "eth0 10.0.0.10/24"},
		{"10.0.0.1", ""}, // a prefix of two held addresses
		{"10.0.0.1000", ""},
		{"fd00::100", "eth0 fd00::100/128"},
		{"fd00::1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			script := "ip() { [ \"$*\" = \"-o addr show\" ] && printf '%s' '" + out + "'; }\n" +
				scripts.Render("controlplane/holds-address", struct{ Addr string }{tt.addr}).String()
			got, err := exec.Command("sh", "-c", script).Output()
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(got)) != tt.want {
				t.Errorf("holds-address %q printed %q, want %q", tt.addr, got, tt.want)
			}
		})
	}
}
