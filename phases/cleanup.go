package phases

import (
	"fmt"
	"strings"

	"github.com/kubeha/kubeha/ssh"
)

// leftover is one thing a clean-up must have removed: test is a shell
// condition that holds while the thing is still on the host, what names it
// for the operator.
type leftover struct {
	test string
	what string
}

// verifiedCleanUp is a clean-up script that removes what remove removes and
// then checks that nothing in left is still there. When something is, it
// names each such thing on stderr and exits 1, so `kubeha reset` fails
// naming the host, the phase and what is left, instead of reporting a clean
// host that is not. A leftover's test is shell; its what is text, quoted.
func verifiedCleanUp(remove string, left ...leftover) string {
	var b strings.Builder
	b.WriteString(remove)
	if !strings.HasSuffix(remove, "\n") {
		b.WriteString("\n")
	}
	b.WriteString("left=''\n")
	for _, l := range left {
		fmt.Fprintf(&b, "if %s; then left=\"$left\n  \"%s; fi\n", l.test, ssh.Quote(l.what))
	}
	b.WriteString(`if [ -n "$left" ]; then printf 'still present after the clean-up:%s\nrun kubeha reset again; what stays after that, remove by hand (README, Reset)\n' "$left" >&2; exit 1; fi` + "\n")
	return b.String()
}

// netfilterFuncs defines two shell functions for clean-up scripts.
//
// iptables_saves prints the iptables-save commands of the backends in use on
// the host: nft for IPv4 and IPv6 where installed; legacy where the kernel
// already has legacy tables (/proc/net/ip_tables_names lists some: asking
// otherwise would load its modules); and where neither name exists (older
// distributions ship one iptables), plain iptables-save.
//
// drop_chains PREFIX removes, in every table of every backend in use, each
// chain whose name starts with PREFIX and every rule that jumps to one, and
// leaves every other rule as it is. Each table is rewritten by one
// iptables-restore, so it changes atomically or not at all. This is what
// kube-proxy's own --cleanup does for its chains, without flushing the
// operator's rules as `iptables -F` would. An nft-backed table left with
// nothing in it is deleted, as it existed only for those chains.
const netfilterFuncs = `iptables_saves() {
  found=''
  for s in iptables-nft-save ip6tables-nft-save; do
    command -v "$s" >/dev/null 2>&1 && { echo "$s"; found=1; }
  done
  for v in '' 6; do
    grep -q . "/proc/net/ip${v}_tables_names" 2>/dev/null && command -v "ip${v}tables-legacy-save" >/dev/null 2>&1 &&
      { echo "ip${v}tables-legacy-save"; found=1; }
  done
  if [ -z "$found" ]; then
    for s in iptables-save ip6tables-save; do command -v "$s" >/dev/null 2>&1 && echo "$s"; done
  fi
  true
}
drop_chains() {
  for save in $(iptables_saves); do
    restore="${save%-save}-restore"
    # The tables that exist (listing one by name would create it).
    for t in $("$save" 2>/dev/null | sed -n 's/^[*]//p'); do
      dump=$("$save" -t "$t" 2>/dev/null) || continue
      printf '%s\n' "$dump" | grep -Eq -e "^:$1" -e " -[jg] $1" || continue
      printf '%s\n' "$dump" | grep -Ev -e "^:$1" -e "^-A $1" -e " -[jg] $1" | "$restore" -w -T "$t" &&
        echo "removed the $1* chains from the $t table ($save)"
      # An nft table that held nothing else (no rule, no other chain, no
      # policy but ACCEPT) was made for these chains: it goes too.
      case "$save" in
      *-nft-save)
        if [ -z "$("$save" -t "$t" 2>/dev/null | grep -Ev -e '^(#|\*|COMMIT$)' -e '^:[A-Z]+ ACCEPT ')" ]; then
          fam=ip; case "$save" in ip6*) fam=ip6 ;; esac
          nft delete table "$fam" "$t" 2>/dev/null && echo "removed the emptied $fam $t table"
        fi ;;
      esac
    done
  done
}
`

// chainsLeft is a leftover test: an iptables chain starting with prefix in
// any table of any backend in use. Scripts using it define netfilterFuncs.
func chainsLeft(prefix string) leftover {
	return leftover{
		test: fmt.Sprintf(`for s in $(iptables_saves); do "$s" 2>/dev/null; done | grep -q '^:%s'`, prefix),
		what: "iptables chains " + prefix + "*",
	}
}
