package conformance

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
)

// The layer's tar has every entry as the specs need it: nnp setuid and
// setgid root, /tmp sticky and writable by all, symlinks kept, directories
// 0755 whatever the umask, the base's /etc/passwd with the lines added,
// all owned by root with a fixed time; and the same files make the same
// bytes, so docker's build cache holds.
func TestLayerTar(t *testing.T) {
	dir := t.TempDir()
	nnp := filepath.Join(dir, "nnp")
	if err := os.WriteFile(nnp, []byte("\x7fELF"), 0o700); err != nil {
		t.Fatal(err)
	}
	l := layer{
		files: []layerFile{
			{dir: "usr/local/bin"},
			{src: nnp, dst: "usr/local/bin/nnp", mode: 0o755 | os.ModeSetuid | os.ModeSetgid},
			{dir: "tmp", mode: os.ModeSticky | 0o777},
			{link: "agnhost", dst: "agnhost-2"},
			{text: "2.55\n", dst: "VERSION", mode: 0o644},
		},
		appendFiles: map[string]string{"etc/passwd": "user:x:1000:1000::/home/user:/bin/sh\n"},
	}
	base := func(rel string) (string, error) {
		if rel != "etc/passwd" {
			return "", errors.New("no " + rel)
		}
		return "root:x:0:0:root:/root:/bin/sh", nil
	}
	// A umask that would take every bit the specs need.
	defer syscall.Umask(syscall.Umask(0o077))
	type entry struct {
		Mode       int64
		Type       byte
		Link, Body string
		UID, GID   int
		ModTime    int64
	}
	read := func(path string) map[string]entry {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		got := map[string]entry{}
		tr := tar.NewReader(f)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(tr)
			got[h.Name] = entry{h.Mode, h.Typeflag, h.Linkname, string(body), h.Uid, h.Gid, h.ModTime.Unix()}
		}
		return got
	}
	first, second := filepath.Join(dir, "1", "layer.tar"), filepath.Join(dir, "2", "layer.tar")
	for _, p := range []string{first, second} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := l.writeTar(context.Background(), p, base); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]entry{
		"./":                  {Mode: 0o755, Type: tar.TypeDir},
		"./VERSION":           {Mode: 0o644, Type: tar.TypeReg, Body: "2.55\n"},
		"./agnhost-2":         {Mode: 0o777, Type: tar.TypeSymlink, Link: "agnhost"},
		"./etc/":              {Mode: 0o755, Type: tar.TypeDir},
		"./etc/passwd":        {Mode: 0o644, Type: tar.TypeReg, Body: "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"},
		"./tmp/":              {Mode: 0o1777, Type: tar.TypeDir},
		"./usr/":              {Mode: 0o755, Type: tar.TypeDir},
		"./usr/local/":        {Mode: 0o755, Type: tar.TypeDir},
		"./usr/local/bin/":    {Mode: 0o755, Type: tar.TypeDir},
		"./usr/local/bin/nnp": {Mode: 0o6755, Type: tar.TypeReg, Body: "\x7fELF"},
	}
	got := read(first)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("layer.tar:\ngot  %+v\nwant %+v", got, want)
	}
	a, _ := os.ReadFile(first)
	b, _ := os.ReadFile(second)
	if string(a) != string(b) {
		t.Error("the same files made two different layers")
	}
}
