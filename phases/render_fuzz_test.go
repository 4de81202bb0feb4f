package phases

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	yaml "go.yaml.in/yaml/v3"

	"github.com/kubeha/kubeha/inventory"
	"github.com/kubeha/kubeha/lb"
)

// FuzzRenderedFiles feeds inventory YAML through inventory.Parse (Load's
// strict decoding, Default, Validate) and, for every inventory accepted,
// renders each file `kubeha render` writes (RenderAll over the Registry,
// with fixed Pod CIDRs). Every file must have exactly the line
// structure its template gives an inventory of that shape: it is compared
// with the same inventory rendered with each value replaced by a plain
// stand-in of the same shape (plainer.cluster). Each stand-in in the plain
// file is a slot that the real value, as written or quoted by YAML, must
// fill exactly; everything else must be the same text, line for line. And
// every value must be one atom of every config language involved (no
// whitespace, quotes, ';', '{', '#', '%', ...), so that it cannot add a
// word to its own line either. A value that adds a line changes the line
// count; one that adds a word is not an atom.
//
// `go test` runs the seeds (and any testdata/fuzz corpus) and then also
// checks each accepted seed's configs with the real programs: haproxy -c,
// keepalived -t, nginx -t, sh -n. `make fuzz` runs it with -fuzz, where
// only the structure is checked: the programs are too slow per exec.
//
// An input is inventory YAML, and optionally a field (1 to 255: which one,
// and on which host) and a value for it: the value is set on the parsed
// inventory, which goes back to YAML (inventory.Marshal) and through Parse
// again. Mutations of the value then reach Validate and the templates
// through the YAML decoder, as a hand-written value would, instead of mostly
// breaking the YAML around it.
func FuzzRenderedFiles(f *testing.F) {
	for _, s := range renderSeeds(f) {
		f.Add(s.data, s.field, s.value)
	}
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	f.Cleanup(removeNetns)
	f.Fuzz(func(t *testing.T, data []byte, field uint8, value string) {
		c, _, err := inventory.Parse(data)
		if err != nil {
			return // refused; the forms are inventory's tests' business
		}
		if field != 0 {
			setField(c, field, value)
			y, err := inventory.Marshal(c)
			if err != nil {
				return
			}
			if c, _, err = inventory.Parse(y); err != nil {
				return
			}
		}
		if len(c.Spec.Hosts) > maxFuzzHosts {
			return // more than the stand-ins can name apart
		}
		files, err := renderForFuzz(c)
		p := newPlainer()
		pc := p.cluster(c)
		if ps := inventory.Validate(pc).Errors(); len(ps) > 0 {
			t.Fatalf("the plain stand-in of an accepted inventory is refused (fix plainer.cluster): %v", ps)
		}
		plainFiles, plainErr := renderForFuzz(pc)
		if (err == nil) != (plainErr == nil) {
			t.Fatalf("render: %v; plain stand-in: %v", err, plainErr)
		}
		if err != nil {
			return
		}
		if msg := p.sameStructure(files, plainFiles); msg != "" {
			y, _ := inventory.Marshal(c)
			t.Fatalf("%s\n--- inventory (field %d set to %q):\n%s", msg, field, value, y)
		}
		if !fuzzing {
			checkWithRealPrograms(t, files)
		}
	})
}

// maxFuzzHosts bounds the inventories the fuzz target checks: stand-in
// addresses are 198.51.100.101 to .254, two per host and a few more.
const maxFuzzHosts = 50

// renderForFuzz is what `kubeha render` writes, with fixed Pod CIDRs
// standing in for the ones the controller-manager allocates as the nodes
// join (the routes file and the bridge conflist hold them), and the test
// manifest for the operator's CNI manifest.
func renderForFuzz(c *inventory.Cluster) ([]HostFile, error) {
	c = withTestCNIManifest(c)
	cidrs := map[string]string{}
	for i, n := range nodes(c) {
		cidrs[n.Name] = fmt.Sprintf("10.250.%d.0/24", i)
	}
	return RenderAll(context.Background(), Registry(), OfflineView{C: c, CIDRs: cidrs})
}

