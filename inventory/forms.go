package inventory

import (
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A form is the allowed shape of one kind of inventory string. Every string
// field of the inventory has exactly one (docs/inventory.md lists them), and
// Validate refuses a value outside it with a Problem whose Path is the
// field's YAML path, whose Message says what is wrong and whose Fix is the
// form in words.
//
// The forms are what keeps inventory values harmless where they end up:
// haproxy.cfg, keepalived.conf, nginx.conf, /etc/hosts, the routes file,
// kubeadm's configuration and kubelet's flags file, and shell scripts run as
// root. Everything that reaches a host is built from a closed character set
// without whitespace, quotes, control characters or shell and config
// metacharacters; the only wider forms are local paths, which kubeha opens on
// this machine and never sends to a host.
type form struct {
	// fix is the form in words: what to write instead.
	fix string
	// check returns "" when s has the form, else what is wrong with s (the
	// value quoted with %q, so control characters stay visible and inert).
	check func(s string) string
}

var (
	versionRE = regexp.MustCompile(`^v1\.(\d+)\.(\d+)$`)
	// dns1123Label is what Kubernetes accepts as a node name segment.
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// interfaceRE is a Linux interface name (at most 15 bytes, no '/', ':'
	// or whitespace), narrowed to characters that mean nothing to a shell
	// or to ip(8): no leading '-', which ip would read as an option.
	interfaceRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$`)
	// userRE is a login name as useradd accepts it by default, plus upper
	// case and '.'; no leading '-'.
	userRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}$`)
	// argNameRE is a Kubernetes component flag name without its dashes.
	argNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,127}$`)
	// argValueRE is a flag value: kubeadm writes kubelet flags into
	// /var/lib/kubelet/kubeadm-flags.env, which systemd splits on
	// whitespace into the kubelet's argv, so a value may hold no
	// whitespace, quotes, '$', '\\' or shell metacharacters.
	argValueRE = regexp.MustCompile(`^[A-Za-z0-9._,:=/@+%~-]*$`)
	// portRangeRE is the shape of a firewalld port, PORT/PROTO or
	// FROM-TO/PROTO; parsePortRange checks the numbers and the protocol
	// on their own, so that a mistake in one is named.
	portRangeRE = regexp.MustCompile(`^([0-9]{1,10})(?:-([0-9]{1,10}))?/([A-Za-z]{1,16})$`)
	// preflightRE is a kubeadm preflight check name (Swap, NumCPU,
	// DirAvailable--etc-kubernetes-manifests) or "all".
	preflightRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)
	// Container image references, the distribution/reference grammar.
	imageRE = func() *regexp.Regexp {
		const (
			alnum     = `[a-z0-9]+`
			separator = `(?:[._]|__|-+)`
			component = alnum + `(?:` + separator + alnum + `)*`
			domainPC  = `(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])`
			domain    = domainPC + `(?:\.` + domainPC + `)*(?::[0-9]+)?`
			tag       = `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
			digest    = `[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}`
		)
		return regexp.MustCompile(`^(?:` + domain + `/)?` + component + `(?:/` + component + `)*(?::` + tag + `)?(?:@` + digest + `)?$`)
	}()
)

// Length limits of the forms that have no natural one.
const (
	maxLocalPath = 4096
	maxArgValue  = 4096
	maxImageRef  = 512
	maxURL       = 2048
)

