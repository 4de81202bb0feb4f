package inventory

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestAdminKubeconfigOption follows spec.adminKubeconfig.copyToSSHUser
// through decoding, Default, Validate and Marshal: off unless written
// true, never set by Default, no problem either way, and written back by
// Marshal only when on, so a save keeps what the operator chose.
func TestAdminKubeconfigOption(t *testing.T) {
	tests := []struct {
		name    string
		stanza  string // appended under spec
		want    bool
		saved   string // Marshal's lines for the option, "" for none
		errPath string // a decoding problem at this path instead
		errText string
	}{
		{name: "left out", want: false},
		{name: "on", stanza: "  adminKubeconfig: {copyToSSHUser: true}\n", want: true,
			saved: "  adminKubeconfig:\n    copyToSSHUser: true\n"},
		{name: "on, block style", stanza: "  adminKubeconfig:\n    copyToSSHUser: true\n", want: true,
			saved: "  adminKubeconfig:\n    copyToSSHUser: true\n"},
		{name: "written off", stanza: "  adminKubeconfig: {copyToSSHUser: false}\n", want: false},
		{name: "empty section", stanza: "  adminKubeconfig: {}\n", want: false},
		{name: "null section", stanza: "  adminKubeconfig:\n", want: false},
		{name: "yes is not a bool", stanza: "  adminKubeconfig: {copyToSSHUser: yes}\n",
			errPath: "spec.adminKubeconfig.copyToSSHUser", errText: "expected true or false"},
		{name: "quoted bool", stanza: "  adminKubeconfig: {copyToSSHUser: \"true\"}\n",
			errPath: "spec.adminKubeconfig.copyToSSHUser", errText: "expected true or false"},
		{name: "misspelt field", stanza: "  adminKubeconfig: {copyToSshUser: true}\n",
			errPath: "spec.adminKubeconfig.copyToSshUser", errText: "did you mean copyToSSHUser?"},
		{name: "bool for the section", stanza: "  adminKubeconfig: true\n",
			errPath: "spec.adminKubeconfig", errText: "expected a mapping of fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, warns, err := Parse([]byte(minimal + tt.stanza))
			if tt.errPath != "" {
				var ps Problems
				if !errors.As(err, &ps) {
					t.Fatalf("want a problem at %s, got %v", tt.errPath, err)
				}
				for _, p := range ps {
					if p.Path == tt.errPath && strings.Contains(p.Message+" "+p.Fix, tt.errText) {
						return
					}
				}
				t.Fatalf("no problem at %s containing %q; got:\n%v", tt.errPath, tt.errText, ps)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(warns) != 0 {
				t.Errorf("warnings: %v", warns)
			}
			if got := c.Spec.AdminKubeconfig.CopyToSSHUser; got != tt.want {
				t.Errorf("copyToSSHUser = %v, want %v", got, tt.want)
			}
			Default(c)
			if got := c.Spec.AdminKubeconfig.CopyToSSHUser; got != tt.want {
				t.Errorf("Default changed copyToSSHUser to %v", got)
			}
			out, err := Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(string(out), "adminKubeconfig"); got != (tt.saved != "") {
				t.Errorf("Marshal writes adminKubeconfig: %v, want %v:\n%s", got, tt.saved != "", out)
			}
			if tt.saved != "" && !strings.Contains(string(out), tt.saved) {
				t.Errorf("Marshal does not write %q:\n%s", tt.saved, out)
			}
			again, _, err := Parse(out)
			if err != nil {
				t.Fatalf("the saved inventory does not load: %v\n%s", err, out)
			}
			if !reflect.DeepEqual(again, c) {
				t.Errorf("save then load changed the inventory:\n%s", out)
			}
		})
	}
}

func TestSSHUser(t *testing.T) {
	tests := []struct {
		name, shared string
		host         *HostSSH
		want         string
	}{
		{"none named", "", nil, ""},
		{"shared", "admin", nil, "admin"},
		{"host's own wins", "admin", &HostSSH{User: "ops"}, "ops"},
		{"host without a user", "admin", &HostSSH{Port: 2222}, "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Cluster{Spec: Spec{SSH: SSH{User: tt.shared}}}
			if got := c.SSHUser(Host{Name: "m1", SSH: tt.host}); got != tt.want {
				t.Errorf("SSHUser = %q, want %q", got, tt.want)
			}
		})
	}
}