// withTestCNIManifest is c, or for a manifest CNI a copy of c whose
// manifest is testdata/cni-manifest.yaml: kubeha render reads the
// operator's manifest as apply does, and an example's path to it is
// relative to where the operator runs kubeha, with no file in this
// repository.
func withTestCNIManifest(c *inventory.Cluster) *inventory.Cluster {
	if c.Spec.CNI.Plugin != inventory.CNIManifest {
		return c
	}
	cc := *c
	cc.Spec.CNI.Manifest = filepath.Join("testdata", "cni-manifest.yaml")
	return &cc
}

// plainer replaces inventory values by plain stand-ins of the same shape:
// equal values by equal stand-ins, different ones by different ones, so an
// inventory keeps its shape (an internalAddress equal to its address stays
// equal) and stays valid. Stand-ins have fixed widths (none is a prefix of
// another) and forms no template holds: xqNNN, xqNNN.example,
// 198.51.100.NNN, 2001:db8::1:NNN, and fixed CIDRs.
type plainer struct {
	toPlain map[string]string
	toReal  map[string]string
	// n counts the stand-ins made of each kind.
	n map[string]int
}

func newPlainer() *plainer {
	return &plainer{toPlain: map[string]string{}, toReal: map[string]string{}, n: map[string]int{}}
}

// of returns real's stand-in, made by mk from the next number (101, 102,
// ...) of its kind on first sight.
func (p *plainer) of(real, kind string, mk func(n int) string) string {
	if real == "" {
		return ""
	}
	if s, ok := p.toPlain[real]; ok {
		return s
	}
	p.n[kind]++
	s := mk(100 + p.n[kind])
	p.toPlain[real], p.toReal[s] = s, real
	return s
}

// name is the stand-in of a name, interface, DNS name or image reference.
func (p *plainer) name(real string) string {
	return p.of(real, "name", func(n int) string {
		if strings.Contains(real, ".") {
			return fmt.Sprintf("xq%d.example", n)
		}
		return fmt.Sprintf("xq%d", n)
	})
}

// addr is the stand-in of an address field: an IP of the same family, or a
// name.
func (p *plainer) addr(real string) string {
	a, err := netip.ParseAddr(real)
	if err != nil {
		return p.name(real)
	}
	return p.of(real, "ip", func(n int) string {
		if a.Is4() {
			return fmt.Sprintf("198.51.100.%d", n)
		}
		return fmt.Sprintf("2001:db8::1:%d", n)
	})
}

// cidr is the stand-in of the pod (i=0) or service (i=1) subnet.
func (p *plainer) cidr(real string, i int) string {
	v4 := []string{"100.64.0.0/16", "100.65.0.0/16"}
	v6 := []string{"fd00:64::/64", "fd00:65::/112"}
	return p.of(real, "cidr", func(int) string {
		if strings.Contains(real, ":") {
			return v6[i]
		}
		return v4[i]
	})
}

// cluster returns a copy of c with every value that reaches a rendered
// file replaced by its stand-in.
func (p *plainer) cluster(c *inventory.Cluster) *inventory.Cluster {
	out := *c
	s := &out.Spec
	out.Metadata.Name = p.name(c.Metadata.Name)
	s.Hosts = slices.Clone(c.Spec.Hosts)
	for i := range s.Hosts {
		h := &s.Hosts[i]
		h.Name = p.name(h.Name)
		h.Address = p.addr(h.Address)
		h.InternalAddress = p.addr(h.InternalAddress)
	}
	s.ControlPlaneEndpoint.Name = p.name(s.ControlPlaneEndpoint.Name)
	lbs := &s.LoadBalancer
	lbs.VIP = p.addr(lbs.VIP)
	lbs.Address = p.addr(lbs.Address)
	lbs.Interface = p.name(lbs.Interface)
	if im := lbs.Images; im != nil {
		lbs.Images = &inventory.LBImages{HAProxy: p.name(im.HAProxy), Keepalived: p.name(im.Keepalived), KubeVIP: p.name(im.KubeVIP)}
	}
	n := &s.Network
	n.PodSubnet = p.cidr(n.PodSubnet, 0)
	n.ServiceSubnet = p.cidr(n.ServiceSubnet, 1)
	n.PodRoutes.Interface = p.name(n.PodRoutes.Interface)
	n.PodRoutes.Gateway = p.addr(n.PodRoutes.Gateway)
	return &out
}

