package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubeha/kubeha/controlplane"
	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/phases"
	"github.com/kubeha/kubeha/state"
)

func (c *cmdContext) applyCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Bring the cluster to what the inventory says, continuing where a previous run stopped",
		Long: "Bring the cluster to what the inventory says, continuing where a previous run stopped.\n\n" +
			phaseListing(c.app.registry()),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// On a terminal with no inventory yet: the installer makes one.
			if _, err := os.Stat(*c.invPath); errors.Is(err, os.ErrNotExist) && c.live(&f) {
				return c.runWizard(cmd.Context(), &f)
			}
			return c.runPhases(cmd.Context(), &f, phases.Selection{Skip: f.skip, Only: f.only, From: f.from, Force: f.force})
		},
	}
	f.bind(cmd, true)
	f.etcdFiles = true
	return cmd
}

// phaseCmd generates `kubeha phase <id>` from the registry, so the CLI and
// the phase list can never disagree.
func (c *cmdContext) phaseCmd() *cobra.Command {
	parent := &cobra.Command{
		Use:   "phase <id>",
		Short: "Run one phase (the same flags as apply)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("name a phase: %s", strings.Join(phaseIDs(c.app.registry()), ", "))}
		},
	}
	for _, p := range c.app.registry() {
		id := p.ID()
		var f phaseFlags
		sub := &cobra.Command{
			Use:   id,
			Short: p.Title(),
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				sel := phases.Selection{Only: []string{id}}
				if f.forceThis {
					sel.Force = []string{id}
				}
				return c.runPhases(cmd.Context(), &f.runFlags, sel)
			},
		}
		f.runFlags.bind(sub, false)
		f.etcdFiles = true
		sub.Flags().BoolVar(&f.forceThis, "force", false, "rerun the phase even if it probes as done")
		parent.AddCommand(sub)
	}
	return parent
}

// phaseListing is the help text's list of phases, one "ID  Title" line
// each in run order, as kubeadm's init --help has; it is made from the
// registry, so it names exactly the IDs the selection flags accept.
func phaseListing(ps []phases.Phase) string {
	width := 0
	for _, p := range ps {
		width = max(width, len(p.ID()))
	}
	var b strings.Builder
	b.WriteString("The phases, in the order they run (the IDs --skip-phases, --only, --from,\n--force and 'kubeha phase <id>' take):\n\n")
	for _, p := range ps {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, p.ID(), p.Title())
	}
	return b.String()
}

type phaseFlags struct {
	runFlags
	forceThis bool
}

func phaseIDs(ps []phases.Phase) []string {
	ids := make([]string, 0, len(ps))
	for _, p := range ps {
		ids = append(ids, p.ID())
	}
	return ids
}

// session is what apply, plan and reset set up before touching hosts: the
// inventory, the locked journal, the event stream and the connections.
type session struct {
	runner *phases.Runner
	close  func()
}

func (c *cmdContext) open(ctx context.Context, f *runFlags) (*session, error) {
	return c.openWith(ctx, f, nil, nil)
}