var (
	formClusterName = form{
		fix: "use lower-case letters, digits and '-', at most 63 characters",
		check: func(s string) string {
			if !isLabel(s) {
				return fmt.Sprintf("%q is not a valid name", s)
			}
			return ""
		},
	}
	formHostName = form{
		fix: "use lower-case letters, digits and '-', at most 63 characters (it becomes the Kubernetes node name)",
		check: func(s string) string {
			if !isLabel(s) {
				return fmt.Sprintf("%q is not a valid host name", s)
			}
			return ""
		},
	}
	formVersion = form{
		fix: "write it as v1.MINOR.PATCH, e.g. " + DefaultKubernetesVersion,
		check: func(s string) string {
			if !versionRE.MatchString(s) {
				return fmt.Sprintf("%q is not a Kubernetes version", s)
			}
			return ""
		},
	}
	formUser = form{
		fix: "use a login name: letters, digits, '_', '.' and '-', not starting with '-' or '.', at most 32 characters",
		check: func(s string) string {
			if !userRE.MatchString(s) {
				return fmt.Sprintf("%q is not a user name", s)
			}
			return ""
		},
	}
	formLocalPath = form{
		fix: "write a path on this machine (a leading ~/ is your home) without control characters, at most 4096 bytes; kubeha reads it here and never sends it to a host",
		check: func(s string) string {
			if !isLocalPath(s) {
				return fmt.Sprintf("%q is not a usable local path", s)
			}
			return ""
		},
	}
	formIP = form{
		fix: "write an IPv4 address such as 192.168.8.10 or an IPv6 address such as fd00::10, without a zone (%...)",
		check: func(s string) string {
			_, msg := parseIP(s)
			return msg
		},
	}
	formSLBAddress = form{
		fix: "give the SLB's IP address, such as 192.168.8.210: kubeha maps the endpoint name to it in /etc/hosts, which takes no names",
		check: func(s string) string {
			_, msg := parseIP(s)
			return msg
		},
	}
	formSSHAddress = form{
		fix: "write an IP address without a zone (%...), or a DNS name of lower-case letters, digits, '-' and '.'",
		check: func(s string) string {
			if isDNSName(s) {
				return ""
			}
			if _, err := netip.ParseAddr(s); err == nil {
				_, msg := parseIP(s) // an IP, but zoned, mapped or not canonical
				return msg
			}
			return fmt.Sprintf("%q is neither an IP address nor a DNS name", s)
		},
	}
	formCertSAN = form{
		fix: "write an IP address without a zone (%...), or a DNS name of lower-case letters, digits, '-' and '.'",
		check: func(s string) string {
			return formSSHAddress.check(s)
		},
	}
	formEndpointName = form{
		fix: "use a DNS-style name of lower-case letters, digits, '-' and '.', such as k8s-apiserver-vip; kubeha maps it to the load balancer in /etc/hosts",
		check: func(s string) string {
			if !isDNSName(s) {
				return fmt.Sprintf("%q is not a DNS name", s)
			}
			return ""
		},
	}
	formDNSDomain = form{
		fix: "use a domain of lower-case letters, digits, '-' and '.', such as cluster.local",
		check: func(s string) string {
			if !isDNSName(s) {
				return fmt.Sprintf("%q is not a DNS domain", s)
			}
			return ""
		},
	}
	formInterface = form{
		fix: "name a network interface such as eth0: letters, digits, '_', '.' and '-', starting with a letter or digit, at most 15 characters",
		check: func(s string) string {
			if !interfaceRE.MatchString(s) {
				return fmt.Sprintf("%q is not an interface name", s)
			}
			return ""
		},
	}
	formCIDR = form{
		fix: "write a CIDR such as 10.244.0.0/16 (IPv6: fd00:10:244::/56)",
		check: func(s string) string {
			_, msg := parseCIDR(s)
			return msg
		},
	}
	formImage = form{
		fix: "write an image reference such as docker.io/library/haproxy:2.8: [registry[:port]/]lower-case/path[:tag][@sha256:digest]",
		check: func(s string) string {
			if !IsImageReference(s) {
				return fmt.Sprintf("%q is not an image reference", s)
			}
			return ""
		},
	}
	formEtcdURL = form{
		fix: "use an https:// client URL of an IP address or DNS name and a port, e.g. https://10.0.0.21:2379, with no path",
		check: func(s string) string {
			_, msg := parseEtcdURL(s)
			return msg
		},
	}
	formArgName = form{
		fix: "write the flag name without dashes, e.g. audit-log-path: lower-case letters, digits and '-'",
		check: func(s string) string {
			if !argNameRE.MatchString(s) {
				return fmt.Sprintf("%q is not a flag name", s)
			}
			return ""
		},
	}
	formArgValue = form{
		fix: "use letters, digits and . _ , : = / @ + % ~ - only (no spaces, quotes or shell characters); put other values in a kubeadm patch (spec.kubeadm.patchesDir) or in kubeletConfiguration",
		check: func(s string) string {
			if len(s) > maxArgValue || !argValueRE.MatchString(s) {
				return fmt.Sprintf("%q is not a usable flag value", s)
			}
			return ""
		},
	}
	formPort = form{
		fix: "write PORT/PROTO or FROM-TO/PROTO as firewall-cmd --add-port takes it, e.g. 8472/udp or 30000-32767/tcp: " +
			"ports 1 to 65535 without leading zeros, FROM below TO (a single port is written alone), PROTO tcp, udp or sctp in lower case",
		check: func(s string) string {
			_, msg := parsePortRange(s)
			return msg
		},
	}
	formPreflight = form{
		fix: "name a kubeadm preflight check, such as Swap or DirAvailable--etc-kubernetes-manifests, or all",
		check: func(s string) string {
			if !preflightRE.MatchString(s) {
				return fmt.Sprintf("%q is not a preflight check name", s)
			}
			return ""
		},
	}
)

