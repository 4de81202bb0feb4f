package phases

import (
	"context"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

var _ JoinHooker = InstallCNI{}

// BeforeJoin: the pod network needs nothing before a join.
func (InstallCNI) BeforeJoin(context.Context, *Env, inventory.Host, bool) error { return nil }

// AfterJoin writes the node's bridge CNI config as soon as it has a Pod
// CIDR (earlyBridgeCNI); best effort, so never an error.
func (InstallCNI) AfterJoin(ctx context.Context, env *Env, h inventory.Host, _ bool) error {
	earlyBridgeCNI(ctx, env, h.Name)
	return nil
}

// applyManifestScript applies the CNI manifest that Run uploaded to the
// control host, through the endpoint.
func applyManifestScript() scripts.Script {
	return scripts.Render("phases/apply-manifest", struct{ Path string }{manifestPath})
}
