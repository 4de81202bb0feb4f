// Command kh-echo is the e2e test pod's server: it answers every HTTP
// request on :8080 with the pod's and the node's names, so a test can tell
// which node served it. Static, so its image is just this binary.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	pod, _ := os.Hostname()
	node := os.Getenv("NODE_NAME")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pod=%s node=%s\n", pod, node)
	})
	log.Fatal(http.ListenAndServe(":8080", nil))
}
