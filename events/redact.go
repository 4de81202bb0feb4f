package events

import (
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Mask replaces every secret kubeha knows of in any output.
const Mask = "***"

// patterns catch secrets that kubeha did not generate itself and so could
// not register: what kubeadm prints, PEM private keys, and flags whose value
// is a secret by name.
var patterns = []*regexp.Regexp{
	// Bootstrap tokens: [a-z0-9]{6}.[a-z0-9]{16} (kubeadm's own format).
	regexp.MustCompile(`\b[a-z0-9]{6}\.[a-z0-9]{16}\b`),
	// Values of flags and keys that carry secrets: "--token X", "token: X",
	// "password=X", keepalived's "auth_pass X". A bare word after a space
	// is not taken for a value, so prose ("the bootstrap token is gone")
	// stays readable.
	regexp.MustCompile(`(?i)((?:--(?:token|certificate-key|password|passwd|secret)[= ]+|auth_pass\s+|(?:token|certificate-key|certificateKey|password|passwd|secret)\s*[=:]\s*)"?)([^\s"]+)`),
	// PEM private key blocks, whole or a first line in a tail of stderr.
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`),
}

// Secrets is the set of secret values kubeha holds during a run: tokens and
// certificate keys it generated, passwords it read. It is safe for concurrent
// use; values are added as they come into being and never removed.
type Secrets struct {
	mu     sync.RWMutex
	values []string // longest first, so a secret containing another is masked whole
}

// Add registers secret values. Values shorter than 6 characters are not
// registered: masking "root" or "22" everywhere would garble output while
// protecting nothing.
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if len(v) >= 6 && !slices.Contains(s.values, v) {
			s.values = append(s.values, v)
		}
	}
	sort.Slice(s.values, func(i, j int) bool { return len(s.values[i]) > len(s.values[j]) })
}

// Redact returns text with every registered secret and every secret-shaped
// pattern replaced by Mask. A nil *Secrets still applies the patterns.
func (s *Secrets) Redact(text string) string {
	if text == "" {
		return text
	}
	if s != nil {
		s.mu.RLock()
		for _, v := range s.values {
			text = strings.ReplaceAll(text, v, Mask)
		}
		s.mu.RUnlock()
	}
	text = patterns[0].ReplaceAllString(text, Mask)
	text = patterns[1].ReplaceAllString(text, "${1}"+Mask)
	text = patterns[2].ReplaceAllString(text, Mask)
	return text
}

// Redacting wraps a sink so that every text field of every event is redacted
// before the sink sees it. kubeha wraps its one event stream with this at the
// top, so no library code has to remember to.
func Redacting(next Sink, s *Secrets) Sink {
	return SinkFunc(func(e Event) {
		e.Message = s.Redact(e.Message)
		e.Error = s.Redact(e.Error)
		e.Name = s.Redact(e.Name)
		next.Emit(e)
	})
}