// atomRE is what a value may be made of to be a single word in haproxy,
// keepalived, nginx, /etc/hosts, the routes file, YAML and sh alike.
var atomRE = regexp.MustCompile(`^[A-Za-z0-9._:/@+-]+$`)

// configHashRE is the one derived value in rendered files: a hash of the
// mounted files' content, which differs with the values.
var configHashRE = regexp.MustCompile(`(kubeha\.io/config-hash: )[0-9a-f]{16}\b`)

// sameStructure compares the real files with the plain ones and returns
// what differs, or "".
func (p *plainer) sameStructure(real, plain []HostFile) string {
	if len(real) != len(plain) {
		return fmt.Sprintf("%d files, the plain stand-in renders %d", len(real), len(plain))
	}
	tokens := make([]string, 0, len(p.toReal))
	for s := range p.toReal {
		tokens = append(tokens, regexp.QuoteMeta(s))
	}
	sort.Slice(tokens, func(i, j int) bool { return len(tokens[i]) > len(tokens[j]) })
	tokenRE := regexp.MustCompile(strings.Join(tokens, "|"))
	if len(tokens) == 0 {
		tokenRE = regexp.MustCompile(`$^`)
	}
	byKey := map[string]HostFile{}
	for _, f := range plain {
		byKey[f.Host+f.Path] = f
	}
	for _, f := range real {
		pf, ok := byKey[p.toPlain[f.Host]+f.Path]
		if !ok {
			return fmt.Sprintf("%s %s has no counterpart in the plain stand-in", strconv.Quote(f.Host), f.Path)
		}
		if f.Mode != pf.Mode {
			return fmt.Sprintf("%s %s: mode %v, plain %v", f.Host, f.Path, f.Mode, pf.Mode)
		}
		rl := strings.Split(configHashRE.ReplaceAllString(string(f.Content), "${1}HASH"), "\n")
		pl := strings.Split(configHashRE.ReplaceAllString(string(pf.Content), "${1}HASH"), "\n")
		if len(rl) != len(pl) {
			return fmt.Sprintf("%s %s: %d lines, its template gives %d for this shape:\n%s", f.Host, f.Path, len(rl), len(pl), f.Content)
		}
		slots := make([][]segment, len(pl))
		for i, l := range pl {
			slots[i] = p.segments(l, tokenRE)
		}
		// The routes file is sorted by its lines' values, so its lines may
		// come in another order; each must still fill a distinct line.
		if f.Path == RoutesPath {
			used := make([]bool, len(pl))
		lines:
			for _, l := range rl {
				for j := range pl {
					if !used[j] && matches(l, slots[j]) {
						used[j] = true
						continue lines
					}
				}
				return fmt.Sprintf("%s %s: line %q fills no line of the template:\n%s", f.Host, f.Path, l, pf.Content)
			}
			continue
		}
		for i := range rl {
			if !matches(rl[i], slots[i]) {
				return fmt.Sprintf("%s %s line %d: %q does not fill the template's %q", f.Host, f.Path, i+1, rl[i], pl[i])
			}
		}
	}
	for v := range p.toPlain {
		if !atomRE.MatchString(v) {
			return fmt.Sprintf("value %q is not one atom of a config line", v)
		}
	}
	return ""
}

