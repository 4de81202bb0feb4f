package phases

import (
	"path/filepath"
	"testing"

	"github.com/kubeha/kubeha/bundle"
	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
	"github.com/kubeha/kubeha/scripts/scripttest"
)

// scriptHost is a master whose name and addresses are all v.
func scriptHost(v string) inventory.Host {
	return inventory.Host{Name: v, Address: v, InternalAddress: v, Role: inventory.RoleMaster}
}

// scriptCluster is a cluster in which every string kubeha may put in a
// script is v; its CNI's ports are a real one, so that the golden files
// show one, and v.
func scriptCluster(v string) *inventory.Cluster {
	return &inventory.Cluster{Spec: inventory.Spec{
		KubernetesVersion:    v,
		Hosts:                []inventory.Host{scriptHost(v), {Name: v, Address: v, InternalAddress: v, Role: inventory.RoleWorker}},
		ControlPlaneEndpoint: inventory.Endpoint{Name: v, Port: 6443},
		LoadBalancer: inventory.LoadBalancer{Mode: inventory.ModeKeepalivedHAProxy, Placement: inventory.PlacementMasters,
			VIP: v, Interface: v, Address: v},
		Etcd:    inventory.Etcd{Topology: inventory.EtcdStacked},
		Network: inventory.Network{PodSubnet: v, ServiceSubnet: v, KubeProxyMode: v},
		CNI:     inventory.CNI{Plugin: inventory.CNIManifest, Manifest: v, Ports: []string{"8472/udp", v}},
	}}
}

// scriptCase renders one remote script with every inventory value set to v.
type scriptCase struct {
	name   string
	render func(v string) scripts.Script
}

// Deliberate shellcheck findings.
var (
	// `set -- $(cmd)` splits cmd's output into fields on purpose.
	splitsOutput = []string{"SC2046"}
	// Interface names (ls /sys/class/net...) hold no blank or newline:
	// the kernel refuses them.
	listsInterfaces = []string{"SC2045", "SC2010"}
	// shellcheckAllows names, per script, the findings it means to have.
	shellcheckAllows = map[string][]string{
		"cniCleanUp bridge":   listsInterfaces,
		"cniCleanUp manifest": listsInterfaces,
		"factsCommand":        splitsOutput,
		// kubelet --version prints "Kubernetes vX.Y.Z", split into fields.
		"upgradeNode apply":               splitsOutput,
		"upgradeNode node":                splitsOutput,
		"upgradeNode kubelet only":        splitsOutput,
		"upgradeNode master kubelet only": splitsOutput,
		"smallFilesScript":                splitsOutput,
		"probeScript":                     splitsOutput,
		// The daemonset's numbers, split into fields.
		"setProxyModeScript":              splitsOutput,
		"setProxyModeScript restart only": splitsOutput,
	}
)

// framed is body in the control plane's kubectl frame on a master whose
// name and addresses are v, as the control-plane client runs it.
func framed(v string, body scripts.Script) scripts.Script {
	return controlplane.Frame(scriptHost(v), controlplane.Endpoint, "20s", body)
}

