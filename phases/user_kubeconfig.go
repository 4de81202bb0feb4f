package phases

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/kubeadm"
	"github.com/kubeha/kubeha/scripts"
)

// CopyAdminKubeconfig puts each master's admin kubeconfig at
// $HOME/.kube/config of the user kubeha logs in as there, when the
// inventory asks (spec.adminKubeconfig.copyToSSHUser): kubeadm's "To start
// using your cluster" steps, which seed 001 runs by hand on every master.
// The copy is made on the master itself (template phases/user-kubeconfig):
// admin.conf never crosses the network nor reaches any output.
//
// A file already there is replaced only when it is kubeha's earlier copy
// or this cluster's earlier admin credentials (admin.conf but for its
// client certificate and key); the latter is first kept beside it, for
// its client credentials may be ones the user put there on purpose.
// Anything else is the user's: it is kept, and every probe warns, naming
// the host, the file and the fix.
//
// admin.conf changes at kubeadm init and join, kubeadm certs renew and
// kubeadm upgrade. The phase runs last in apply, after the joins and the
// upgrade of the same run; kubeha certs renew runs it after the renewal;
// and a renewal by other means is found by the next apply's probe.
type CopyAdminKubeconfig struct{}

var _ Phase = (*CopyAdminKubeconfig)(nil)

func (CopyAdminKubeconfig) ID() string { return "user-kubeconfig" }
func (CopyAdminKubeconfig) Title() string {
	return "Copy admin.conf to the SSH user's ~/.kube/config on each master"
}

// Inputs: whether the copies are wanted. Who the users are and what the
// files hold is on the hosts, and the probe asks them.
func (CopyAdminKubeconfig) Inputs(c *inventory.Cluster) any { return c.Spec.AdminKubeconfig }

// UserKubeconfigRecords is where kubeha records, per uid, the sha256 of
// each copy it wrote into a user's ~/.kube/config: the copies it may
// replace, and remove at reset, without asking.
const UserKubeconfigRecords = kubeadm.ConfigDir + "/user-kubeconfig"

// What phases/user-kubeconfig finds at the user's ~/.kube/config.
const (
	kubeconfigSame    = "same"
	kubeconfigAbsent  = "absent"
	kubeconfigOwner   = "owner"
	kubeconfigStale   = "stale"
	kubeconfigEarlier = "earlier"
	kubeconfigForeign = "foreign"
)

// userKubeconfig is phases/user-kubeconfig's verdict on one master.
type userKubeconfig struct {
	Verdict string
	User    string
	// Path is the user's ~/.kube/config; for foreign, what is in the way.
	Path string
	// Backup, for earlier alone, is where the old file is kept (by the
	// write) or is to be kept (as the check found it).
	Backup string
}

// parseUserKubeconfig reads phases/user-kubeconfig's output: a line
// VERDICT USER PATH (PATH last: a home directory may hold a blank) and,
// for earlier and only for it, a line "backup BACKUP". Each path is the
// rest of its line, blanks included: neither can hold a newline.
func parseUserKubeconfig(out string) (userKubeconfig, error) {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	f := strings.SplitN(lines[0], " ", 3)
	if len(f) != 3 || f[2] == "" {
		return userKubeconfig{}, fmt.Errorf("the user kubeconfig check printed %q, not VERDICT USER PATH", out)
	}
	v := userKubeconfig{Verdict: f[0], User: f[1], Path: f[2]}
	switch v.Verdict {
	case kubeconfigSame, kubeconfigAbsent, kubeconfigOwner, kubeconfigStale, kubeconfigEarlier, kubeconfigForeign:
	default:
		return userKubeconfig{}, fmt.Errorf("the user kubeconfig check printed an unknown verdict %q", v.Verdict)
	}
	for _, l := range lines[1:] {
		b, ok := strings.CutPrefix(l, "backup ")
		if !ok || b == "" || v.Backup != "" || v.Verdict != kubeconfigEarlier {
			return userKubeconfig{}, fmt.Errorf("the user kubeconfig check printed %q after %q, not one backup PATH for earlier", l, lines[0])
		}
		v.Backup = b
	}
	if v.Verdict == kubeconfigEarlier && v.Backup == "" {
		return userKubeconfig{}, fmt.Errorf("the user kubeconfig check printed %q without the backup PATH of the file it replaces", out)
	}
	return v, nil
}