// segment is literal template text, or a slot for a real value.
type segment struct {
	lit  string
	slot bool
}

// segments cuts a plain line into literal text and slots at its stand-ins;
// a slot holds the real value it stands for.
func (p *plainer) segments(line string, tokenRE *regexp.Regexp) []segment {
	var out []segment
	last := 0
	for _, m := range tokenRE.FindAllStringIndex(line, -1) {
		out = append(out, segment{lit: line[last:m[0]]}, segment{lit: p.toReal[line[m[0]:m[1]]], slot: true})
		last = m[1]
	}
	return append(out, segment{lit: line[last:]})
}

// matches reports whether s is the segments with each slot filled by its
// real value, bare or in YAML's quotes.
func matches(s string, segs []segment) bool {
	if len(segs) == 0 {
		return s == ""
	}
	g := segs[0]
	if !g.slot {
		return strings.HasPrefix(s, g.lit) && matches(s[len(g.lit):], segs[1:])
	}
	for _, v := range []string{g.lit, `"` + g.lit + `"`, `'` + g.lit + `'`} {
		if strings.HasPrefix(s, v) && matches(s[len(v):], segs[1:]) {
			return true
		}
	}
	return false
}

// Fields setField sets; a field number is which*1 + host*fieldCount.
const (
	fieldName = iota + 1
	fieldHostName
	fieldAddress
	fieldInternalAddress
	fieldEndpointName
	fieldVIP
	fieldInterface
	fieldSLBAddress
	fieldMode
	fieldHAProxyImage
	fieldKeepalivedImage
	fieldPodSubnet
	fieldServiceSubnet
	fieldRoutesInterface
	fieldGateway
	fieldRole
	fieldKubeVIPImage
	fieldCNIPort
	fieldCount
)

// setField sets the field numbered field (fieldName...; host fields on
// host field/fieldCount) to value. Fields that need a mode or a switch to
// be rendered turn it on.
func setField(c *inventory.Cluster, field uint8, value string) {
	s := &c.Spec
	h := &s.Hosts[int(field)/fieldCount%len(s.Hosts)]
	switch int(field) % fieldCount {
	case fieldName:
		c.Metadata.Name = value
	case fieldHostName:
		h.Name = value
	case fieldAddress:
		h.Address = value
	case fieldInternalAddress:
		h.InternalAddress = value
	case fieldEndpointName:
		s.ControlPlaneEndpoint.Name = value
	case fieldVIP:
		s.LoadBalancer.VIP = value
	case fieldInterface:
		s.LoadBalancer.Interface = value
	case fieldSLBAddress:
		s.LoadBalancer = inventory.LoadBalancer{Mode: inventory.ModeExternal, Address: value}
		s.ControlPlaneEndpoint.Port = inventory.APIServerPort
	case fieldMode:
		s.LoadBalancer.Mode = value
	case fieldHAProxyImage, fieldKeepalivedImage:
		s.LoadBalancer.StaticPods = true
		s.LoadBalancer.Placement = inventory.PlacementMasters
		if s.LoadBalancer.Images == nil {
			s.LoadBalancer.Images = &inventory.LBImages{}
		}
		if int(field)%fieldCount == fieldHAProxyImage {
			s.LoadBalancer.Images.HAProxy = value
		} else {
			s.LoadBalancer.Images.Keepalived = value
		}
	case fieldKubeVIPImage:
		s.LoadBalancer.Mode = inventory.ModeKubeVIP
		s.ControlPlaneEndpoint.Port = inventory.APIServerPort
		if s.LoadBalancer.Images == nil {
			s.LoadBalancer.Images = &inventory.LBImages{}
		}
		s.LoadBalancer.Images.KubeVIP = value
	case fieldPodSubnet:
		s.Network.PodSubnet = value
	case fieldServiceSubnet:
		s.Network.ServiceSubnet = value
	case fieldRoutesInterface:
		s.Network.PodRoutes.Enabled, s.Network.PodRoutes.Interface = true, value
	case fieldGateway:
		s.Network.PodRoutes.Enabled, s.Network.PodRoutes.Gateway = true, value
	case fieldRole:
		h.Role = value
	case fieldCNIPort:
		// A CNI port reaches no rendered file, only host-prep's firewalld
		// script (TestScripts holds it to its structure); it is tried
		// here so that a value its form let through would still meet
		// every file's check.
		s.CNI.Plugin = inventory.CNIManifest
		if s.CNI.Manifest == "" {
			s.CNI.Manifest = "kube-flannel.yml"
		}
		s.CNI.Ports = append(s.CNI.Ports, value)
	}
}