// scriptCases are every script builder of the package. Those that take no
// inventory value are here too, for sh -n and shellcheck.
func scriptCases() []scriptCase {
	return []scriptCase{
		// kubeadm_init.go, join_control_plane.go, join_workers.go,
		// interrupted.go
		{"initScript", func(string) scripts.Script { return initScript() }},
		{"joinScript worker", func(string) scripts.Script { return joinScript(false) }},
		{"joinScript control plane", func(string) scripts.Script { return joinScript(true) }},
		{"resetInterruptedScript init", func(v string) scripts.Script { return framed(v, resetInterruptedScript(true)) }},
		{"resetInterruptedScript join", func(string) scripts.Script { return resetInterruptedScript(false) }},
		{"mark", func(string) scripts.Script { return scripts.Render("phases/mark", marks(true)) }},
		{"stopOrphanKubeadm", func(string) scripts.Script { return scripts.Render("phases/stop-orphan-kubeadm", nil) }},
		{"teardownScript stacked", func(string) scripts.Script { return teardownScript(true) }},
		{"teardownScript external", func(string) scripts.Script { return teardownScript(false) }},
		// etcd_client.go
		{"etcdHealthScript", func(v string) scripts.Script {
			c := scriptCluster(v)
			c.Spec.Etcd = inventory.Etcd{Topology: inventory.EtcdExternal, External: &inventory.ExternalEtcd{Endpoints: []string{v, "https://10.0.0.2:2379"}}}
			return etcdHealthScript(c)
		}},
		{"etcdClientCleanUp", func(string) scripts.Script { return etcdClientCleanUp() }},
		// etcd_cluster.go
		{"etcdMemberProbeScript", func(string) scripts.Script { return etcdMemberProbeScript() }},
		{"etcdCAScript", func(string) scripts.Script { return etcdCAScript() }},
		{"readFiles", func(v string) scripts.Script {
			return scripts.Render("phases/etcd-files-read", struct{ Files []string }{[]string{v, etcdCAKey}})
		}},
		{"etcdMemberScript first", func(string) scripts.Script { return etcdMemberScript(true, true) }},
		{"etcdMemberScript other", func(string) scripts.Script { return etcdMemberScript(false, false) }},
		{"etcdWaitScript", func(string) scripts.Script { return etcdWaitScript() }},
		{"etcdTeardownScript", func(string) scripts.Script { return etcdTeardownScript() }},
		// verify.go
		{"verifyScript", func(v string) scripts.Script {
			c := scriptCluster(v)
			return framed(v, verifyScript(c, c.Spec.Hosts[0]))
		}},
		// routes.go, cni.go
		{"routesCleanUp", func(v string) scripts.Script { return routesCleanUp(scriptCluster(v).Spec.Network) }},
		{"routesProbeScript", func(string) scripts.Script { return routesProbeScript() }},
		{"routesApplyScript", func(string) scripts.Script { return routesApplyScript(false) }},
		{"routesApplyScript reload", func(string) scripts.Script { return routesApplyScript(true) }},
		{"cniCleanUp bridge", func(string) scripts.Script { return cniCleanUp(inventory.CNIBridge) }},
		{"cniCleanUp manifest", func(string) scripts.Script { return cniCleanUp(inventory.CNIManifest) }},
		{"cniPluginsScript", func(string) scripts.Script { return cniPluginsScript() }},
		{"applyManifestScript", func(v string) scripts.Script { return framed(v, applyManifestScript()) }},
		// the pieces every clean-up includes, alone.
		{"verifiedCleanUp", func(string) scripts.Script { return scripts.Render("phases/verified-cleanup", nil) }},
		{"netfilter", func(string) scripts.Script { return scripts.Render("phases/netfilter", nil) }},
		// kube_proxy.go
		{"kubeProxyConfig", func(v string) scripts.Script { return framed(v, scripts.Render("phases/kube-proxy-config", nil)) }},
		{"setProxyModeScript", func(v string) scripts.Script { return framed(v, setProxyModeScript(kubeProxyPatchPath, v)) }},
		{"setProxyModeScript restart only", func(v string) scripts.Script { return framed(v, setProxyModeScript("", v)) }},
		{"waitProxyModeScript", func(v string) scripts.Script { return waitProxyModeScript(v) }},
		{"proxyModeScript", func(string) scripts.Script { return proxyModeScript() }},
		{"kubeProxyCleanUp", func(string) scripts.Script { return kubeProxyCleanUp() }},
		// load_balancer.go
		{"lbCleanUpScript", func(v string) scripts.Script { return lbCleanUpScript(v) }},
		{"recordFoundLBScript", func(string) scripts.Script { return recordFoundLBScript() }},
		{"statsPasswordScript", func(string) scripts.Script { return statsPasswordScript() }},
		{"kubeVIPRestartedScript", func(string) scripts.Script { return kubeVIPRestartedScript() }},
		{"lbServicesScript", func(string) scripts.Script {
			return lbServicesScript([]string{"haproxy", "keepalived"}, []string{"haproxy", "keepalived"})
		}},
		{"lbStartScript restart", func(v string) scripts.Script {
			return lbStartScript(scriptCluster(v), []string{"haproxy", "keepalived"}, []string{v})
		}},
		{"lbStartScript start nginx", func(v string) scripts.Script {
			return lbStartScript(scriptCluster(v), []string{"kubeha-nginx"}, nil)
		}},
		{"lbStartScript static pods", func(v string) scripts.Script {
			c := scriptCluster(v)
			c.Spec.LoadBalancer.StaticPods = true
			return lbStartScript(c, nil, []string{nginxUnitPath})
		}},
		{"hostsScript", func(v string) scripts.Script { return setHostsBlock(hostsBlock(scriptCluster(v), v)) }},
		// host_prep.go
		{"HostPrepScript", func(v string) scripts.Script {
			c := scriptCluster(v)
			return hostPrepScript(c, c.Spec.Hosts[0], inventory.ProxyModeIPVS)
		}},
		{"prepScript", func(v string) scripts.Script {
			c := scriptCluster(v)
			return prepScript(Modules(c.Spec.Hosts[1], inventory.ProxyModeIPTables), firewalldScript(c, c.Spec.Hosts[1], true), hostsBlock(c, v), nil)
		}},
		{"firewalldScript check", func(v string) scripts.Script {
			c := scriptCluster(v)
			return firewalldScript(c, c.Spec.Hosts[0], false)
		}},
		{"firewalldScript open", func(v string) scripts.Script {
			c := scriptCluster(v)
			return firewalldScript(c, c.Spec.Hosts[0], true)
		}},
		{"readHostsBlock", func(string) scripts.Script { return readHostsBlock() }},
		{"hostPrepCleanUp", func(string) scripts.Script { return hostPrepCleanUp() }},
		// facts.go
		{"factsCommand", func(v string) scripts.Script {
			s, err := factsCommand(&Env{Cluster: scriptCluster(v)}, v)
			if err != nil {
				panic(err)
			}
			return s
		}},
		// artifacts.go: bundle paths and image names come from the bundle's
		// manifest, not the inventory, and are held to the same rule.
		{"artifactsProbeScript", func(v string) scripts.Script {
			return artifactsProbeScript([]bundle.File{{Target: v}, {Target: "/usr/bin/kubeadm"}, {Kind: bundle.KindImage}})
		}},
		{"importImageScript", func(v string) scripts.Script {
			return installArtifactsScript([]stagedImage{
				{Staged: imageStage + "/" + filepath.Base(v), Names: []string{v, "registry.k8s.io/pause:3.10"}},
				{Staged: imageStage + "/etcd.tar", Names: []string{"registry.k8s.io/etcd:3.7.0-0"}},
			})
		}},
		{"installArtifactsScript binaries only", func(string) scripts.Script { return installArtifactsScript(nil) }},
		{"containerdSettingsScript", func(string) scripts.Script { return containerdSettingsScript() }},
		// upgrade.go
		{"upgradeProbe", func(string) scripts.Script { return scripts.Render("phases/upgrade-probe", nil) }},
		{"upgradePlan", func(v string) scripts.Script { return scripts.Render("phases/upgrade-plan", upgradeData(v, "apply")) }},
		{"upgradeNode apply", func(v string) scripts.Script { return scripts.Render("phases/upgrade-node", upgradeData(v, "apply")) }},
		{"upgradeNode node", func(v string) scripts.Script { return scripts.Render("phases/upgrade-node", upgradeData(v, "node")) }},
		{"upgradeNode kubelet only", func(v string) scripts.Script { return scripts.Render("phases/upgrade-node", upgradeData(v, "")) }},
		{"upgradeNode master kubelet only", func(v string) scripts.Script {
			d := upgradeData(v, "")
			d.Master = true
			return scripts.Render("phases/upgrade-node", d)
		}},
		// apiserver_certs.go
		{"apiserverCert", func(v string) scripts.Script {
			return scripts.Render("phases/apiserver-cert", struct{ Config string }{v})
		}},
		{"apiserverCertServed", func(v string) scripts.Script {
			return scripts.Render("phases/apiserver-cert-served", struct {
				SANs       []string
				Port, Secs int
			}{[]string{v, "10.0.0.1", "fd00::1"}, 6443, 90})
		}},
		{"uploadClusterConfig", func(v string) scripts.Script {
			return scripts.Render("phases/upload-cluster-config", struct{ Config string }{v})
		}},
		// user_kubeconfig.go
		{"userKubeconfigScript check", func(v string) scripts.Script {
			return scripts.Render("phases/user-kubeconfig", userKubeconfigData{Source: v, Records: v})
		}},
		{"userKubeconfigScript write", func(v string) scripts.Script {
			return scripts.Render("phases/user-kubeconfig", userKubeconfigData{Source: v, Records: v, Write: true})
		}},
		{"userKubeconfigCleanUp", func(v string) scripts.Script {
			return scripts.Render("phases/user-kubeconfig-cleanup", struct{ Records string }{v})
		}},
		// remove_nodes.go
		{"reachable", func(string) scripts.Script { return scripts.Render("phases/reachable", nil) }},
		{"stopAPIServerScript", func(string) scripts.Script { return stopAPIServerScript() }},
		// remote.go
		{"hashScript", func(v string) scripts.Script { return hashScript([]string{v, SysctlPath}) }},
		{"smallFilesScript", func(v string) scripts.Script {
			return smallFilesScript([]fileSpec{{Path: v, Mode: 0o600, Content: []byte(v)}, {Path: SysctlPath, Content: []byte("x")}})
		}},
		{"probeScript", func(v string) scripts.Script {
			fc, err := factsCommand(&Env{Cluster: scriptCluster(v)}, v)
			if err != nil {
				panic(err)
			}
			return probeScript(fc, []string{v, SysctlPath}, readHostsBlock())
		}},
	}
}

// TestScripts holds every script of the package to scripttest's checks:
// the same structure with hostile values as with plain ones, sh -n and
// shellcheck, and a golden file in testdata/scripts for each (go test
// ./phases -run TestScripts -update rewrites them; review the diff). Every
// template under scripts/templates/phases/ must be rendered by a case.
func TestScripts(t *testing.T) {
	var cases []scripttest.Case
	for _, sc := range scriptCases() {
		cases = append(cases, scripttest.Case{Name: sc.name, Render: sc.render})
	}
	scripttest.Check(t, scripttest.Checks{Cases: cases, Allow: shellcheckAllows, Templates: "phases/", Golden: "testdata/scripts"})
}

// upgradeData is the upgrade scripts' data with every value v.
func upgradeData(v, mode string) upgradeScriptData {
	return upgradeScriptData{Version: v, Stage: v, Mode: mode, Ignore: []string{v, "SystemVerification"}, Master: mode != "", APIServerPort: 6443}
}
