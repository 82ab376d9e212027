// Package nodelocal binds the node-local DNS address, one link-local
// address the same on every node (169.254.53.53 in deploy/stack.yml), to a
// device of the node, usually lo, and removes it again when swarmdns stops.
// A container on an overlay or bridge network reaches it through its
// default route, which ends in the node. Binding needs CAP_NET_ADMIN in the
// node's network namespace (Linux only).
package nodelocal
