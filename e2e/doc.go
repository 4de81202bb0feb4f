// Package e2e holds what proves kubeha beyond its unit tests (DESIGN.md,
// "How kubeha is proved"), one part per subpackage. sshd starts real
// OpenSSH servers for the ssh package's tests. nshosts makes Tier-1 hosts
// (network and mount namespaces, an sshd each); machines makes the systemd
// machines with containerd and the Kubernetes that kube/build.sh builds
// offline; harnesslock gives them to one user at a time. cluster and wizard
// run the real kubeha binary against them and build only with the e2e tag
// (`make e2e`); bench holds the benchmark programs, and cmd the harness's
// own commands (kh-machines, kh-runc, kh-echo).
package e2e