// openWith is open for the live view, when view is set: the events go to
// view (already redacted and stamped here) instead of the --output
// renderer, and questions during the run go through term.
func (c *cmdContext) openWith(ctx context.Context, f *runFlags, view events.Sink, term *viewTerminal) (*session, error) {
	cl, err := c.loadInventory()
	if err != nil {
		return nil, err
	}
	if f.etcdFiles {
		if err := c.checkEtcdFiles(cl); err != nil {
			return nil, err
		}
	}
	if f.concurrency < 1 {
		return nil, usageError{fmt.Errorf("--concurrency %d: use 1 or more", f.concurrency)}
	}
	if f.concurrentUploads < 1 {
		return nil, usageError{fmt.Errorf("--concurrent-uploads %d: use 1 or more", f.concurrentUploads)}
	}
	secrets := c.app.secrets
	var sink events.Sink
	if view != nil {
		sink = events.Stamped(events.Redacting(view, secrets), time.Now)
	} else if sink, err = c.sink(f.output, f.verbose, secrets); err != nil {
		return nil, err
	}
	store, err := state.Open(*c.stateDir, cl.Metadata.Name, secrets)
	if err != nil {
		return nil, err
	}
	journal, err := store.Load(cl.Metadata.Name)
	if err != nil {
		store.Close()
		return nil, err
	}
	o := f.conn
	o.secrets, o.events, o.stdin, o.stderr = secrets, sink, c.app.stdin, c.app.stderr
	o.view = term // the view takes the terminal once this returns
	// The hosts the inventory no longer lists are still reached, as the
	// journal remembers them, to be taken out (remove-nodes).
	reach := cl
	if former := journal.Former(cl.Spec.Hosts); len(former) > 0 {
		cc := *cl
		cc.Spec.Hosts = append(slices.Clone(cl.Spec.Hosts), former...)
		reach = &cc
	}
	hosts, closeHosts, err := c.app.connect(ctx, reach, o)
	if err != nil {
		store.Close()
		return nil, err
	}
	s := &session{
		runner: &phases.Runner{
			Phases:            c.app.registry(),
			Cluster:           cl,
			Events:            sink,
			Secrets:           secrets,
			Hosts:             hosts,
			Facts:             &phases.FactStore{},
			ControlPlane:      controlplane.New(cl, hosts, secrets, filepath.Join(*c.stateDir, cl.Metadata.Name)),
			Concurrency:       f.concurrency,
			UploadConcurrency: f.concurrentUploads,
			Journal:           journal,
			Store:             store,
			RemoveNodes:       f.removeNodes,
		},
		close: func() {
			if closeHosts != nil {
				_ = closeHosts()
			}
			store.Close()
		},
	}
	return s, nil
}

func (c *cmdContext) runPhases(ctx context.Context, f *runFlags, sel phases.Selection) error {
	if c.live(f) {
		return c.runLive(ctx, f, sel)
	}
	s, err := c.open(ctx, f)
	if err != nil {
		return err
	}
	defer s.close()
	return s.runner.Apply(ctx, sel)
}

func (c *cmdContext) planCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Probe the hosts and show what apply would change, changing nothing",
		// plan takes apply's selection flags, so it lists the IDs too.
		Long: "Probe the hosts and show what apply would change, changing nothing.\n\n" +
			phaseListing(c.app.registry()),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := c.open(cmd.Context(), &f)
			if err != nil {
				return readOnly("plan", err)
			}
			defer s.close()
			plan, err := s.runner.Plan(cmd.Context(), phases.Selection{Skip: f.skip, Only: f.only, From: f.from})
			if err != nil {
				return readOnly("plan", err)
			}
			if f.output == "json" {
				return nil // the plan events already went out as JSON lines
			}
			changes := 0
			for _, p := range plan {
				changes += len(p.Changes)
			}
			fmt.Fprintf(c.app.stdout, "plan: %d phases, %d changes\n", len(plan), changes)
			return nil
		},
	}
	f.bind(cmd, true)
	f.etcdFiles = true
	return cmd
}

func (c *cmdContext) resetCmd() *cobra.Command {
	var f runFlags
	var yes bool
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Undo what kubeha and the cluster did on every host (kubeadm reset, pod network, kube-proxy rules, routes, load balancer, host prep); asks first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := c.loadInventory()
			if err != nil {
				return err
			}
			if !yes {
				fmt.Fprintf(c.app.stderr, "This wipes Kubernetes from %d hosts of cluster %q (%s).\nType the cluster name to go on: ",
					len(cl.Spec.Hosts), cl.Metadata.Name, strings.Join(cl.HostNames(), ", "))
				answer, _ := bufio.NewReader(c.app.stdin).ReadString('\n')
				if strings.TrimSpace(answer) != cl.Metadata.Name {
					return usageError{fmt.Errorf("reset not confirmed; nothing was changed (use --yes in scripts)")}
				}
			}
			s, err := c.open(cmd.Context(), &f)
			if err != nil {
				return err
			}
			defer s.close()
			return s.runner.Reset(cmd.Context())
		},
	}
	f.bind(cmd, false)
	cmd.Flags().BoolVar(&yes, "yes", false, "do not ask for confirmation")
	return cmd
}