// renderSeed is one seed input of FuzzRenderedFiles.
type renderSeed struct {
	data  []byte
	field uint8
	value string
}

// renderSeeds are the examples, the default example, and the payloads of
// the security review (issue 14) and their relatives, both written into
// the YAML and set as a field's value: each payload must be refused, and
// would fail the structure check if it were not.
func renderSeeds(f *testing.F) []renderSeed {
	var seeds []renderSeed
	examples, _ := filepath.Glob("../examples/*.yaml")
	if len(examples) < 6 {
		f.Fatalf("examples: %d", len(examples))
	}
	for _, ex := range examples {
		b, err := os.ReadFile(ex)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, renderSeed{data: b})
	}
	seeds = append(seeds, renderSeed{data: inventory.Example})
	const base = `apiVersion: kubeha.io/v1alpha1
kind: Cluster
metadata: {name: prod}
spec:
  hosts:
  - {name: k1, address: 10.0.0.11, role: master}
  - {name: k2, address: 10.0.0.12, role: master}
  - {name: k3, address: 10.0.0.13, role: master}
  - {name: w1, address: w1.example.com, internalAddress: 10.0.0.21, role: worker}
  controlPlaneEndpoint: {name: api.prod.example.com, port: 16443}
  loadBalancer:
    vip: 10.0.0.20
    interface: eth0
  network:
    podRoutes: {enabled: true, interface: eth1, gateway: 10.0.0.1}
`
	with := func(old, new string) []byte {
		if !strings.Contains(base, old) {
			f.Fatalf("seed: %q not in base", old)
		}
		return []byte(strings.Replace(base, old, new, 1))
	}
	for _, b := range [][]byte{
		[]byte(base),
		with("vip: 10.0.0.20", `vip: "::ffff:10.0.0.20%x\n    }\n    notify_master \"/usr/bin/touch pwned\"\n    virtual_ipaddress {\n        10.0.0.20"`),
		with("vip: 10.0.0.20", `vip: "fe80::20%eth0"`),
		with("vip: 10.0.0.20", `vip: "::ffff:10.0.0.20"`),
		with("gateway: 10.0.0.1", `gateway: "fe80::1%x\n0.0.0.0/0 via 10.0.0.66"`),
		with("interface: eth0", `interface: "eth0\n    notify_master \"/usr/bin/touch pwned\""`),
		with("interface: eth1", `interface: "eth1\n0.0.0.0/0 via 10.0.0.66"`),
		with("{name: api.prod.example.com", `{name: "api\n10.0.0.66 evil.example.com"`),
		with("{name: k2,", `{name: "k2\n    server evil 10.0.0.66:6443",`),
		with("address: 10.0.0.12,", `address: "fe80::12%eth0\n    server evil 10.0.0.66:6443",`),
		with("internalAddress: 10.0.0.21", `internalAddress: "fe80::21%x\n10.0.0.66 api.prod.example.com"`),
		with("    interface: eth0\n", "    interface: eth0\n    staticPods: true\n    images: {haproxy: \"haproxy:2.8\\n    command: [sh, -c, id]\"}\n"),
		with("  network:\n", "  kubeadm:\n    kubeletExtraArgs: {node-labels: \"a=b --config=/tmp/evil.yaml\"}\n  network:\n"),
		with("  loadBalancer:\n    vip: 10.0.0.20\n    interface: eth0\n", "  loadBalancer: {mode: external, address: slb.example.com}\n"),
		with("  loadBalancer:\n    vip: 10.0.0.20\n    interface: eth0\n", `  loadBalancer: {mode: external, address: "fe80::1%x\n10.0.0.66 evil"}`+"\n"),
		// Accepted shapes the examples lack: an SLB, the local proxy
		// with haproxy, an IPv6 internal address, calico's ports; then
		// a port with a command after it, refused.
		with("  loadBalancer:\n    vip: 10.0.0.20\n    interface: eth0\n", "  loadBalancer: {mode: external, address: 10.0.0.30}\n"),
		with("  loadBalancer:\n    vip: 10.0.0.20\n    interface: eth0\n", "  loadBalancer: {mode: local-proxy, proxy: haproxy}\n"),
		with("internalAddress: 10.0.0.21", "internalAddress: fd00::21"),
		with("  network:\n", "  cni: {plugin: manifest, manifest: kube-flannel.yml, ports: [4789/udp, 179/tcp]}\n  network:\n"),
		with("  network:\n", "  cni: {plugin: manifest, manifest: kube-flannel.yml, ports: [\"8472/udp; reboot\"]}\n  network:\n"),
	} {
		seeds = append(seeds, renderSeed{data: b})
	}
	// The same payloads as values of fields, on the base inventory.
	const vipPayload = "::ffff:10.0.0.20%x\n    }\n    notify_master \"/usr/bin/touch pwned\"\n    virtual_ipaddress {\n        10.0.0.20"
	for _, v := range []struct {
		field uint8
		value string
	}{
		{fieldVIP, vipPayload},
		{fieldVIP, "fe80::20%eth0"},
		{fieldGateway, "fe80::1%x\n0.0.0.0/0 via 10.0.0.66"},
		{fieldSLBAddress, "slb.example.com"},
		{fieldSLBAddress, "fe80::1%x\n10.0.0.66 evil"},
		{fieldInterface, "eth0\n    notify_master /usr/bin/id"},
		{fieldInterface, "eth0 x"},
		{fieldRoutesInterface, "eth1\n0.0.0.0/0 via 10.0.0.66"},
		{fieldEndpointName, "api\n10.0.0.66 evil.example.com"},
		{fieldHostName + fieldCount, "k2\n    server evil 10.0.0.66:6443"},
		{fieldAddress + 2*fieldCount, "fe80::13%eth0"},
		{fieldInternalAddress + 3*fieldCount, "fe80::21%x\n10.0.0.66 evil"},
		{fieldHAProxyImage, "haproxy:2.8\n    command: [sh, -c, id]"},
		{fieldKeepalivedImage, "osixia/keepalived:2.0.20'; touch /pwned; '"},
		{fieldKubeVIPImage, "ghcr.io/kube-vip/kube-vip:v1.2.3\n      command: [sh, -c, id]"},
		{fieldPodSubnet, "10.244.0.0/16\n0.0.0.0/0 via 10.0.0.66"},
		{fieldName, "prod\nx"},
		{fieldCNIPort, "8472/udp;reboot"},
		{fieldCNIPort, "8472/udp\n    server evil 10.0.0.66:6443"},
		{fieldCNIPort, "$(reboot)/udp"},
		// Accepted values the other seeds lack.
		{fieldVIP, "10.0.0.99"},
		{fieldHAProxyImage, "registry.local:5000/lb/haproxy:2.8-alpine"},
		{fieldGateway, "fd00::1"},
		{fieldMode, inventory.ModeLocalProxy},
		{fieldKubeVIPImage, "registry.local:5000/kube-vip/kube-vip:v1.2.3"},
		{fieldCNIPort, "30000-30100/udp"},
	} {
		seeds = append(seeds, renderSeed{data: []byte(base), field: v.field, value: v.value})
	}
	return seeds
}

