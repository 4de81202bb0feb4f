package phases

import (
	"os"
)

// Registry returns the phases of `kubeha apply`, in the order they run. The
// CLI (`kubeha phase <id>`, --skip-phases, --only, --from, the help text) is
// generated from this list, so the two can never disagree.
//
// Each call returns fresh phase values: a phase may keep state for the
// length of one run (the load balancer's credentials read from the hosts).
func Registry() []Phase {
	return []Phase{
		GatherFacts{},
		&InstallArtifacts{},
		PrepareHosts{},
		RemoveNodes{},
		&ConfigureLoadBalancer{},
		// Before init: kubeadm init reads the external etcd's client
		// files and reaches its endpoints, which must be healthy.
		BuildEtcdCluster{},
		ConfigureEtcdClient{},
		InitControlPlane{},
		UpgradeCluster{},
		IssueAPIServerCerts{},
		JoinControlPlane{},
		JoinWorkers{},
		KubeProxy{},
		ConfigureRoutes{},
		InstallCNI{},
		Verify{},
		// Last: a convenience that must never hold up the cluster, run
		// after the joins and the upgrade (which renews admin.conf).
		CopyAdminKubeconfig{},
	}
}

// HostFile is one file a phase writes on one host.
type HostFile struct {
	Host    string
	Path    string // absolute path on the host
	Mode    os.FileMode
	Content []byte
	// Secret files hold a secret (placeholders in render): their content
	// is never echoed, in an error or anywhere else.
	Secret bool
}
