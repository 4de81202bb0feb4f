package controlplane

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/ssh"
)

// UpgradeAnnotation marks a node kubeha took out for an upgrade; its value
// is the version. It is set before the cordon and removed after the
// uncordon, so a run cut short anywhere in between leaves a node that the
// next run finishes and gives back.
const UpgradeAnnotation = "kubeha.io/upgrading"

// NodeState is one node as the apiserver has it.
type NodeState struct {
	Name           string
	KubeletVersion string
	Ready          bool
	Unschedulable  bool
	// Upgrading is the value of UpgradeAnnotation: "" unless kubeha took
	// the node out for an upgrade and has not given it back.
	Upgrading string
	// InternalIP is the node's internal address as its kubelet reports it.
	InternalIP string
	// ControlPlane: the node is labelled a control-plane node.
	ControlPlane bool
}

// ClusterState is what an upgrade decides from: the version kubeadm's
// stored ClusterConfiguration names, kube-proxy's image ("" without
// kube-proxy) and every node.
type ClusterState struct {
	Version    string
	ProxyImage string
	Nodes      []NodeState
}

// Node returns the node named name, if the cluster has it.
func (s ClusterState) Node(name string) (NodeState, bool) {
	for _, n := range s.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return NodeState{}, false
}

// State reads the cluster's state through master via's own apiserver (the
// control host's, ready when the run picked it; the endpoint may not
// route yet right after kubeadm init).
func (c *Client) State(ctx context.Context, via inventory.Host) (ClusterState, error) {
	res, err := c.exec(ctx, via.Name, ssh.Command{Name: "read the cluster's versions",
		Script: c.frame(via, Own, "20s", scripts.Render("controlplane/cluster-state", nil)).String()}, false)
	if err != nil {
		return ClusterState{}, err
	}
	return parseClusterState(res.Stdout)
}

// parseClusterState reads controlplane/cluster-state's output.
func parseClusterState(out string) (ClusterState, error) {
	sec := scripts.Sections(out)
	s := ClusterState{Version: strings.TrimSpace(sec["version"]), ProxyImage: strings.TrimSpace(sec["proxy"])}
	if s.Version == "" {
		return s, fmt.Errorf("kubeadm's ClusterConfiguration (ConfigMap kube-system/kubeadm-config) names no kubernetesVersion")
	}
	// Lines split on newlines only: trailing fields may be empty tabs.
	for _, l := range strings.Split(sec["nodes"], "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		f := strings.Split(l, "\t")
		if len(f) != 6 {
			return s, fmt.Errorf("unexpected node line %q", l)
		}
		s.Nodes = append(s.Nodes, NodeState{Name: f[0], KubeletVersion: f[1], Ready: f[2] == "True", Unschedulable: f[3] == "true", Upgrading: f[4], InternalIP: f[5]})
	}
	for _, m := range strings.Fields(sec["masters"]) {
		for i := range s.Nodes {
			if s.Nodes[i].Name == m {
				s.Nodes[i].ControlPlane = true
			}
		}
	}
	return s, nil
}

// Drain annotates node as being upgraded to version (unless version is
// empty: a node being removed), cordons it and evicts its pods
// (DaemonSets' stay), waiting up to secs for the evictions.
//
// Drain, Uncordon, WaitNode and DeleteNode run kubectl on master via,
// which the caller picks among those it is not changing (kubeadm replaces
// a master's kubectl and admin.conf as it upgrades it), through the
// endpoint: any one apiserver may be restarting, and the load balancers
// send to the others.
func (c *Client) Drain(ctx context.Context, via inventory.Host, node, version string, secs int) error {
	return c.drain(ctx, via, node, version, secs, false)
}

// DrainForRemoval drains node for good: also the pods no controller owns
// (they die with the node anyway), without waiting for a gone node's pods
// to confirm their end.
func (c *Client) DrainForRemoval(ctx context.Context, via inventory.Host, node string, secs int) error {
	return c.drain(ctx, via, node, "", secs, true)
}

func (c *Client) drain(ctx context.Context, via inventory.Host, node, version string, secs int, remove bool) error {
	body := scripts.Render("controlplane/drain", struct {
		Node, Version string
		Secs          int
		Remove        bool
	}{node, version, secs, remove})
	// Each eviction request is short; kubectl drain polls until --timeout.
	_, err := c.KubectlOn(ctx, via, Endpoint, "drain "+node, body)
	return err
}

// Uncordon makes node schedulable again and removes UpgradeAnnotation.
func (c *Client) Uncordon(ctx context.Context, via inventory.Host, node string) error {
	body := scripts.Render("controlplane/uncordon", struct{ Node string }{node})
	_, err := c.exec(ctx, via.Name, ssh.Command{Name: "uncordon " + node, Script: c.frame(via, Endpoint, "20s", body).String()}, false)
	return err
}

// WaitNode waits up to secs for node to be Ready with a kubelet of version.
func (c *Client) WaitNode(ctx context.Context, via inventory.Host, node, version string, secs int) error {
	body := scripts.Render("controlplane/wait-node", struct {
		Node, Version string
		Secs          int
	}{node, version, secs})
	_, err := c.exec(ctx, via.Name, ssh.Command{Name: "wait for " + node, Script: c.frame(via, Endpoint, "5s", body).String()}, false)
	return err
}

// DeleteNode deletes the Node object named node (gone already is fine).
func (c *Client) DeleteNode(ctx context.Context, via inventory.Host, node string) error {
	_, err := c.KubectlOn(ctx, via, Endpoint, "delete node "+node, scripts.Render("controlplane/delete-node", struct{ Node string }{node}))
	return err
}
