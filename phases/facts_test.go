package phases

import (
	"reflect"
	"testing"
)

func TestParseFacts(t *testing.T) {
	out := "os=debian\nosversion=12\ninit=systemd\nselinux=\nswap=1\niface=eth0\nkubeadm=v1.37.2\nkubelet=v1.37.2\ncontainerd=1\nadminconf=0\nkubeletconf=1\nresolvers=127.0.0.53 \nfirewalld=0\n"
	got := parseFacts(out)
	want := &Facts{OSID: "debian", OSVersion: "12", Init: "systemd", SwapOn: true, Interface: "eth0", HasAddress: true,
		Kubeadm: "v1.37.2", Kubelet: "v1.37.2", Containerd: true, KubeletConf: true, Resolvers: []string{"127.0.0.53"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if !got.LoopbackResolversOnly() {
		t.Error("127.0.0.53 alone is loopback-only")
	}
	got.Resolvers = append(got.Resolvers, "10.0.0.2")
	if got.LoopbackResolversOnly() {
		t.Error("a real upstream is not loopback-only")
	}
}
