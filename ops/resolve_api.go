package ops

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// The JSON of /v1/resolve.
type resolveJSON struct {
	Name          string   `json:"name"`
	Type          string   `json:"type"`
	Client        string   `json:"client,omitempty"`
	Rcode         string   `json:"rcode"`
	Authoritative bool     `json:"authoritative"`
	Truncated     bool     `json:"truncated"`
	Answer        []rrJSON `json:"answer"`
	Authority     []rrJSON `json:"authority"`
	Additional    []rrJSON `json:"additional"`

	// Path is the way the answer took through the registry.
	Path *pathJSON `json:"path"`
}

type rrJSON struct {
	Name string `json:"name"`
	Type string `json:"type"`
	TTL  uint32 `json:"ttl"`
	Data string `json:"data"`
}

// resolve answers ?name=&type=&client= the way a query would be, in the
// order the next query would get, without advancing any rotation.
func (o *Ops) resolve(w http.ResponseWriter, r *http.Request) {
	if o.cfg.Handler == nil {
		writeError(w, http.StatusNotFound, "no DNS handler")
		return
	}
	q := r.URL.Query()
	name := q.Get("name")
	if name == "" {
		writeError(w, http.StatusBadRequest, "name is required: /v1/resolve?name=tasks.web&type=A")
		return
	}
	if _, ok := dns.IsDomainName(name); !ok {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("name %q is not a domain name", name))
		return
	}
	qtype, err := parseType(q.Get("type"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var client netip.AddrPort
	if c := q.Get("client"); c != "" {
		if client, err = parseClient(c); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	resp, err := o.cfg.Handler.Resolve(name, qtype, client)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	out := &resolveJSON{
		Name: dns.Fqdn(name), Type: dns.TypeToString[qtype],
		Rcode: dns.RcodeToString[resp.Rcode], Authoritative: resp.Authoritative, Truncated: resp.Truncated,
		Answer: rrsJSON(resp.Answer), Authority: rrsJSON(resp.Ns), Additional: rrsJSON(resp.Extra),
		Path: resolvePath(o.cfg.Store.Snapshot(), name, qtype, client.Addr()),
	}
	if out.Type == "" {
		out.Type = "TYPE" + strconv.Itoa(int(qtype))
	}
	if client.IsValid() {
		out.Client = client.Addr().String()
	}
	writeJSON(w, http.StatusOK, out)
}

// parseType reads "A", "srv" or "TYPE65"; empty is A.
func parseType(s string) (uint16, error) {
	if s == "" {
		return dns.TypeA, nil
	}
	up := strings.ToUpper(s)
	if t, ok := dns.StringToType[up]; ok {
		return t, nil
	}
	if n, err := strconv.ParseUint(strings.TrimPrefix(up, "TYPE"), 10, 16); err == nil {
		return uint16(n), nil
	}
	return 0, fmt.Errorf("type %q is not a DNS record type", s)
}

// parseClient reads an IP or IP:port; the port does not matter.
func parseClient(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("client %q is not an IP address", s)
	}
	return netip.AddrPortFrom(a, 0), nil
}

func rrsJSON(rrs []dns.RR) []rrJSON {
	out := []rrJSON{}
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		h := rr.Header()
		out = append(out, rrJSON{Name: h.Name, Type: dns.TypeToString[h.Rrtype], TTL: h.Ttl, Data: rdata(rr)})
	}
	return out
}
