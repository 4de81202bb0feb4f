package events

import (
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
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
	// The end of a PEM private key block whose beginning was cut off, as in
	// the last lines of a command's stderr: the base64 lines before END.
	regexp.MustCompile(`(?m)(?:^[A-Za-z0-9+/=]+\r?\n)+-----END [A-Z ]*PRIVATE KEY-----`),
}

// wordBelow is the length (in bytes) below which a registered secret is
// masked only as a whole word; see Secrets.Add.
const wordBelow = 6

// Secrets is the set of secret values kubeha holds during a run: tokens and
// certificate keys it generated, passwords it read. It is safe for concurrent
// use; values are added as they come into being and never removed.
type Secrets struct {
	mu    sync.RWMutex
	long  []string // masked wherever they occur, longest first
	short []string // masked as whole words only, longest first
}

// Add registers secret values. Every value is registered whatever its
// length, so that a four-character sudo password is masked like a bootstrap
// token; only the empty string and values of nothing but white space are
// ignored, since masking them would hide all text and protect nothing.
//
// How a value is masked depends on its length, so that short values do not
// garble unrelated text:
//
//   - A value of 6 bytes or more is masked wherever it occurs, inside
//     other words too: a random token glued to other text is still the
//     token.
//   - A shorter value is masked only where it does not continue a word.
//     Where the value begins with a word character (a Unicode letter or
//     digit, or '_'), the character just before the match must not be one;
//     where it ends with a word character, the character just after must
//     not be one. The start and end of the text count as non-word
//     characters. So the password "hunt" is masked in "sudo: hunt
//     rejected", "pw=hunt," and "'hunt'", but not in "hunting" or
//     "manhunt"; the password "p@s!" is masked in "p@s!x" too, since it
//     ends in punctuation. A short password that is a common word ("root")
//     is then masked wherever that word stands alone: the price of choosing
//     it.
func (s *Secrets) Add(values ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range values {
		if strings.TrimSpace(v) == "" || slices.Contains(s.long, v) || slices.Contains(s.short, v) {
			continue
		}
		if len(v) >= wordBelow {
			s.long = append(s.long, v)
		} else {
			s.short = append(s.short, v)
		}
	}
	longestFirst := func(a, b string) int { return len(b) - len(a) }
	slices.SortStableFunc(s.long, longestFirst)
	slices.SortStableFunc(s.short, longestFirst)
}

// Redact returns text with every registered secret (by the rule of Add) and
// every secret-shaped pattern replaced by Mask. Longer secrets are masked
// before shorter ones, so a secret containing another is masked whole. A nil
// *Secrets still applies the patterns. Redact is the one redaction function
// of kubeha: events, the journal and everything printed on stderr pass
// through it.
func (s *Secrets) Redact(text string) string {
	if text == "" {
		return text
	}
	if s != nil {
		s.mu.RLock()
		for _, v := range s.long {
			text = strings.ReplaceAll(text, v, Mask)
		}
		for _, v := range s.short {
			text = maskWord(text, v)
		}
		s.mu.RUnlock()
	}
	text = patterns[0].ReplaceAllString(text, Mask)
	text = patterns[1].ReplaceAllString(text, "${1}"+Mask)
	text = patterns[2].ReplaceAllString(text, Mask)
	text = patterns[3].ReplaceAllString(text, Mask)
	return text
}

// maskWord replaces each occurrence of v in text that does not continue a
// word (the rule of Secrets.Add) with Mask.
func maskWord(text, v string) string {
	first, _ := utf8.DecodeRuneInString(v)
	last, _ := utf8.DecodeLastRuneInString(v)
	var b strings.Builder
	copied, from := 0, 0
	for {
		k := strings.Index(text[from:], v)
		if k < 0 {
			break
		}
		k += from
		end := k + len(v)
		before, _ := utf8.DecodeLastRuneInString(text[:k])
		after, _ := utf8.DecodeRuneInString(text[end:])
		if (!isWord(first) || k == 0 || !isWord(before)) && (!isWord(last) || end == len(text) || !isWord(after)) {
			b.WriteString(text[copied:k])
			b.WriteString(Mask)
			copied, from = end, end
			continue
		}
		_, size := utf8.DecodeRuneInString(text[k:])
		from = k + size
	}
	if copied == 0 {
		return text
	}
	b.WriteString(text[copied:])
	return b.String()
}

func isWord(r rune) bool {
	return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)
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

// RedactingWriter returns a writer that passes each Write through s.Redact
// before w sees it. Each Write is redacted on its own: a secret split
// across two Writes is not recognised, so callers write whole messages
// (one fmt.Fprintf per message, as kubeha does). kubeha's stderr is wrapped
// with it at the top, so every error and prompt printed there is redacted.
// Write reports len(p) on success, whatever length the redacted text has.
func RedactingWriter(w io.Writer, s *Secrets) io.Writer {
	return redactingWriter{w: w, s: s}
}

type redactingWriter struct {
	w io.Writer
	s *Secrets
}

func (r redactingWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(r.w, r.s.Redact(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// RedactError returns err with its text redacted by s, for an error shown
// by something that is not an event or stderr (the run view's final
// screen). Unwrap gives err back, so errors.Is and errors.As still see the
// typed errors inside; their own texts are not redacted. nil stays nil.
func (s *Secrets) RedactError(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{err: err, s: s}
}

type redactedError struct {
	err error
	s   *Secrets
}

func (e *redactedError) Error() string { return e.s.Redact(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }
