package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestRewriteCreate(t *testing.T) {
	dir := t.TempDir()
	spec := `{"ociVersion":"1.0.2","process":{"oomScoreAdj":-998,"capabilities":{"bounding":["CAP_CHOWN","CAP_SYS_RESOURCE"],"effective":["CAP_SYS_RESOURCE"]},"args":["/pause"]},"root":{"path":"rootfs"}}`
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(spec), 0o600)
	if err := rewrite([]string{"--root", "/run/x", "--log", "l", "create", "--bundle", dir, "--pid-file", "p", "id1"}); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OCIVersion string `json:"ociVersion"`
		Process    struct {
			OOM  int                 `json:"oomScoreAdj"`
			Caps map[string][]string `json:"capabilities"`
			Args []string            `json:"args"`
		} `json:"process"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, "config.json"))
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Process.OOM != 0 || len(doc.Process.Caps["bounding"]) != 1 || len(doc.Process.Caps["effective"]) != 0 || doc.Process.Args[0] != "/pause" || doc.OCIVersion != "1.0.2" {
		t.Fatalf("rewritten spec: %s", data)
	}
}

func TestRewriteExecProcess(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "process.json")
	os.WriteFile(p, []byte(`{"capabilities":{"bounding":["CAP_SYS_RESOURCE","CAP_KILL"]},"args":["sh"]}`), 0o600)
	if err := rewrite([]string{"exec", "--process", p, "id1"}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(p)
	if string(data) != `{"args":["sh"],"capabilities":{"bounding":["CAP_KILL"]}}` {
		t.Fatalf("got %s", data)
	}
}

func TestOtherCommandsUntouched(t *testing.T) {
	if err := rewrite([]string{"state", "id1"}); err != nil {
		t.Fatal(err)
	}
}