// IsInterfaceName reports whether s has the form kubeha allows for a
// network interface name, the same as spec.loadBalancer.interface: callers
// check names a host reports before writing them into a config.
func IsInterfaceName(s string) bool { return interfaceRE.MatchString(s) }

// IsImageReference reports whether s is a container image reference in the
// distribution/reference grammar: [registry[:port]/]path[:tag][@digest],
// the path lower-case. Such a reference holds no whitespace, quotes or shell
// metacharacters. The bundle package checks image names with it too.
func IsImageReference(s string) bool {
	return len(s) <= maxImageRef && imageRE.MatchString(s)
}

func isLabel(s string) bool { return len(s) <= 63 && dns1123Label.MatchString(s) }

// isDNSName reports whether s is a DNS name of lower-case RFC 1123 labels.
func isDNSName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if !isLabel(l) {
			return false
		}
	}
	// An all-numeric last label is a mistyped IP address (300.1.1.1), not a
	// name: no top-level domain is numeric (RFC 3696).
	_, err := strconv.Atoi(labels[len(labels)-1])
	return err != nil
}

// isLocalPath reports whether s is printable UTF-8 of at most maxLocalPath
// bytes: no control or format characters (which could rewrite a terminal
// when kubeha names the file in a message).
func isLocalPath(s string) bool {
	if s == "" || len(s) > maxLocalPath || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// parseIP parses an address in the only form kubeha accepts: an unzoned
// IPv4 or IPv6 address, IPv4 not mapped into IPv6, written canonically
// (netip.Addr.String; Default canonicalises). It returns what is wrong
// otherwise.
func parseIP(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return netip.Addr{}, fmt.Sprintf("%q is not an IP address", s)
	case a.Zone() != "":
		return netip.Addr{}, fmt.Sprintf("%q has an IPv6 zone (%%...); kubeha needs an address without one", s)
	case a.Is4In6():
		return netip.Addr{}, fmt.Sprintf("%q is an IPv4-mapped IPv6 address; write the IPv4 address %s", s, a.Unmap())
	case a.String() != s:
		return netip.Addr{}, fmt.Sprintf("%q is not written canonically; write %s", s, a)
	}
	return a, ""
}

// parseCIDR is parseIP for a network prefix; host bits must be zero.
func parseCIDR(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	switch {
	case err != nil:
		return netip.Prefix{}, fmt.Sprintf("%q is not a CIDR", s)
	case p.Addr().Is4In6():
		return netip.Prefix{}, fmt.Sprintf("%q is an IPv4-mapped IPv6 prefix; write the IPv4 CIDR", s)
	case p.Masked() != p:
		return netip.Prefix{}, fmt.Sprintf("%q has host bits set; write the network address %s", s, p.Masked())
	case p.String() != s:
		return netip.Prefix{}, fmt.Sprintf("%q is not written canonically; write %s", s, p)
	}
	return p, ""
}

// PortRange is a port or a range of ports of one protocol, as firewalld
// opens them: From equals To for a single port.
type PortRange struct {
	From, To int
	Proto    string
}

// ParsePortRange reads s in the form of spec.cni.ports (PORT/PROTO or
// FROM-TO/PROTO, formPort); ok is false for anything else.
func ParsePortRange(s string) (r PortRange, ok bool) {
	r, msg := parsePortRange(s)
	return r, msg == ""
}

// Overlaps reports whether r and q share a port of the same protocol.
func (r PortRange) Overlaps(q PortRange) bool {
	return r.Proto == q.Proto && r.From <= q.To && q.From <= r.To
}

