package events

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	var s Secrets
	s.Add("s3cr3t-sudo-pass", "ab", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	tests := []struct{ name, in, mustNotContain, mustContain string }{
		{"registered value", "sudo: s3cr3t-sudo-pass rejected", "s3cr3t-sudo-pass", "sudo: *** rejected"},
		{"short values are masked as words", "ab cd", "ab", "*** cd"},
		{"certificate key registered", "--certificate-key 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "0123456789abcdef", "--certificate-key ***"},
		{"bootstrap token pattern", "kubeadm join k8s:6443 --token vrvld4.vmo52532y6129ktg \\", "vrvld4.vmo52532y6129ktg", "--token ***"},
		{"token in text", "using token 3kmc18.dhw625244cp3fbc7 now", "3kmc18.dhw625244cp3fbc7", "***"},
		{"certificate key flag", "--certificate-key=849fff7f3df059ed87d91b82f00bdba5988268f9be08f6630eb6d3185438bd7c", "849fff7f", "--certificate-key=***"},
		{"keepalived auth_pass", "    auth_pass 123456xyz", "123456xyz", "auth_pass ***"},
		{"password key", "password: hunter22", "hunter22", "password: ***"},
		{"pem block", "key:\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\nafter", "b3BlbnNzaC1rZXktdjEAAAAA", "after"},
		{"truncated pem", "tail: -----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA", "MIIEpAIBAAKCAQEA", "tail: ***"},
		{"password flag", "--password swordfish", "swordfish", "--password ***"},
		{"prose stays readable", "the bootstrap token is gone: creating a new one", "", "the bootstrap token is gone: creating a new one"},
		{"prose about the certificate key", "kubeadm-certs Secret is gone, certificate-key rotated", "", "Secret is gone, certificate-key rotated"},
		{"discovery hash is not a secret", "--discovery-token-ca-cert-hash sha256:3c0268be210a9bd736eebaf80cc6d052b7b317251b15b76b88ddaa223a5836c2", "", "sha256:3c0268be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.Redact(tt.in)
			if tt.mustNotContain != "" && strings.Contains(got, tt.mustNotContain) {
				t.Errorf("secret survived: %q", got)
			}
			if !strings.Contains(got, tt.mustContain) {
				t.Errorf("got %q, want it to contain %q", got, tt.mustContain)
			}
		})
	}
}

// TestRedactShortSecrets pins the rule of Secrets.Add for values under six
// bytes: masked where they do not continue a word, kept inside other words.
// Whole outputs are compared, so the text around a mask stays readable.
func TestRedactShortSecrets(t *testing.T) {
	tests := []struct {
		name, secret, in, want string
	}{
		{"alone", "hunt", "hunt", "***"},
		{"between spaces", "hunt", "sudo: hunt rejected", "sudo: *** rejected"},
		{"after =, before ,", "hunt", "pw=hunt, retry", "pw=***, retry"},
		{"quoted", "hunt", "password 'hunt' refused", "password '***' refused"},
		{"at line ends", "hunt", "a\nhunt\nb", "a\n***\nb"},
		{"every occurrence", "hunt", "hunt hunt", "*** ***"},
		{"inside a word is kept", "hunt", "hunting the manhunt", "hunting the manhunt"},
		{"glued to a digit is kept", "hunt", "hunt2 2hunt", "hunt2 2hunt"},
		{"glued to an underscore is kept", "hunt", "hunt_x x_hunt", "hunt_x x_hunt"},
		{"glued to a letter beyond ASCII is kept", "hunt", "éhunt huntß", "éhunt huntß"},
		{"one in a word, one alone", "hunt", "hunting: hunt", "hunting: ***"},
		{"a hyphen is no word character", "root", "root-owned file", "***-owned file"},
		{"digits", "4711", "port 4711 and 47110", "port *** and 47110"},
		{"punctuation at the end needs no boundary after it", "p@s!", "p@s!x and p@s!", "***x and ***"},
		{"punctuation at the start needs no boundary before it", "!pw", "x!pw and x!pwy", "x*** and x!pwy"},
		{"one character", "7", "7 of 17 hosts", "*** of 17 hosts"},
		{"multi-byte", "pä", "pä päd", "*** päd"},
		{"six bytes are masked inside words", "hunter", "hunters", "***s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Secrets
			s.Add(tt.secret)
			if got := s.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) with secret %q = %q, want %q", tt.in, tt.secret, got, tt.want)
			}
		})
	}
}

func TestAddIgnoresOnlyBlankValues(t *testing.T) {
	var s Secrets
	s.Add("", " ", "\t\n", "x")
	if got, want := s.Redact("a x b"), "a *** b"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := s.Redact("a  b\t"), "a  b\t"; got != want {
		t.Errorf("blank values must not be registered: got %q", got)
	}
}

func TestRedactLongBeforeShort(t *testing.T) {
	var s Secrets
	s.Add("ab", "xxabyy-longer")
	if got, want := s.Redact("xxabyy-longer ab"), "*** ***"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRedactPEMTail(t *testing.T) {
	// A tail of stderr that starts inside a key block.
	in := "kubeadm: error\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACB=\n-----END OPENSSH PRIVATE KEY-----\nexit 1"
	want := "kubeadm: error\n***\nexit 1"
	if got := (*Secrets)(nil).Redact(in); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestRedactingSink(t *testing.T) {
	var s Secrets
	var r Recorder
	sink := Redacting(&r, &s)
	s.Add("late-added-secret") // secrets added after the sink was built still count
	sink.Emit(Event{Kind: Output, Message: "x late-added-secret y", Error: "e late-added-secret", Name: "late-added-secret.txt"})
	e := r.Events()[0]
	for _, f := range []string{e.Message, e.Error, e.Name} {
		if strings.Contains(f, "late-added-secret") {
			t.Errorf("secret survived in %q", f)
		}
	}
}

func TestRedactingWriterAndError(t *testing.T) {
	var s Secrets
	var b strings.Builder
	w := RedactingWriter(&b, &s)
	s.Add("pw4x")
	msg := "kubeha: sudo password pw4x rejected\n"
	n, err := w.Write([]byte(msg))
	if err != nil || n != len(msg) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(msg))
	}
	if got, want := b.String(), "kubeha: sudo password *** rejected\n"; got != want {
		t.Errorf("writer: got %q, want %q", got, want)
	}

	inner := errors.New("k1: pw4x rejected")
	red := s.RedactError(fmt.Errorf("phase x: %w", inner))
	if got, want := red.Error(), "phase x: k1: *** rejected"; got != want {
		t.Errorf("error: got %q, want %q", got, want)
	}
	if !errors.Is(red, inner) {
		t.Error("RedactError hides the wrapped error from errors.Is")
	}
	if s.RedactError(nil) != nil {
		t.Error("RedactError(nil) is not nil")
	}
}
