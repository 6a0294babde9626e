// A Confluent Schema Registry REST API on a port, for the integration tests: franz-go's srfake
// (an in-memory emulation of the API, not a real registry: it stores subjects, versions, ids and
// per-subject compatibility settings, but does not check compatibility) served on 127.0.0.1.
//
// Usage: srfake-server <port> [<user:password>]   (with credentials, every request needs Basic auth)
package main

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/twmb/franz-go/pkg/sr/srfake"
)

func main() {
	var opts []srfake.Option
	if len(os.Args) > 2 && os.Args[2] != "" {
		opts = append(opts, srfake.WithAuth("Basic "+base64.StdEncoding.EncodeToString([]byte(os.Args[2]))))
	}
	registry := srfake.NewRegistry(opts...)
	listener, err := net.Listen("tcp", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("listening on", listener.Addr())
	if err := http.Serve(listener, registry.Handler()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
