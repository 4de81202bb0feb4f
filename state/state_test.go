package state

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
)

func TestSaveLoadRoundTripAndMode(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, "prod", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j, err := s.Load("prod")
	if err != nil {
		t.Fatal(err)
	}
	j.Phases["facts"] = &PhaseRecord{Status: StatusDone, InputsHash: "h1", Hosts: map[string]*HostRecord{"k1": {Status: StatusDone}}}
	if err := s.Save(j); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("journal mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(s.Path()))
	if di.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode %v, want 0700", di.Mode().Perm())
	}
	j2, err := Read(s.Path(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	if !j2.Done("facts", "h1") || j2.Done("facts", "h2") || j2.Done("preflight", "h1") {
		t.Errorf("Done disagrees with what was saved: %+v", j2.Phases["facts"])
	}
	entries, _ := os.ReadDir(filepath.Dir(s.Path()))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temp file left behind: %s", e.Name())
		}
	}
}

func TestLockExcludesSecondStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, "prod", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(dir, "prod", nil)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), "process") {
		t.Errorf("lock error should say who holds it: %v", err)
	}
	// Another cluster is independent.
	other, err := Open(dir, "staging", nil)
	if err != nil {
		t.Fatalf("other cluster: %v", err)
	}
	other.Close()
	s.Close()
	s2, err := Open(dir, "prod", nil)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	s2.Close()
}

// TestLockHeldByAnotherProcess proves the lock works across processes, which
// is what matters: two operators, or CI and an operator, on one journal.
func TestLockHeldByAnotherProcess(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) not installed")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "prod"), 0o700); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, "prod", "lock")
	cmd := exec.Command("flock", "-x", lock, "sh", "-c", "echo locked; read x")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := stdout.Read(buf); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir, "prod", nil)
	stdin.Close()
	cmd.Wait()
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while another process holds the lock: %v", err)
	}
}

func TestCorruptJournalIsAClearError(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	os.WriteFile(p, []byte("{not json"), 0o600)
	_, err := Read(p, "prod")
	if err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Fatalf("want a corrupt-journal error with a fix, got %v", err)
	}
}

// TestSaveRedactsErrors: the file holds the errors with every secret the
// run registered masked, including secrets registered after Open, while the
// journal in memory keeps the text it was given.
func TestSaveRedactsErrors(t *testing.T) {
	dir := t.TempDir()
	secrets := &events.Secrets{}
	s, err := Open(dir, "prod", secrets)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	secrets.Add("0123456789abcdef0123456789abcdef", "pw4x")
	j, _ := s.Load("prod")
	j.Phases["join"] = &PhaseRecord{Status: StatusFailed,
		Error: "upload-certs --certificate-key 0123456789abcdef0123456789abcdef failed: exit 1",
		Hosts: map[string]*HostRecord{
			"k1": {Status: StatusFailed, Error: "k1: sudo password pw4x rejected"},
			"k2": {Status: StatusDone},
		}}
	if err := s.Save(j); err != nil {
		t.Fatal(err)
	}
	got, err := Read(s.Path(), "prod")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"phase error", got.Phases["join"].Error, "upload-certs --certificate-key *** failed: exit 1"},
		{"host error", got.Phases["join"].Hosts["k1"].Error, "k1: sudo password *** rejected"},
		{"no error", got.Phases["join"].Hosts["k2"].Error, ""},
		{"memory untouched", j.Phases["join"].Hosts["k1"].Error, "k1: sudo password pw4x rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	raw, _ := os.ReadFile(s.Path())
	for _, secret := range []string{"0123456789abcdef", "pw4x"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("state.json holds %q:\n%s", secret, raw)
		}
	}
}

// TestJournalRemembersHosts: the inventory's hosts are remembered (its
// entries win), one the inventory drops is Former until forgotten.
func TestJournalRemembersHosts(t *testing.T) {
	j := &Journal{}
	h := func(name, addr string) inventory.Host {
		return inventory.Host{Name: name, Address: addr, Role: inventory.RoleWorker}
	}
	j.Remember([]inventory.Host{h("w1", "10.0.0.1"), h("w2", "10.0.0.2")})
	j.Remember([]inventory.Host{h("w1", "10.0.0.9")})
	names := func(hs []inventory.Host) string {
		var out []string
		for _, x := range hs {
			out = append(out, x.Name+"@"+x.Address)
		}
		return strings.Join(out, " ")
	}
	if got := names(j.Hosts); got != "w1@10.0.0.9 w2@10.0.0.2" {
		t.Errorf("remembered %q", got)
	}
	if got := names(j.Former([]inventory.Host{h("w1", "10.0.0.9")})); got != "w2@10.0.0.2" {
		t.Errorf("former %q", got)
	}
	j.Forget("w2")
	if got := names(j.Former([]inventory.Host{h("w1", "10.0.0.9")})); got != "" {
		t.Errorf("former after Forget %q", got)
	}
}

// ReplaceFile creates a file with the mode it is given, keeps the mode of
// a file it replaces whatever the umask, writes a symlink's target, and
// leaves no temporary file behind.
func TestReplaceFile(t *testing.T) {
	tests := []struct {
		name     string
		existing os.FileMode // 0: no file there yet
		symlink  bool        // path is a link to the file
		want     os.FileMode
	}{
		{name: "a new file gets the mode given", want: 0o600},
		{name: "an existing 0644 file stays 0644", existing: 0o644, want: 0o644},
		{name: "an existing 0640 file stays 0640", existing: 0o640, want: 0o640},
		{name: "an existing 0600 file stays 0600", existing: 0o600, want: 0o600},
		{name: "a symlink's target is written and keeps its mode", existing: 0o640, symlink: true, want: 0o640},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "kubeha.yaml")
			path := file
			if tt.existing != 0 {
				if err := os.WriteFile(file, []byte("old\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(file, tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			if tt.symlink {
				path = filepath.Join(dir, "link.yaml")
				if err := os.Symlink("kubeha.yaml", path); err != nil {
					t.Fatal(err)
				}
			}
			if err := ReplaceFile(path, []byte("new\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(file); err != nil || string(b) != "new\n" {
				t.Fatalf("file holds %q, %v; want new", b, err)
			}
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.want {
				t.Errorf("mode %#o, want %#o", fi.Mode().Perm(), tt.want)
			}
			if tt.symlink {
				if li, err := os.Lstat(path); err != nil || li.Mode()&os.ModeSymlink == 0 {
					t.Errorf("%s is no longer a symlink: %v %v", path, li, err)
				}
			}
			entries, _ := os.ReadDir(dir)
			want := 1
			if tt.symlink {
				want = 2
			}
			if len(entries) != want {
				t.Errorf("the directory holds %v; want the file (and the link) only", entries)
			}
		})
	}
}
