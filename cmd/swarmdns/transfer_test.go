package main

import (
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestNameserverFlags(t *testing.T) {
	tests := []struct {
		name   string
		flags  []string
		listen string
		want   string // name=addr,addr;...
		err    string
	}{
		{"the default is ns.<domain> at the listen address", nil, "127.0.0.1:53", "ns.swarm.internal.=127.0.0.1", ""},
		{"a bare name is under the domain", []string{"ns1=10.0.0.1"}, ":53", "ns1.swarm.internal.=10.0.0.1", ""},
		{"a name twice gets both addresses", []string{"ns1.swarm.internal=10.0.0.1", "ns1.swarm.internal=fd00::1", "ns2.swarm.internal.=10.0.0.2"}, ":53", "ns1.swarm.internal.=10.0.0.1,fd00::1;ns2.swarm.internal.=10.0.0.2", ""},
		{"a name outside the zone", []string{"dns.example.org=192.0.2.1"}, ":53", "dns.example.org.=192.0.2.1", ""},
		{"no address is an error", []string{"ns1"}, ":53", "", "want NAME=IP"},
		{"a bad address is an error", []string{"ns1=10.0.0.300"}, ":53", "", "want NAME=IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := &transferOptions{nameservers: tc.flags}
			set, err := o.nameserverSet("swarm.internal.", tc.listen)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, ns := range set {
				var addrs []string
				for _, a := range ns.Addrs {
					addrs = append(addrs, a.String())
				}
				parts = append(parts, ns.Name+"="+strings.Join(addrs, ","))
			}
			if got := strings.Join(parts, ";"); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestTransferFlagsNeedTransferAllow(t *testing.T) {
	log := logrus.NewEntry(logrus.New())
	for _, o := range []transferOptions{
		{notify: []string{"10.0.0.53"}},
		{tsigKeys: []string{"k:hmac-sha256:/nonexistent"}},
		{reverse: []string{"10.0.0.0/8"}},
	} {
		if _, err := o.build(log); err == nil || !strings.Contains(err.Error(), "needs --transfer-allow") {
			t.Errorf("%+v: error %v, want one naming --transfer-allow", o, err)
		}
	}
	if x, err := (&transferOptions{}).build(log); x != nil || err != nil {
		t.Errorf("no transfer flags: %v %v, want transfers off", x, err)
	}
	for flag, o := range map[string]transferOptions{
		"--transfer-allow":   {allow: []string{"10.0.0.0/33"}},
		"--transfer-reverse": {allow: []string{"10.0.0.0/8"}, reverse: []string{"10.0.0.0/12"}},
		"--tsig-key":         {allow: []string{"10.0.0.0/8"}, tsigKeys: []string{"k:hmac-md5:/x"}},
		"--notify":           {allow: []string{"10.0.0.0/8"}, notify: []string{"nowhere"}},
	} {
		if _, err := o.build(log); err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("bad %s: error %v, want one naming the flag", flag, err)
		}
	}
}