// Contains reports whether every port of q is one of r's.
func (r PortRange) Contains(q PortRange) bool {
	return r.Proto == q.Proto && r.From <= q.From && q.To <= r.To
}

// parsePortRange reads a port in formPort and returns what is wrong with
// s otherwise. The form is the one spelling firewall-cmd --list-all
// writes a port in, so a port kubeha opened is found open by its string.
func parsePortRange(s string) (PortRange, string) {
	m := portRangeRE.FindStringSubmatch(s)
	if m == nil {
		return PortRange{}, fmt.Sprintf("%q is not PORT/PROTO or FROM-TO/PROTO", s)
	}
	r := PortRange{Proto: m[3]}
	known := func(p string) bool { return p == "tcp" || p == "udp" || p == "sctp" }
	switch p := m[3]; {
	case known(p):
	case known(strings.ToLower(p)):
		return PortRange{}, fmt.Sprintf("%q has its protocol in upper case", s)
	default:
		return PortRange{}, fmt.Sprintf("%q has protocol %q, not tcp, udp or sctp", s, p)
	}
	for i, n := range []string{m[1], m[2]} {
		if n == "" {
			continue
		}
		if len(n) > 1 && n[0] == '0' {
			return PortRange{}, fmt.Sprintf("%q: %s has a leading zero", s, n)
		}
		v, _ := strconv.Atoi(n) // at most 10 digits
		if v < 1 || v > 65535 {
			return PortRange{}, fmt.Sprintf("%q: port %s is out of range", s, n)
		}
		if i == 0 {
			r.From, r.To = v, v
		} else {
			r.To = v
		}
	}
	switch {
	case r.To == r.From && m[2] != "":
		return PortRange{}, fmt.Sprintf("%q is a range of one port; write %d/%s", s, r.From, r.Proto)
	case r.To < r.From:
		return PortRange{}, fmt.Sprintf("%q runs backwards; write %d-%d/%s", s, r.To, r.From, r.Proto)
	}
	return r, ""
}

// parseEtcdURL checks an etcd client URL: https://HOST:PORT or
// https://HOST:PORT/, HOST an IP (IPv6 in brackets) or a DNS name. It returns
// the URL with a canonical IP.
func parseEtcdURL(s string) (string, string) {
	bad := fmt.Sprintf("%q is not an https URL of a host and port", s)
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		return "", fmt.Sprintf("%q is not an https URL", s)
	}
	rest = strings.TrimSuffix(rest, "/")
	if len(s) > maxURL || strings.ContainsAny(rest, "/?#@%") {
		return "", bad
	}
	host, port, ok := splitHostPort(rest)
	if !ok {
		return "", bad
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return "", bad
	}
	if isDNSName(host) {
		return "https://" + host + ":" + port, ""
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" || a.Is4In6() || (a.Is6() && !strings.HasPrefix(rest, "[")) {
		return "", bad
	}
	if a.Is6() {
		return "https://[" + a.String() + "]:" + port, ""
	}
	return "https://" + a.String() + ":" + port, ""
}

// splitHostPort splits HOST:PORT and [IPV6]:PORT; the port is required.
func splitHostPort(s string) (host, port string, ok bool) {
	if strings.HasPrefix(s, "[") {
		end := strings.Index(s, "]")
		if end < 0 || !strings.HasPrefix(s[end+1:], ":") {
			return "", "", false
		}
		return s[1:end], s[end+2:], true
	}
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[:i], ":") {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// canonicalIP returns s as netip.Addr.String writes it when s is an IP
// address kubeha accepts apart from its spelling (fd00::0010 → fd00::10),
// else s unchanged for Validate to refuse.
func canonicalIP(s string) string {
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || a.Is4In6() {
		return s
	}
	return a.String()
}

// canonicalCIDR is canonicalIP for a prefix.
func canonicalCIDR(s string) string {
	p, err := netip.ParsePrefix(s)
	if err != nil || p.Addr().Is4In6() || p.Masked() != p {
		return s
	}
	return p.String()
}

// canonicalEtcdURL is canonicalIP for an etcd client URL.
func canonicalEtcdURL(s string) string {
	if u, msg := parseEtcdURL(s); msg == "" {
		return u
	}
	return s
}