// checkWithRealPrograms runs each rendered config through the program
// that reads it, where the program is installed (in CI it must be).
func checkWithRealPrograms(t *testing.T, files []HostFile) {
	for _, tool := range []string{"haproxy", "keepalived", "nginx", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s missing in CI (apt-get install haproxy keepalived nginx-light iproute2)", tool)
			}
			t.Logf("%s not installed: rendered configs not checked with the real programs", tool)
			return
		}
	}
	for _, f := range files {
		dir := t.TempDir()
		p := filepath.Join(dir, filepath.Base(f.Path))
		content := f.Content
		if f.Path == lb.KeepalivedConfigPath {
			// The track script must be a real executable file, as on a host.
			script := filepath.Join(dir, "check_apiserver.sh")
			os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755)
			content = bytes.ReplaceAll(content, []byte(lb.CheckScriptPath), []byte(script))
		}
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		var cmd *exec.Cmd
		switch f.Path {
		case lb.HAProxyConfigPath:
			cmd = exec.Command("haproxy", "-c", "-f", p)
		case lb.KeepalivedConfigPath:
			cmd = exec.Command("ip", "netns", "exec", keepalivedNetns(t), "keepalived", "-t", "-f", p, "-n", "-l", "-D")
		case lb.NginxConfigPath:
			cmd = exec.Command("nginx", "-t", "-c", p, "-p", dir, "-e", "stderr")
		case lb.CheckScriptPath:
			cmd = exec.Command("sh", "-n", p)
		case BridgeConfPath:
			if !json.Valid(content) {
				t.Errorf("%s %s: not JSON:\n%s", f.Host, f.Path, content)
			}
			continue
		case lb.HAProxyManifestPath, lb.KeepalivedManifestPath, lb.KubeVIPManifestPath:
			var pod map[string]any
			if err := yaml.Unmarshal(content, &pod); err != nil || pod["kind"] != "Pod" {
				t.Errorf("%s %s: not a Pod manifest: %v\n%s", f.Host, f.Path, err, content)
			}
			continue
		default:
			continue // no program reads it alone; the structure check covers it
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s %s rejected by %s: %v\n%s\n--- file:\n%s", f.Host, f.Path, cmd.Args[0], err, out, content)
		}
		if f.Path == lb.KeepalivedConfigPath && bytes.Contains(out, []byte("WARNING")) {
			t.Errorf("%s %s: keepalived warns:\n%s", f.Host, f.Path, out)
		}
	}
}

