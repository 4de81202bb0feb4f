package lb

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"

	yaml "go.yaml.in/yaml/v3"
)

// Static-pod manifests of the load balancer (seed 003, the kubeadm HA
// guide): the kubelet runs them before and beside the control plane, so the
// VIP is up by the time kubeadm init talks to the endpoint.
const (
	HAProxyManifestPath    = "/etc/kubernetes/manifests/kubeha-haproxy.yaml"
	KeepalivedManifestPath = "/etc/kubernetes/manifests/kubeha-keepalived.yaml"
	// haproxyPodConfig is where the pod sees haproxy.cfg: the official
	// haproxy image's own default place.
	haproxyPodConfig = "/usr/local/etc/haproxy/haproxy.cfg"
)

// StaticPod is one load-balancer manifest.
type StaticPod struct {
	Name    string   // pod and container name
	Image   string   // any image with Command[0] on its PATH
	Command []string // the whole command line: images' entrypoints differ
	Mounts  []Mount  // host files, read-only
	// Capabilities added to the container (keepalived needs the VIP's
	// network powers); none means the image's defaults.
	Capabilities []string
	// ConfigHash changes the manifest whenever a mounted file changes: the
	// kubelet restarts a static pod only when its manifest changes.
	ConfigHash string
}

// Mount is a host file the pod reads.
type Mount struct {
	HostPath, PodPath string
}

// Render is the manifest, a v1 Pod on the host network in kube-system.
func (p StaticPod) Render() ([]byte, error) {
	var mounts, volumes []map[string]any
	for i, m := range p.Mounts {
		name := "file" + string(rune('0'+i))
		mounts = append(mounts, map[string]any{"name": name, "mountPath": m.PodPath, "readOnly": true})
		volumes = append(volumes, map[string]any{"name": name, "hostPath": map[string]any{"path": m.HostPath, "type": "File"}})
	}
	// Root, so haproxy reads its 0600 config (it holds the stats password).
	sc := map[string]any{"runAsUser": 0}
	if len(p.Capabilities) > 0 {
		sc["capabilities"] = map[string]any{"add": p.Capabilities}
	}
	pod := map[string]any{
		"apiVersion": "v1",
		"kind":       "Pod",
		"metadata": map[string]any{
			"name":        p.Name,
			"namespace":   "kube-system",
			"labels":      map[string]any{"app.kubernetes.io/managed-by": "kubeha", "component": p.Name},
			"annotations": map[string]any{"kubeha.io/config-hash": p.ConfigHash},
		},
		"spec": map[string]any{
			"hostNetwork":       true,
			"priorityClassName": "system-node-critical",
			"containers": []map[string]any{{
				"name":            p.Name,
				"image":           p.Image,
				"imagePullPolicy": "IfNotPresent",
				"command":         p.Command,
				"securityContext": sc,
				"volumeMounts":    mounts,
			}},
			"volumes": volumes,
		},
	}
	var b bytes.Buffer
	b.WriteString("# Managed by kubeha (keepalived-haproxy, static pods); changes are overwritten by `kubeha apply`.\n")
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(pod); err != nil {
		return nil, err
	}
	return b.Bytes(), enc.Close()
}

// configHash is the hex sha256 of the files a pod mounts, in order.
func configHash(files ...[]byte) string {
	h := sha256.New()
	for _, f := range files {
		s := sha256.Sum256(f)
		h.Write(s[:])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// staticPods are haproxy's and keepalived's manifests for one host, given
// the rendered files they mount.
func staticPods(haproxyImage, keepalivedImage string, haproxyCfg, keepalivedCfg, checkScript []byte) (haproxy, keepalived StaticPod) {
	haproxy = StaticPod{
		Name: "kubeha-haproxy", Image: haproxyImage,
		Command:    []string{"haproxy", "-W", "-db", "-f", haproxyPodConfig},
		Mounts:     []Mount{{HAProxyConfigPath, haproxyPodConfig}},
		ConfigHash: configHash(haproxyCfg),
	}
	keepalived = StaticPod{
		Name: "kubeha-keepalived", Image: keepalivedImage,
		Command: []string{"keepalived", "--dont-fork", "--log-console", "--use-file=" + KeepalivedConfigPath},
		Mounts:  []Mount{{KeepalivedConfigPath, KeepalivedConfigPath}, {CheckScriptPath, CheckScriptPath}},
		// SYS_NICE: keepalived.conf's vrrp_priority.
		Capabilities: []string{"NET_ADMIN", "NET_BROADCAST", "NET_RAW", "SYS_NICE"},
		ConfigHash:   configHash(keepalivedCfg, checkScript),
	}
	return haproxy, keepalived
}
