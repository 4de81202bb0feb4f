package inventory

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestIntFields pins how every integer field of the inventory is read: left
// out, it gets its default; written, it is used if in range and refused
// otherwise, 0 included (0 must not turn silently into the default).
func TestIntFields(t *testing.T) {
	// withHost is minimal with a first host carrying extra fields.
	withHost := func(extra string) string {
		return strings.Replace(minimal, "role: master}", "role: master"+extra+"}", 1)
	}
	const zero = "0 is out of range; leave the field out for the default"
	const portFix = "use a port from 1 to 65535"
	const vridFix = "use 1 to 255, unique among VRRP routers on the subnet"
	tests := []struct {
		name string
		yaml string
		// get reads the field from the parsed inventory; want is its value.
		get  func(c *Cluster) int
		want int
		// errs, when set, are the whole problems Parse must return instead.
		errs Problems
	}{
		{"router id absent", minimal, vrid, DefaultVirtualRouterID, nil},
		{"router id kept", strings.Replace(minimal, "{vip: 192.168.8.10}", "{vip: 192.168.8.10, virtualRouterID: 77}", 1), vrid, 77, nil},
		{"router id 255 kept", strings.Replace(minimal, "{vip: 192.168.8.10}", "{vip: 192.168.8.10, virtualRouterID: 255}", 1), vrid, 255, nil},
		{"router id 0", strings.Replace(minimal, "{vip: 192.168.8.10}", "{vip: 192.168.8.10, virtualRouterID: 0}", 1), nil, 0,
			Problems{{Path: "spec.loadBalancer.virtualRouterID", Message: zero + " (line 7)", Fix: vridFix}}},
		{"router id 0 in another mode", strings.Replace(minimal, "{vip: 192.168.8.10}", "{mode: external, address: 192.168.8.20, virtualRouterID: 0}", 1), nil, 0,
			Problems{{Path: "spec.loadBalancer.virtualRouterID", Message: zero + " (line 7)", Fix: vridFix}}},
		{"router id 256", strings.Replace(minimal, "{vip: 192.168.8.10}", "{vip: 192.168.8.10, virtualRouterID: 256}", 1), nil, 0,
			Problems{{Path: "spec.loadBalancer.virtualRouterID", Message: "256 is out of range", Fix: vridFix}}},
		{"router id negative", strings.Replace(minimal, "{vip: 192.168.8.10}", "{vip: 192.168.8.10, virtualRouterID: -1}", 1), nil, 0,
			Problems{{Path: "spec.loadBalancer.virtualRouterID", Message: "-1 is out of range", Fix: vridFix}}},

		{"endpoint port absent", minimal, endpointPort, DefaultHAProxyOnMastersPort, nil},
		{"endpoint port kept", minimal + "  controlPlaneEndpoint: {port: 8443}\n", endpointPort, 8443, nil},
		{"endpoint port 0", minimal + "  controlPlaneEndpoint: {port: 0}\n", nil, 0,
			Problems{{Path: "spec.controlPlaneEndpoint.port", Message: zero + " (line 8)", Fix: portFix}}},
		{"endpoint port 0x0", minimal + "  controlPlaneEndpoint: {port: 0x0}\n", nil, 0,
			Problems{{Path: "spec.controlPlaneEndpoint.port", Message: zero + " (line 8)", Fix: portFix}}},
		{"endpoint port 65536", minimal + "  controlPlaneEndpoint: {port: 65536}\n", nil, 0,
			Problems{{Path: "spec.controlPlaneEndpoint.port", Message: "65536 is out of range", Fix: portFix}}},

		{"ssh port absent", minimal, sshPort, 0, nil}, // ~/.ssh/config decides at connect time
		{"ssh port kept", minimal + "  ssh: {port: 2222}\n", sshPort, 2222, nil},
		{"ssh port 0", minimal + "  ssh: {port: 0}\n", nil, 0,
			Problems{{Path: "spec.ssh.port", Message: zero + " (line 8)", Fix: portFix}}},
		{"ssh port 65536", minimal + "  ssh: {port: 65536}\n", nil, 0,
			Problems{{Path: "spec.ssh.port", Message: "65536 is out of range", Fix: portFix}}},

		{"bastion port absent", minimal + "  ssh: {bastion: {address: 192.168.8.2}}\n", bastionPort, 22, nil},
		{"bastion port kept", minimal + "  ssh: {bastion: {address: 192.168.8.2, port: 2022}}\n", bastionPort, 2022, nil},
		{"bastion port 0", minimal + "  ssh: {bastion: {address: 192.168.8.2, port: 0}}\n", nil, 0,
			Problems{{Path: "spec.ssh.bastion.port", Message: zero + " (line 8)", Fix: portFix}}},
		{"bastion port 65536", minimal + "  ssh: {bastion: {address: 192.168.8.2, port: 65536}}\n", nil, 0,
			Problems{{Path: "spec.ssh.bastion.port", Message: "65536 is out of range", Fix: portFix}}},

		{"host ssh port absent", withHost(", ssh: {user: ops}"), hostSSHPort, 0, nil},
		{"host ssh port kept", withHost(", ssh: {port: 2200}"), hostSSHPort, 2200, nil},
		{"host ssh port 0", withHost(", ssh: {port: 0}"), nil, 0,
			Problems{{Path: "spec.hosts[0].ssh.port", Message: zero + " (line 6)", Fix: portFix}}},
		{"host ssh port 65536", withHost(", ssh: {port: 65536}"), nil, 0,
			Problems{{Path: "spec.hosts[0].ssh.port", Message: "65536 is out of range", Fix: portFix}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _, err := Parse([]byte(tt.yaml))
			if tt.errs != nil {
				var ps Problems
				if !errors.As(err, &ps) {
					t.Fatalf("want problems %v, got %v", tt.errs, err)
				}
				if !slices.Equal(ps.Errors(), tt.errs) {
					t.Fatalf("problems:\n%v\nwant:\n%v", ps.Errors(), tt.errs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func vrid(c *Cluster) int         { return c.Spec.LoadBalancer.VirtualRouterID }
func endpointPort(c *Cluster) int { return c.Spec.ControlPlaneEndpoint.Port }
func sshPort(c *Cluster) int      { return c.Spec.SSH.Port }
func bastionPort(c *Cluster) int  { return c.Spec.SSH.Bastion.Port }
func hostSSHPort(c *Cluster) int  { return c.Spec.Hosts[0].SSH.Port }

// TestEveryIntFieldHasARange walks the Cluster type: each int field's YAML
// key must have a range in intRanges that excludes 0, or the decoder could
// not refuse a written 0 with the field's range, and Validate would check
// it against nothing.
func TestEveryIntFieldHasARange(t *testing.T) {
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		switch typ.Kind() {
		case reflect.Pointer, reflect.Slice:
			walk(typ.Elem(), path)
		case reflect.Struct:
			for i := 0; i < typ.NumField(); i++ {
				tag := strings.Split(typ.Field(i).Tag.Get("yaml"), ",")[0]
				walk(typ.Field(i).Type, path+"."+tag)
			}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			r, ok := intRanges[lastKey(path)]
			if !ok || r.min < 1 || r.max < r.min || r.fix == "" {
				t.Errorf("%s: no range in intRanges that excludes 0 (have %+v)", path, r)
			}
		}
	}
	walk(reflect.TypeOf(Cluster{}), "")
}

// TestParseInt pins how a number typed in a form is read: used when it is a
// whole number in the field's range, refused with the field's fix otherwise,
// 0 and empty included (a form has no "left out" for Default to fill).
func TestParseInt(t *testing.T) {
	const portFix = "use a port from 1 to 65535"
	const vridFix = "use 1 to 255, unique among VRRP routers on the subnet"
	const port, vrid = "spec.controlPlaneEndpoint.port", "spec.loadBalancer.virtualRouterID"
	tests := []struct {
		path, s string
		want    int
		problem *Problem // nil when s is used
	}{
		{port, "8443", 8443, nil},
		{port, "1", 1, nil},
		{port, "65535", 65535, nil},
		{port, "", 0, &Problem{Path: port, Message: "empty", Fix: portFix}},
		{port, "0", 0, &Problem{Path: port, Message: "0 is out of range", Fix: portFix}},
		{port, "-1", 0, &Problem{Path: port, Message: "-1 is out of range", Fix: portFix}},
		{port, "65536", 0, &Problem{Path: port, Message: "65536 is out of range", Fix: portFix}},
		{port, "abc", 0, &Problem{Path: port, Message: `"abc" is not a whole number`, Fix: portFix}},
		{port, "0x10", 0, &Problem{Path: port, Message: `"0x10" is not a whole number`, Fix: portFix}},
		{port, "99999999999999999999", 0, &Problem{Path: port, Message: `"99999999999999999999" is out of range`, Fix: portFix}},
		{vrid, "77", 77, nil},
		{vrid, "255", 255, nil},
		{vrid, "256", 0, &Problem{Path: vrid, Message: "256 is out of range", Fix: vridFix}},
		{vrid, "0", 0, &Problem{Path: vrid, Message: "0 is out of range", Fix: vridFix}},
		{"spec.hosts[2].ssh.port", "22", 22, nil},
	}
	for _, tt := range tests {
		t.Run(tt.path+"="+tt.s, func(t *testing.T) {
			n, p := ParseInt(tt.path, tt.s)
			if n != tt.want || !reflect.DeepEqual(p, tt.problem) {
				t.Errorf("ParseInt(%q, %q) = %d, %+v; want %d, %+v", tt.path, tt.s, n, p, tt.want, tt.problem)
			}
		})
	}
}