// Change is what making the copy changes, as a plan says it ("" for
// nothing).
func (v userKubeconfig) Change() string {
	switch v.Verdict {
	case kubeconfigAbsent:
		return fmt.Sprintf("copy %s to %s (owner %s, mode 0600)", kubeadm.AdminConfPath, v.Path, v.User)
	case kubeconfigOwner:
		return fmt.Sprintf("give %s, which holds %s, owner %s and mode 0600", v.Path, kubeadm.AdminConfPath, v.User)
	case kubeconfigStale:
		return fmt.Sprintf("replace %s, kubeha's earlier copy, with the current %s", v.Path, kubeadm.AdminConfPath)
	case kubeconfigEarlier:
		return fmt.Sprintf("replace %s, this cluster's earlier admin credentials, with the current %s; the old file will be kept at %s", v.Path, kubeadm.AdminConfPath, v.Backup)
	}
	return ""
}

// Done is what making the copy changed, as the run reports it ("" for
// nothing).
func (v userKubeconfig) Done() string {
	switch v.Verdict {
	case kubeconfigAbsent:
		return fmt.Sprintf("copied %s to %s (owner %s, mode 0600)", kubeadm.AdminConfPath, v.Path, v.User)
	case kubeconfigOwner:
		return fmt.Sprintf("gave %s owner %s and mode 0600", v.Path, v.User)
	case kubeconfigStale:
		return fmt.Sprintf("replaced %s with the current %s", v.Path, kubeadm.AdminConfPath)
	case kubeconfigEarlier:
		return fmt.Sprintf("replaced %s, this cluster's earlier admin credentials, with the current %s; the old file is kept at %s", v.Path, kubeadm.AdminConfPath, v.Backup)
	}
	return ""
}

// Warning is what the operator is told of a file kubeha keeps although
// the inventory wants the copy there ("" when there is none).
func (v userKubeconfig) Warning() string {
	if v.Verdict != kubeconfigForeign {
		return ""
	}
	return fmt.Sprintf("%s (user %s) is neither kubeha's copy of %s nor this cluster's earlier admin credentials (another kubeconfig, or one edited since): kept as it is, and not kept up to date; "+
		"move it aside (mv %s %s.orig) and run kubeha apply for kubeha's copy, or turn spec.adminKubeconfig.copyToSSHUser off",
		v.Path, v.User, kubeadm.AdminConfPath, v.Path, v.Path)
}

// userKubeconfigData is what phases/user-kubeconfig needs.
type userKubeconfigData struct {
	Source  string // the master's admin kubeconfig
	Records string // UserKubeconfigRecords
	Write   bool   // false: only say what is there
}

// userKubeconfigScript checks, and with write makes, the SSH user's copy
// of admin.conf (template phases/user-kubeconfig).
func userKubeconfigScript(write bool) scripts.Script {
	return scripts.Render("phases/user-kubeconfig", userKubeconfigData{kubeadm.AdminConfPath, UserKubeconfigRecords, write})
}

func (CopyAdminKubeconfig) Probe(ctx context.Context, env *Env) (Work, error) {
	if !env.Cluster.Spec.AdminKubeconfig.CopyToSSHUser {
		return Work{Reasons: map[string]string{}}, nil
	}
	// Only a master kubeadm finished has an admin.conf to copy.
	masters, err := finishedMasters(ctx, env)
	if err != nil {
		return Work{Reasons: map[string]string{}}, err
	}
	var names []string
	for _, m := range masters {
		names = append(names, m.Name)
	}
	check := userKubeconfigScript(false)
	return ProbePending(ctx, env, names, func(ctx context.Context, host string) (string, error) {
		res, err := env.quiet(ctx, host, "check the SSH user's kubeconfig", check)
		if err != nil {
			return "", err
		}
		v, err := parseUserKubeconfig(res.Stdout)
		if err != nil {
			return "", err
		}
		if w := v.Warning(); w != "" {
			env.Log.ForHost(host).Warn(w)
		}
		return v.Change(), nil
	})
}

