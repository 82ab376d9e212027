// Package peerpb is the generated code of the follow protocol
// (peer.proto): messages and the Registry gRPC service. Regenerate it with
// `make proto`; never edit the .pb.go files by hand.
package peerpb
