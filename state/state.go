// Package state keeps the run journal: which phases finished, when, with
// which inputs, and how each host fared. The journal is a hint for resume,
// never the truth: a phase is skipped only when the journal, its inputs hash
// and a live probe of the hosts all agree (phases.Runner decides that).
//
// The journal lives at <dir>/<cluster>/state.json, mode 0600, written by
// temp file + fsync + rename so a crash leaves the old or the new journal and
// never half of one. A lock file beside it keeps two runs apart.
//
// The journal records error text of failed phases and hosts, which can carry
// a token, a certificate key or a password. Every Save writes it through the
// run's *events.Secrets, so no secret reaches the file.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kubeha/kubeha/events"
	"github.com/kubeha/kubeha/inventory"
)

// Phase statuses recorded in the journal.
const (
	StatusRunning     = "running"
	StatusDone        = "done"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
)

// Journal is the persisted record of runs against one cluster.
type Journal struct {
	Cluster string                  `json:"cluster"`
	Updated time.Time               `json:"updated"`
	Phases  map[string]*PhaseRecord `json:"phases"`
	// Hosts is every host an apply was asked to make part of the cluster,
	// as the inventory last described it, kept until kubeha removed it
	// from the cluster: how kubeha reaches a host after the inventory
	// stopped listing it (no secret is in a host's entry).
	Hosts []inventory.Host `json:"hosts,omitempty"`
	// Etcd is the etcd the cluster was built with: nil until a phase
	// that makes etcd members first runs, and again after a reset.
	Etcd *EtcdRecord `json:"etcd,omitempty"`
}

// EtcdRecord is the etcd a cluster was built with, as the inventory said
// it when the first phase that makes etcd members (kubeadm init, the
// etcd-cluster phase) started: what kubeha cannot change afterwards.
type EtcdRecord struct {
	// Topology is spec.etcd.topology: stacked or external.
	Topology string `json:"topology"`
	// Endpoints are the client URLs of the operator's etcd
	// (spec.etcd.external.endpoints); empty for any other etcd.
	Endpoints []string `json:"endpoints,omitempty"`
	// Members are the names of the etcd hosts kubeha built the etcd on,
	// in inventory order; empty for any other etcd.
	Members []string `json:"members,omitempty"`
}

// Remember records hosts (the inventory's, which win over what the
// journal had under their names) in j.Hosts, keeping the others.
func (j *Journal) Remember(hosts []inventory.Host) {
	out := append([]inventory.Host(nil), hosts...)
	for _, h := range j.Hosts {
		if !slices.ContainsFunc(hosts, func(x inventory.Host) bool { return x.Name == h.Name }) {
			out = append(out, h)
		}
	}
	j.Hosts = out
}

// Forget removes the host named name from j.Hosts.
func (j *Journal) Forget(name string) {
	j.Hosts = slices.DeleteFunc(j.Hosts, func(h inventory.Host) bool { return h.Name == name })
}

// Former returns the hosts of j.Hosts that hosts (the inventory's) no
// longer lists.
func (j *Journal) Former(hosts []inventory.Host) []inventory.Host {
	var out []inventory.Host
	for _, h := range j.Hosts {
		if !slices.ContainsFunc(hosts, func(x inventory.Host) bool { return x.Name == h.Name }) {
			out = append(out, h)
		}
	}
	return out
}

// PhaseRecord is the last outcome of one phase.
type PhaseRecord struct {
	Status     string                 `json:"status"`
	InputsHash string                 `json:"inputsHash"`
	Started    time.Time              `json:"started"`
	Finished   time.Time              `json:"finished,omitzero"`
	Error      string                 `json:"error,omitempty"`
	Hosts      map[string]*HostRecord `json:"hosts,omitempty"`
}

// HostRecord is the last outcome of one phase on one host.
type HostRecord struct {
	Status   string    `json:"status"`
	Finished time.Time `json:"finished,omitzero"`
	Error    string    `json:"error,omitempty"`
}

// Done reports whether the journal records phase id as done with inputs
// hash h.
func (j *Journal) Done(id, h string) bool {
	r := j.Phases[id]
	return r != nil && r.Status == StatusDone && r.InputsHash == h
}

