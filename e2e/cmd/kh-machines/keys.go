package main

import (
	xssh "golang.org/x/crypto/ssh"

	"github.com/kubeha/kubeha/e2e/sshd"
)

func sshAuthorized(k *sshd.ClientKey) []byte { return xssh.MarshalAuthorizedKey(k.Public) }
