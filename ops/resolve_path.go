package ops

import (
	"net/netip"
	"strings"

	"github.com/swarmdns/swarmdns/registry"
)

// pathJSON is the way /v1/resolve's answer took through the registry: the
// name it found, the view the client got and the scheduler that ordered
// the records.
type pathJSON struct {
	// Source is "registry" for a name the registry has, "registry
	// (NXDOMAIN)" for one under the domain it has not, and "outside the
	// registry" for the rest (a query would be forwarded or refused).
	Source string `json:"source"`
	Owner  string `json:"owner,omitempty"`
	// ClientNetworks are the networks the client is on, best first.
	ClientNetworks []string `json:"client_networks,omitempty"`
	// View is the network whose view answered; "" the default view.
	View      string `json:"view,omitempty"`
	Scheduler string `json:"scheduler,omitempty"`
}

// resolvePath finds the way a query for name and qtype from client goes
// in snap, with the snapshot's own lookups.
func resolvePath(snap *registry.Snapshot, name string, qtype uint16, client netip.Addr) *pathJSON {
	if snap == nil {
		return &pathJSON{Source: "no registry snapshot yet"}
	}
	key := strings.TrimSuffix(strings.ToLower(name), ".")
	zone := strings.TrimSuffix(snap.Domain, ".")
	inZone := key == zone || strings.HasSuffix(key, "."+zone)
	var n registry.Name
	found := false
	owner := key + "."
	if key == zone {
		n, found = snap.Apex(), true
	} else {
		key = strings.TrimSuffix(key, "."+zone)
		owner = key + "." + snap.Domain
		if strings.HasSuffix(key, ".arpa") {
			owner = key + "."
		}
		n, found = snap.Lookup([]byte(key))
	}
	if !found {
		if inZone {
			return &pathJSON{Source: "registry (NXDOMAIN)"}
		}
		return &pathJSON{Source: "outside the registry"}
	}
	cat := networkNames(snap)
	p := &pathJSON{Source: "registry", Owner: owner}
	var nets []string
	if client.IsValid() {
		nets = snap.ClientNetworks(client)
		for _, id := range nets {
			p.ClientNetworks = append(p.ClientNetworks, cat[id])
		}
	}
	v := n.View(nets)
	if v.Network != "" {
		p.View = cat[v.Network]
	}
	if set := v.Set(qtype); set != nil {
		p.Scheduler = set.Policy()
	}
	return p
}

func networkNames(snap *registry.Snapshot) map[string]string {
	out := map[string]string{}
	for _, n := range snap.Data.Networks {
		out[n.ID] = n.Name
	}
	return out
}