// Redacted returns a copy of j with every text that can hold a secret (the
// errors of phases and hosts) passed through secrets.Redact. A nil secrets
// still masks secret-shaped text (see events.Secrets.Redact). j itself is
// not changed.
func (j *Journal) Redacted(secrets *events.Secrets) *Journal {
	out := *j
	out.Phases = make(map[string]*PhaseRecord, len(j.Phases))
	for id, p := range j.Phases {
		if p == nil {
			out.Phases[id] = nil
			continue
		}
		pc := *p
		pc.Error = secrets.Redact(p.Error)
		if p.Hosts != nil {
			pc.Hosts = make(map[string]*HostRecord, len(p.Hosts))
			for h, r := range p.Hosts {
				if r == nil {
					pc.Hosts[h] = nil
					continue
				}
				rc := *r
				rc.Error = secrets.Redact(r.Error)
				pc.Hosts[h] = &rc
			}
		}
		out.Phases[id] = &pc
	}
	return &out
}

// Store is an open, locked journal. Only one Store per cluster directory can
// be open at a time, across processes.
type Store struct {
	path    string
	lock    *os.File
	secrets *events.Secrets
}

// ErrLocked means another kubeha run holds the cluster's lock.
var ErrLocked = errors.New("another kubeha run holds the lock")

// LockedError says who holds the lock.
type LockedError struct {
	Path string
	PID  int
}

func (e *LockedError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("%s holds %s: wait for that kubeha run to end (a lock of a process that died is released by the kernel)", who, e.Path)
}

// Unwrap makes errors.Is(err, ErrLocked) true.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Open locks and returns the store of cluster under dir, creating the
// directory (0700) when needed. The lock is an flock on <cluster>/lock, so a
// crashed run never leaves a stale lock behind. Close releases it.
//
// secrets is the run's set of secrets, the same one its events are redacted
// with; Save redacts through it, including secrets added after Open. nil
// masks only secret-shaped text, so pass the run's set.
func Open(dir, cluster string, secrets *events.Secrets) (*Store, error) {
	cdir := filepath.Join(dir, cluster)
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	lockPath := filepath.Join(cdir, "lock")
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		pid := 0
		if b, rerr := os.ReadFile(lockPath); rerr == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: lockPath, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	// The pid is only for the message above; the flock is the lock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Store{path: filepath.Join(cdir, "state.json"), lock: f, secrets: secrets}, nil
}

// Path is the journal's file path.
func (s *Store) Path() string { return s.path }

// Load returns the journal, or an empty one when none was written yet.
func (s *Store) Load(cluster string) (*Journal, error) {
	return Read(s.path, cluster)
}

// Read reads a journal without locking, for read-only commands such as
// `kubeha status` that must work while a run is going on.
func Read(path, cluster string) (*Journal, error) {
	j := &Journal{Cluster: cluster, Phases: map[string]*PhaseRecord{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal: %w", err)
	}
	if err := json.Unmarshal(data, j); err != nil {
		return nil, fmt.Errorf("journal %s is corrupt (%v): move it away to start fresh; phases re-probe the hosts either way", path, err)
	}
	if j.Phases == nil {
		j.Phases = map[string]*PhaseRecord{}
	}
	return j, nil
}

// Save writes j atomically with mode 0600, its error texts redacted with
// the store's secrets (j in memory keeps them as they were).
func (s *Store) Save(j *Journal) error {
	j.Updated = time.Now().UTC()
	data, err := json.MarshalIndent(j.Redacted(s.secrets), "", "  ")
	if err != nil {
		return fmt.Errorf("encode journal: %w", err)
	}
	return WriteFileAtomic(s.path, append(data, '\n'), 0o600)
}

// Close releases the lock. The store must not be used afterwards.
func (s *Store) Close() error {
	if s.lock == nil {
		return nil
	}
	err := s.lock.Close() // closing the descriptor releases the flock
	s.lock = nil
	return err
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory, fsyncs it, renames it into place and fsyncs the directory. A
// reader sees the old content or the new, never a mix; a crash leaves at
// most a stray temp file.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ReplaceFile writes data to path as WriteFileAtomic does, for a file the
// operator keeps (the inventory): a file already at path keeps its
// permission bits, a new one is created with mode; a symlink at path is
// followed and its target replaced, so the link stays a link. The file's
// owner becomes the user writing it, as with any rename into place.
func ReplaceFile(path string, data []byte, mode os.FileMode) error {
	target := path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		target = p
	}
	switch fi, err := os.Stat(target); {
	case err == nil:
		mode = fi.Mode().Perm()
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("write %s: %w", path, err)
	}
	return WriteFileAtomic(target, data, mode)
}
