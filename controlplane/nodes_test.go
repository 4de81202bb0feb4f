package controlplane

import (
	"reflect"
	"testing"
)

func TestParseClusterState(t *testing.T) {
	out := "@@kubeha-section version\nv1.36.3\n@@kubeha-section proxy\nregistry.k8s.io/kube-proxy:v1.36.3\n@@kubeha-section nodes\n" +
		"m1\tv1.37.2\tTrue\t\t\t10.0.0.1\n" +
		"m2\tv1.37.2\tTrue\t\t\t\n" +
		"w1\tv1.36.3\tFalse\ttrue\tv1.37.2\t10.0.0.4\n" +
		"@@kubeha-section masters\nm1\n"
	got, err := parseClusterState(out)
	if err != nil {
		t.Fatal(err)
	}
	want := ClusterState{Version: "v1.36.3", ProxyImage: "registry.k8s.io/kube-proxy:v1.36.3", Nodes: []NodeState{
		{Name: "m1", KubeletVersion: "v1.37.2", Ready: true, InternalIP: "10.0.0.1", ControlPlane: true},
		{Name: "m2", KubeletVersion: "v1.37.2", Ready: true},
		{Name: "w1", KubeletVersion: "v1.36.3", Unschedulable: true, Upgrading: "v1.37.2", InternalIP: "10.0.0.4"},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"@@kubeha-section version\n\n@@kubeha-section nodes\n",
		"@@kubeha-section version\nv1.36.3\n@@kubeha-section nodes\nm1\tv1.36.3\n",
	} {
		if _, err := parseClusterState(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
