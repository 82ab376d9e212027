package forward_test

import (
	"github.com/swarmdns/swarmdns/server"
	"github.com/swarmdns/swarmdns/server/forward"
)

// The server's Forwarder contract is what this package implements.
var _ server.Forwarder = (*forward.Forwarder)(nil)
