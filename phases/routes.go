package phases

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/scripts"
)

// Files the network phases own.
const (
	RoutesPath     = "/etc/kubeha/routes"
	routesUnitPath = "/etc/systemd/system/kubeha-routes.service"
	BridgeConfPath = "/etc/cni/net.d/10-kubeha-bridge.conflist"
	manifestPath   = "/etc/kubeha/cni-manifest.yaml"
)

// routesUnit re-applies the routes file at every boot, so the routes live in
// the host's own configuration (systemd) whatever its network stack. The
// routes file holds inventory values (CIDRs, addresses, the gateway, the
// interface) that the shell splits into ip's arguments on purpose: set -f
// keeps it from also expanding them as file names.
//
// It is a file kubeha writes, not a script it runs, so it is not a template
// of package scripts: it holds no value but kubeha's own RoutesPath, and
// systemd, not sh, unquotes its ExecStart line, so q's quoting would be the
// wrong one there. TestRoutesUnitShell checks its shell program with sh -n
// and shellcheck.
const routesUnit = `[Unit]
Description=kubeha static routes for the Pod and Service CIDRs
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'set -f; grep -v "^#" ` + RoutesPath + ` | while read -r dst via; do if [ -n "$dst" ]; then ip route replace $dst $via; fi; done'

[Install]
WantedBy=multi-user.target
`

// nodeCIDRs returns each node's Pod CIDR slice, as the controller-manager
// allocated it.
func nodeCIDRs(ctx context.Context, env *Env) (map[string]string, error) {
	return env.ControlPlane.NodeCIDRs(ctx, nodeNames(env.Cluster))
}

// routesFor renders host's routes file: the other nodes' Pod CIDR slices via
// their addresses (cni: bridge), and the seed 003 routes for the whole Pod
// and Service CIDRs via a named interface and gateway.
func routesFor(c *inventory.Cluster, host string, cidrs map[string]string) []byte {
	var lines []string
	if c.Spec.CNI.Plugin == inventory.CNIBridge {
		for _, n := range nodes(c) {
			if n.Name != host && cidrs[n.Name] != "" {
				lines = append(lines, fmt.Sprintf("%s via %s", cidrs[n.Name], n.InternalAddress))
			}
		}
	}
	if r := c.Spec.Network.PodRoutes; r.Enabled {
		via := ""
		if r.Gateway != "" {
			via += "via " + r.Gateway
		}
		if r.Interface != "" {
			via = strings.TrimSpace(via + " dev " + r.Interface)
		}
		if c.Spec.CNI.Plugin != inventory.CNIBridge {
			lines = append(lines, c.Spec.Network.PodSubnet+" "+via)
		}
		lines = append(lines, c.Spec.Network.ServiceSubnet+" "+via)
	}
	sort.Strings(lines)
	return []byte("# Managed by kubeha: destination, then how to reach it.\n" + strings.Join(lines, "\n") + "\n")
}

// ConfigureRoutes adds the static routes and keeps them across reboots.
type ConfigureRoutes struct{}

var (
	_ Phase        = (*ConfigureRoutes)(nil)
	_ FileRenderer = ConfigureRoutes{}
)

func (ConfigureRoutes) ID() string    { return "routes" }
func (ConfigureRoutes) Title() string { return "Static routes for the Pod and Service CIDRs" }

func routesNeeded(c *inventory.Cluster) bool {
	return c.Spec.CNI.Plugin == inventory.CNIBridge || c.Spec.Network.PodRoutes.Enabled
}

// Files are every node's routes file, from the view's Pod CIDRs, and the
// unit that applies it at boot; none when the cluster needs no routes.
// Probe and Run take each host's files from here, so kubeha render shows
// what apply writes.
func (ConfigureRoutes) Files(ctx context.Context, v View) ([]HostFile, error) {
	c := v.Cluster()
	if !routesNeeded(c) {
		return nil, nil
	}
	cidrs, err := v.PodCIDRs(ctx)
	if err != nil {
		return nil, err
	}
	var out []HostFile
	for _, n := range nodeNames(c) {
		out = append(out,
			HostFile{Host: n, Path: RoutesPath, Mode: 0o644, Content: routesFor(c, n, cidrs)},
			HostFile{Host: n, Path: routesUnitPath, Mode: 0o644, Content: []byte(routesUnit)})
	}
	return out, nil
}

func (r ConfigureRoutes) Probe(ctx context.Context, env *Env) (Work, error) {
	c := env.Cluster
	if !routesNeeded(c) {
		return Work{Reasons: map[string]string{}}, nil
	}
	files, err := r.Files(ctx, env.View())
	if err != nil {
		return Work{}, err
	}
	// Routes in the table, not just in the file.
	table := routesProbeScript()
	return ProbePending(ctx, env, nodeNames(c), func(ctx context.Context, host string) (string, error) {
		pr, err := env.probe(ctx, host, hostFileSpecs(files, host), table)
		if err != nil {
			return "", err
		}
		if len(pr.Differ) > 0 || strings.TrimSpace(pr.Extra) != "" {
			return "set routes", nil
		}
		return "", nil
	})
}

func (r ConfigureRoutes) Run(ctx context.Context, env *Env, w Work) error {
	files, err := r.Files(ctx, env.View())
	if err != nil {
		return err
	}
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		changed, err := env.putFiles(ctx, host, hostFileSpecs(files, host))
		if err != nil {
			return err
		}
		_, err = env.run(ctx, host, "apply routes", routesApplyScript(slices.Contains(changed, routesUnitPath)))
		return err
	})
}

// routesProbeScript prints each destination of the routes file that has
// no route in the table (template phases/routes-probe).
func routesProbeScript() scripts.Script {
	return scripts.Render("phases/routes-probe", struct{ Routes string }{RoutesPath})
}

// routesApplyScript enables and restarts the routes unit, after a
// daemon-reload when reload is set (the unit file changed).
func routesApplyScript(reload bool) scripts.Script {
	return scripts.Render("phases/routes-apply", struct{ Reload bool }{reload})
}

// CleanUp deletes the routes and their unit: the ones the routes file
// lists, then any other route still inside the Pod or Service CIDR (a routes
// file lost with an interrupted run must not leave its routes behind). The
// kernel's own routes of an interface go with the interface (the cni
// phase's CleanUp).
func (ConfigureRoutes) CleanUp(ctx context.Context, env *Env) error {
	script := routesCleanUp(env.Cluster.Spec.Network)
	return ForEachHost(ctx, env, nodeNames(env.Cluster), 0, func(ctx context.Context, host string) error {
		_, err := env.run(ctx, host, "remove routes", script)
		return err
	})
}

// routesCleanUpData is what phases/routes-cleanup removes: the routes
// file, its unit, and the routes into the Pod and Service CIDRs.
type routesCleanUpData struct {
	Routes, Unit             string
	PodSubnet, ServiceSubnet string
}

// routesCleanUp is the routes phase's verified clean-up script for
// network n (template phases/routes-cleanup).
func routesCleanUp(n inventory.Network) scripts.Script {
	return scripts.Render("phases/routes-cleanup", routesCleanUpData{
		Routes: RoutesPath, Unit: routesUnitPath, PodSubnet: n.PodSubnet, ServiceSubnet: n.ServiceSubnet,
	})
}
