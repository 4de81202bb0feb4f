package phases

import (
	"os"

	"github.com/kubeha/kubeha/inventory"
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
		&ConfigureLoadBalancer{},
		InitControlPlane{},
		JoinControlPlane{},
		JoinWorkers{},
		KubeProxy{},
		ConfigureRoutes{},
		InstallCNI{},
		Verify{},
	}
}

// FileRenderer is implemented by phases that write files on hosts. `kubeha
// render` collects their files without connecting to anything, so operators
// can review a change and tests can check rendered files with the real
// programs. Secrets in rendered files are well-formed placeholders.
type FileRenderer interface {
	Files(c *inventory.Cluster) ([]HostFile, error)
}

// HostFile is one file a phase writes on one host.
type HostFile struct {
	Host    string
	Path    string // absolute path on the host
	Mode    os.FileMode
	Content []byte
}

// RenderAll returns the files of every phase in ps that renders files.
func RenderAll(ps []Phase, c *inventory.Cluster) ([]HostFile, error) {
	var out []HostFile
	for _, p := range ps {
		r, ok := p.(FileRenderer)
		if !ok {
			continue
		}
		files, err := r.Files(c)
		if err != nil {
			return nil, &PhaseError{Phase: p.ID(), Err: err}
		}
		out = append(out, files...)
	}
	return out, nil
}
