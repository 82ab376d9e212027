package forward

import (
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/sirupsen/logrus/hooks/test"
)

func TestParseUpstream(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"bare ipv4 gets port 53", "192.0.2.1", "192.0.2.1:53", false},
		{"ipv4 with port", "192.0.2.1:5353", "192.0.2.1:5353", false},
		{"bare ipv6 gets port 53", "2001:db8::1", "[2001:db8::1]:53", false},
		{"bracketed ipv6 without port", "[2001:db8::1]", "[2001:db8::1]:53", false},
		{"bracketed ipv6 with port", "[::1]:5300", "[::1]:5300", false},
		{"ipv4-mapped is unmapped", "::ffff:192.0.2.1", "192.0.2.1:53", false},
		{"surrounding space is ignored", " 192.0.2.1 ", "192.0.2.1:53", false},
		{"host name is refused", "dns.example:53", "", true},
		{"port 0 is refused", "192.0.2.1:0", "", true},
		{"port out of range is refused", "192.0.2.1:70000", "", true},
		{"empty is refused", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseUpstream(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseUpstream(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && got.String() != tt.want {
				t.Errorf("parseUpstream(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestResolveUpstreams(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hostConf := write("host.conf", `# generated
search example.internal
nameserver 192.0.2.53
; a comment
nameserver 127.0.0.11
options ndots:0
nameserver 2001:db8::53
nameserver    192.0.2.54   # trailing comment
nameserver not-an-address
nameserver
nameserver 192.0.2.53
`)
	selfConf := write("self.conf", "nameserver 127.0.0.1\nnameserver 10.9.8.7\nnameserver 192.0.2.60\n")
	loopConf := write("loop.conf", "nameserver 127.0.0.11\n")

	tests := []struct {
		name      string
		cfg       Config
		want      []string
		wantWarns int
		wantErr   bool
	}{
		{
			name:      "resolv.conf nameservers in order, skipping 127.0.0.11, garbage and duplicates",
			cfg:       Config{ResolvConf: hostConf},
			want:      []string{"192.0.2.53:53", "[2001:db8::53]:53", "192.0.2.54:53"},
			wantWarns: 1,
		},
		{
			name:      "resolv.conf entry equal to our own listen address is skipped",
			cfg:       Config{ResolvConf: selfConf, Self: []netip.AddrPort{netip.MustParseAddrPort("10.9.8.7:53")}},
			want:      []string{"127.0.0.1:53", "192.0.2.60:53"},
			wantWarns: 1,
		},
		{
			name:      "wildcard listener makes loopback on its port ourselves",
			cfg:       Config{ResolvConf: selfConf, Self: []netip.AddrPort{netip.MustParseAddrPort("0.0.0.0:53")}},
			want:      []string{"10.9.8.7:53", "192.0.2.60:53"},
			wantWarns: 1,
		},
		{
			name: "listener on another port is not ourselves",
			cfg:  Config{ResolvConf: selfConf, Self: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:5353")}},
			want: []string{"127.0.0.1:53", "10.9.8.7:53", "192.0.2.60:53"},
		},
		{
			name:      "only Docker's embedded DNS leaves no upstream",
			cfg:       Config{ResolvConf: loopConf},
			want:      nil,
			wantWarns: 1,
		},
		{
			name:      "configured upstreams win over resolv.conf and are filtered the same way",
			cfg:       Config{Upstreams: []string{"127.0.0.1:5300", "127.0.0.11", "192.0.2.9:5353"}, ResolvConf: hostConf, Self: []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:5300")}},
			want:      []string{"192.0.2.9:5353"},
			wantWarns: 2,
		},
		{
			name:    "unreadable configured resolv.conf is an error",
			cfg:     Config{ResolvConf: filepath.Join(dir, "missing.conf")},
			wantErr: true,
		},
		{
			name:    "bad configured upstream is an error",
			cfg:     Config{Upstreams: []string{"dns.google"}},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, hook := test.NewNullLogger()
			got, err := resolveUpstreams(tt.cfg, logrus.NewEntry(logger))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			var gotS []string
			for _, ap := range got {
				gotS = append(gotS, ap.String())
			}
			if !reflect.DeepEqual(gotS, tt.want) {
				t.Errorf("upstreams = %v, want %v", gotS, tt.want)
			}
			warns := 0
			for _, e := range hook.AllEntries() {
				if e.Level == logrus.WarnLevel {
					warns++
				}
			}
			if warns != tt.wantWarns {
				t.Errorf("%d warnings logged, want %d: %v", warns, tt.wantWarns, hook.AllEntries())
			}
		})
	}
}

func TestNewWithZeroUpstreamsIsDisabled(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(p, []byte("nameserver 127.0.0.11\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	logger, _ := test.NewNullLogger()
	f, err := New(Config{ResolvConf: p, Logger: logrus.NewEntry(logger)})
	if err != nil {
		t.Fatal(err)
	}
	if f.Enabled() {
		t.Errorf("Enabled() = true with no usable upstream")
	}
	if _, err := f.Exchange(t.Context(), query("example.org.", 1), false); err != ErrNoUpstreams {
		t.Errorf("Exchange error = %v, want ErrNoUpstreams", err)
	}
	if !strings.Contains(ErrNoUpstreams.Error(), "upstream") {
		t.Errorf("ErrNoUpstreams message %q does not mention upstreams", ErrNoUpstreams)
	}
}