// Run makes the copy on each pending master. The script decides again on
// the host, so a file that changed since the probe is never overwritten.
func (CopyAdminKubeconfig) Run(ctx context.Context, env *Env, w Work) error {
	if !env.Cluster.Spec.AdminKubeconfig.CopyToSSHUser {
		return nil
	}
	write := userKubeconfigScript(true)
	return ForEachHost(ctx, env, w.Pending, 0, func(ctx context.Context, host string) error {
		res, err := env.quiet(ctx, host, "copy admin.conf to the SSH user's kubeconfig", write)
		if err != nil {
			return err
		}
		// Nothing printed: the copy was there already.
		if strings.TrimSpace(res.Stdout) == "" {
			return nil
		}
		v, err := parseUserKubeconfig(res.Stdout)
		if err != nil {
			return err
		}
		// A file kept (Done is "") became the user's since the probe.
		if d := v.Done(); d != "" {
			env.Log.ForHost(host).Info(d)
		} else if w := v.Warning(); w != "" {
			env.Log.ForHost(host).Warn(w)
		}
		return nil
	})
}

var _ FileRenderer = CopyAdminKubeconfig{}

// Files is for kubeha render alone: the copy's content exists only on the
// master, so Probe and Run compare and copy there. Each master gets a
// placeholder at the home its login user conventionally has (/root, else
// /home/USER; the host's passwd database has the last word), with the
// user the inventory names for it, else root.
func (CopyAdminKubeconfig) Files(_ context.Context, v View) ([]HostFile, error) {
	c := v.Cluster()
	if !c.Spec.AdminKubeconfig.CopyToSSHUser {
		return nil, nil
	}
	var out []HostFile
	for _, m := range c.Masters() {
		user := c.SSHUser(m)
		home := "/home/" + user
		if user == "" || user == "root" {
			home = "/root"
		}
		out = append(out, HostFile{Host: m.Name, Path: path.Join(home, ".kube", "config"), Mode: 0o600,
			Content: []byte(userKubeconfigPlaceholder), Secret: true})
	}
	return out, nil
}

// userKubeconfigPlaceholder stands, in kubeha render, for the copy of a
// master's admin.conf.
const userKubeconfigPlaceholder = "# kubeha render: a placeholder. On this master, kubeha apply copies the\n" +
	"# cluster's admin kubeconfig, " + kubeadm.AdminConfPath + ", here: it holds a\n" +
	"# cluster-admin client key, so the file is 0600 and owned by the SSH user.\n"

var _ CleanerUpper = CopyAdminKubeconfig{}

// CleanUp removes, on every master, the copies kubeha recorded writing that
// are still as it wrote them, and the records; a copy changed since is
// kept and named (template phases/user-kubeconfig-cleanup). It reads only
// the records, so it works after kubeadm reset took admin.conf, and
// whether the inventory still asks for the copies or not. The backups the
// write keeps of earlier credentials (config.kubeha-backup*) are never
// recorded, so they stay: they hold what was the user's.
func (CopyAdminKubeconfig) CleanUp(ctx context.Context, env *Env) error {
	script := userKubeconfigCleanUp()
	var masters []string
	for _, m := range env.Cluster.Masters() {
		masters = append(masters, m.Name)
	}
	return ForEachHost(ctx, env, masters, 0, func(ctx context.Context, host string) error {
		_, err := env.run(ctx, host, "remove kubeha's copies of admin.conf", script)
		return err
	})
}

// userKubeconfigCleanUp is the phase's verified clean-up script.
func userKubeconfigCleanUp() scripts.Script {
	return scripts.Render("phases/user-kubeconfig-cleanup", struct{ Records string }{UserKubeconfigRecords})
}