var (
	netnsOnce sync.Once
	netnsName string
	netnsErr  error
)

// keepalivedNetns is a network namespace with eth0 and eth1 (a veth pair:
// this kernel has no dummy links), because keepalived -t checks that the
// VIP's interface exists. It is made once per test process, on first use;
// FuzzRenderedFiles removes it when it ends.
func keepalivedNetns(t *testing.T) string {
	if os.Geteuid() != 0 {
		t.Skip("keepalived -t needs a network namespace: run as root (CI does)")
	}
	netnsOnce.Do(func() {
		netnsName = "kh-fuzz-" + strconv.Itoa(os.Getpid())
		if out, err := exec.Command("ip", "netns", "add", netnsName).CombinedOutput(); err != nil {
			netnsErr = fmt.Errorf("ip netns add: %v %s", err, out)
			return
		}
		if out, err := exec.Command("ip", "-n", netnsName, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1").CombinedOutput(); err != nil {
			netnsErr = fmt.Errorf("veth: %v %s", err, out)
		}
	})
	if netnsErr != nil {
		t.Fatal(netnsErr)
	}
	return netnsName
}

// removeNetns deletes the namespace keepalivedNetns made, if it made one.
func removeNetns() {
	if netnsName != "" && netnsErr == nil {
		exec.Command("ip", "netns", "del", netnsName).Run()
	}
}
