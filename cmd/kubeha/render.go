package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/phases"
)

func (c *cmdContext) renderCmd() *cobra.Command {
	var outDir string
	cmd := &cobra.Command{
		Use:   "render",
		Short: "Write every file kubeha would write on each host to DIR/<host>/<path>, connecting to nothing",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if outDir == "" {
				return usageError{fmt.Errorf("render needs -o DIR")}
			}
			cl, err := c.loadInventory()
			if err != nil {
				return err
			}
			// The SSH users' kubeconfigs go to the homes of the users
			// apply logs in as, ~/.ssh/config's included.
			files, err := phases.RenderAll(cmd.Context(), c.app.registry(), phases.OfflineView{C: withLoginUsers(cl, userSSHConfig{})})
			if err != nil {
				return err
			}
			if err := writeRendered(outDir, files); err != nil {
				return fmt.Errorf("render: %w", err)
			}
			fmt.Fprintf(c.app.stdout, "rendered %d files for %d hosts into %s\n", len(files), len(cl.Spec.Hosts), outDir)
			return nil
		},
	}
	cmd.Flags().StringVarP(&outDir, "out", "o", "", "directory to write into")
	return cmd
}

// withLoginUsers is a copy of c in which every host names the user kubeha
// logs in to it as (loginUser), so that render needs no ~/.ssh/config of
// its own.
func withLoginUsers(c *inventory.Cluster, sc sshConfigSource) *inventory.Cluster {
	out := c.DeepCopy()
	for i := range out.Spec.Hosts {
		h := &out.Spec.Hosts[i]
		user := loginUser(out, *h, sc)
		if h.SSH == nil {
			h.SSH = &inventory.HostSSH{}
		}
		h.SSH.User = user
	}
	return out
}

// writeRendered writes each file to outDir/<host>/<path>, creating outDir
// if needed. It never writes outside outDir: every operation goes through
// an os.Root, so a symlink in outDir that leads out of it (planted, or left
// by an earlier tool) is an error, not a way out; a symlink where a file
// goes is replaced by the file, not written through. Each file lands
// atomically (temporary file, then rename).
func writeRendered(outDir string, files []phases.HostFile) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(outDir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, f := range files {
		// Host names and paths come from a validated inventory and from
		// kubeha's own constants; refuse anything else rather than trust it.
		if f.Host == "" || f.Host == "." || f.Host == ".." || strings.ContainsAny(f.Host, `/\`) ||
			!path.IsAbs(f.Path) || path.Clean(f.Path) != f.Path {
			return fmt.Errorf("%s: refusing path %q", f.Host, f.Path)
		}
		name := f.Host + f.Path
		if err := root.MkdirAll(path.Dir(name), 0o755); err != nil {
			return outside(outDir, err)
		}
		if err := writeAtomicIn(root, name, f.Content, f.Mode.Perm()); err != nil {
			return outside(outDir, err)
		}
	}
	return nil
}

// outside explains an os.Root refusal: the only way a path of ours leaves
// the root is a symlink in it.
func outside(dir string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
		return fmt.Errorf("refusing to write outside %s: a symlink on the way to %s leads out of it (%w)", dir, pe.Path, err)
	}
	return err
}

// writeAtomicIn writes data to name in root through a temporary file in the
// same directory, fsynced, then renamed over name. A reader sees the old
// content or the new; a symlink at name is replaced, never followed.
func writeAtomicIn(root *os.Root, name string, data []byte, mode os.FileMode) error {
	tmp := path.Join(path.Dir(name), "."+path.Base(name)+".tmp-"+rand.Text()[:12])
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode) // not subject to the umask, unlike OpenFile's mode
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		root.Remove(tmp)
		return err
	}
	return nil
}
