package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/tui"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// app is what the commands share: where they print, the phase registry and
// how hosts are reached. Tests build one with fake phases.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer // stderr redacts with secrets (see run)
	// secrets is the one set of secrets of the invocation: events, the
	// journal and stderr are redacted with it.
	secrets  *events.Secrets
	terminal tui.Terminal
	// registry returns the ordered phases.
	registry func() []phases.Phase
	// connect opens the transport to the cluster's hosts. The returned
	// close function ends every connection.
	connect func(ctx context.Context, c *inventory.Cluster, o connectOptions) (phases.Hosts, func() error, error)
}

func defaultApp() *app {
	return &app{
		terminal: tui.Terminal{IsTerminal: term.IsTerminal(int(os.Stdout.Fd())), Getenv: os.Getenv},
		registry: phases.Registry,
		connect:  connectSSH,
	}
}

// runFlags are shared by apply, plan, reset and every `phase <id>`.
type runFlags struct {
	output            string
	concurrency       int
	concurrentUploads int
	skip              []string
	only              []string
	from              string
	force             []string
	removeNodes       bool
	verbose           bool
	conn              connectOptions
	// etcdFiles is set for the commands that may run the etcd-client
	// phase, which uploads the operator's etcd client files: those are
	// read and checked before any host is touched (checkEtcdFiles).
	etcdFiles bool
}

func (f *runFlags) bind(cmd *cobra.Command, selection bool) {
	fs := cmd.Flags()
	fs.StringVar(&f.output, "output", tui.ModeAuto, "output: auto, tty, plain or json (one JSON object per line)")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "plain output: print every host's step lines, not only each phase's counts and what failed or warned")
	fs.IntVar(&f.concurrency, "concurrency", 20, "how many hosts a phase works on at once")
	fs.IntVar(&f.concurrentUploads, "concurrent-uploads", 5, "how many hosts receive bundle uploads at once")
	if selection {
		fs.StringSliceVar(&f.skip, "skip-phases", nil, "phase IDs to skip (wins over --only)")
		fs.StringSliceVar(&f.only, "only", nil, "run only these phase IDs")
		fs.StringVar(&f.from, "from", "", "start at this phase ID")
		fs.StringSliceVar(&f.force, "force", nil, "rerun these phase IDs even if they probe as done")
		fs.BoolVar(&f.removeNodes, "remove-nodes", false, "take out of the cluster the nodes the inventory no longer lists: drain, etcd member removed, kubeadm reset, node deleted (destroys; without it apply only names them)")
	}
	f.conn.bind(cmd)
}

func newRootCmd(a *app) *cobra.Command {
	var invPath, stateDir string
	root := &cobra.Command{
		Use:           "kubeha",
		Short:         "Turn SSH-reachable Linux machines into a highly available Kubernetes cluster with kubeadm",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVarP(&invPath, "inventory", "i", "kubeha.yaml", "inventory file")
	root.PersistentFlags().StringVar(&stateDir, "state-dir", ".kubeha", "where the journal of each cluster is kept")
	ctx := &cmdContext{app: a, invPath: &invPath, stateDir: &stateDir}

	root.AddCommand(
		ctx.applyCmd(),
		ctx.planCmd(),
		ctx.phaseCmd(),
		ctx.resetCmd(),
		ctx.renderCmd(),
		ctx.inventoryCmd(),
		ctx.statusCmd(),
		ctx.bundleCmd(),
		ctx.etcdCmd(),
		ctx.certsCmd(),
		ctx.kubeconfigCmd(),
		ctx.tuiCmd(),
		versionCmd(a),
	)
	return root
}

// cmdContext carries the root flags to subcommands.
type cmdContext struct {
	app      *app
	invPath  *string
	stateDir *string
}

// loadInventory loads and validates the inventory, printing warnings. An
// invalid inventory is reported in full here and returned as a silent
// error with exit code 2.
func (c *cmdContext) loadInventory() (*inventory.Cluster, error) {
	cl, warnings, err := inventory.Load(*c.invPath)
	if err != nil {
		if ps, ok := err.(inventory.Problems); ok {
			fmt.Fprintf(c.app.stderr, "%s is invalid:\n", *c.invPath)
			for _, p := range ps {
				fmt.Fprintf(c.app.stderr, "  %s\n", p)
			}
			return nil, silentError{ps}
		}
		return nil, usageError{err}
	}
	for _, w := range warnings {
		fmt.Fprintf(c.app.stderr, "%s: %s\n", *c.invPath, w)
	}
	return cl, nil
}

// checkEtcdFiles reads and checks the client files of the operator's
// etcd that cl names (inventory.CheckEtcdClientFiles), and reports their
// problems as loadInventory reports the inventory's: warnings printed,
// errors in full and returned as a silent error with exit code 2.
func (c *cmdContext) checkEtcdFiles(cl *inventory.Cluster) error {
	ps := inventory.CheckEtcdClientFiles(cl, time.Now(), false)
	if errs := ps.Errors(); len(errs) > 0 {
		fmt.Fprintf(c.app.stderr, "%s is invalid:\n", *c.invPath)
		for _, p := range ps {
			fmt.Fprintf(c.app.stderr, "  %s\n", p)
		}
		return silentError{errs}
	}
	for _, w := range ps {
		fmt.Fprintf(c.app.stderr, "%s: %s\n", *c.invPath, w)
	}
	return nil
}

// sink builds the event stream for an output mode: stamped, redacted, then
// rendered. Everything kubeha shows passes through it. verbose unfolds the
// line renderers' per-host lines; JSON is complete either way.
func (c *cmdContext) sink(output string, verbose bool, secrets *events.Secrets) (events.Sink, error) {
	mode, err := tui.Resolve(output, c.app.terminal)
	if err != nil {
		return nil, usageError{err}
	}
	var r events.Sink
	switch mode {
	case tui.ModeJSON:
		r = tui.NewJSON(c.app.stdout)
	case tui.ModeTTY:
		t := tui.NewTerminal(c.app.stdout, tui.Color(mode, c.app.terminal))
		t.Verbose = verbose
		r = t
	default:
		p := tui.NewPlain(c.app.stdout, false)
		p.Verbose = verbose
		r = p
	}
	return events.Stamped(events.Redacting(r, secrets), time.Now), nil
}

func versionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print kubeha's version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.stdout, "kubeha %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
